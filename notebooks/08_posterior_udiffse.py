# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Posterior sampling and UDiffSE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/08_posterior_udiffse.ipynb)
#
# **Goal:** combine a diffusion prior over clean speech with the NMF noise model to sample
# clean speech *given* a noisy recording, first where the answer is known (the Wiener
# filter), then on real speech with UDiffSE's EM loop.
#
# ## What you will learn
#
# - the likelihood of a mixture, and why diffusion samplers use a *pseudo*-likelihood;
# - how to check a posterior sampler against the Wiener filter, and by how much the two
#   likelihood schedules (`posterior-score`, `reference`) miss it;
# - how UDiffSE alternates full posterior passes (E-step) with NMF updates (M-step);
# - what a small teaching prior can and cannot do on a real noisy example.

# %% [markdown]
# ## Setup
#
# On Colab this installs the course package and turns on Colab's widget manager (Colab's own torch
# is kept as it is); locally, with the package installed (`pip install -e ".[dev]"`), it does
# nothing. Uncomment the `%env` line for a quick pass (the *fast* size, see chapter 00).

# %%
# # %env UDIFFSE_SIZE=fast
import os
import sys

if "google.colab" in sys.modules:
    # the repository is named once, in pyproject.toml ([project.urls]); UDIFFSE_REPO overrides it
    REPO = os.environ.get("UDIFFSE_REPO", "https://github.com/udiffse-lite/udiffse_lite")
    # %pip install -q "udiffse_lite @ git+$REPO"
    from google.colab import output

    output.enable_custom_widget_manager()

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import udiffse_lite as ul
from udiffse_lite import metrics, spectral, viz
from udiffse_lite.examples import noisy_example
from udiffse_lite.samplers import SamplerConfig, posterior_sample, pseudo_likelihood_grad, udiffse
from udiffse_lite.sde import complex_randn

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)
device = "cuda" if torch.cuda.is_available() else "cpu"

# %% [markdown]
# ## 1. The likelihood and the pseudo-likelihood
#
# A noisy recording is speech plus noise in every time–frequency bin, $X = S + N$, with the
# noise model of chapter 06, $N \sim \mathcal{CN}(0, V)$. (Strictly, waveforms add and STFTs add;
# the *compressed* spectrograms the prior lives in, $\beta |c|^{0.5} e^{i\angle c}$, do not. The
# papers, and this library, treat the compressed mixture as the sum of compressed speech and a
# compressed-domain noise: an approximation that is good where one source dominates a bin and
# worst where both are equally loud.) So the likelihood of the clean speech is
#
# $$p(X \mid S) = \mathcal{CN}(X;\, S,\, V).$$
#
# A diffusion sampler, however, never holds `S`: at diffusion time `t` it holds the noisy
# state `S_t = mu_t S + sigma_t Z`, and Bayes' rule needs the score of the posterior over *that*,
#
# $$\nabla \log p(S_t \mid X) = \underbrace{\nabla \log p(S_t)}_{\text{the prior's score}} + \nabla \log p(X \mid S_t).$$
#
# With a learned prior, $p(X \mid S_t)$ has no closed form. The UDiffSE papers approximate it by
# pretending that $S_t / \mu_t$ *is* the clean speech, blurred by its own diffusion noise of
# variance $\sigma_t^2/\mu_t^2$:
#
# $$p(X \mid S_t) \approx \mathcal{CN}\!\Big(X;\ \frac{S_t}{\mu_t},\ V + \frac{\sigma_t^2}{\mu_t^2}\Big),
# \qquad \nabla_{S_t} \log(\cdot) = \frac{X - S_t/\mu_t}{\mu_t\,\big((\sigma_t/\mu_t)^2 + V\big)} .$$
#
# Early in the reverse process ($t \to 1$) the extra variance is large and the likelihood
# pulls gently; near $t = 0$ it becomes the plain likelihood. Let automatic differentiation
# confirm the gradient (complex convention: the score of $\mathcal{CN}(0, \sigma_s^2)$ is $-s/\sigma_s^2$,
# i.e. $\partial/\partial \bar S$, which is half of what `torch.autograd` returns):

# %%
gen = torch.Generator().manual_seed(0)
S_t = complex_randn((2, 256, 16), gen)                      # (B, F, T) two chains
X_toy = complex_randn((256, 16), gen)                        # (F, T) a mixture
V_toy = torch.rand(256, 16, generator=gen) + 0.1             # (F, T) a noise variance
t = 0.5
mu, sigma = ul.OUVESDE().mean_factor(t), ul.OUVESDE().std(t)

S_req = S_t.clone().requires_grad_(True)
log_lik = -((X_toy - S_req / mu).abs() ** 2 / (V_toy + sigma ** 2 / mu ** 2)).sum()
(auto_grad,) = torch.autograd.grad(log_lik, S_req)

# %%
# NBVAL_CHECK_OUTPUT
torch.testing.assert_close(auto_grad / 2, pseudo_likelihood_grad(S_t, X_toy, V_toy, mu, sigma))
print("autograd / 2 == ul.samplers.pseudo_likelihood_grad: ok")

# %% [markdown]
# ## 2. A case with a known answer: a Gaussian prior
#
# Before trusting a sampler on speech, run it where the answer is known. Let the "speech" be
# Gaussian, `S ~ CN(0, v_s)` with a log-normal variance per frequency bin, and the noise white
# at 0 dB. The posterior is then Gaussian too: its mean is the **Wiener filter**
# `v_s / (v_s + V) X` and its variance is `MMSE = v_s V / (v_s + V)`. The estimate of the
# samplers is the mean of `b` posterior samples, whose error is at best
#
# $$\mathrm{MSE} = \mathrm{MMSE}\,(1 + 1/b).$$
#
# `ul.GaussianPrior` gives the exact score of this prior at every diffusion time. (This is the
# setting of `tests/test_samplers.py`, which guards these numbers.)

# %%
F, B = 256, 4
T = ul.size(fast=48, full=128)  # frames
seeds = ul.size(fast=(0,), full=(0, 1))  # sampler seeds averaged
gen = torch.Generator().manual_seed(1)
vs = (0.02 * torch.exp(torch.randn(F, 1, generator=gen))).expand(F, T)  # (F, T) speech variance
s = complex_randn((F, T), gen) * vs.sqrt()                                 # (F, T) "clean speech"
V = torch.full((F, T), vs.mean().item())                                 # white noise at 0 dB
X = s + complex_randn((F, T), gen) * V.sqrt()                              # (F, T) mixture
gauss = ul.GaussianPrior(vs)
bound = gauss.mmse_bound(V, B)  # MSE of the mean of B exact posterior samples: MMSE (1 + 1/B)


def gap_db(est):
    """How far an estimate's MSE lies above the MMSE (1 + 1/b) bound, in dB."""
    return 10 * math.log10((est - s).abs().pow(2).mean().item() / bound)


# %% [markdown]
# The sampler, written out. Start at the mixture plus the diffusion noise of `t = 1`; then at
# each step one annealed-Langevin **corrector** step and one reverse-diffusion **predictor**
# step (Euler–Maruyama of `dS = [-theta S - g² score] dt + g dw̄`), both with the *posterior*
# score = prior score + `lam` × likelihood gradient (the `posterior-score` schedule,
# equation (6) of the papers). All noise is circular complex Gaussian, `complex_randn`: real and
# imaginary parts each of variance 1/2, so `E|z|² = 1`.

# %%
def my_posterior_sample(prior, X, V, n_steps=30, b=4, lam=1.0, r=0.75, generator=None):
    sde = prior.sde
    ts = torch.linspace(1.0, sde.t_eps, n_steps)                 # reverse-time grid
    dts = ts - torch.cat([ts[1:], torch.zeros(1)])               # the last step ends at t = 0
    S = X + sde.std(1.0).item() * complex_randn((b, *X.shape), generator)  # (b, F, T)
    for i in range(n_steps):
        t, dt = ts[i], dts[i]
        mu, sigma, g = sde.mean_factor(t), sde.std(t), sde.g(t)

        def post_score(S):
            return prior.score(S, t) + lam * (X - S / mu) / (mu * ((sigma / mu) ** 2 + V))

        eps = 2 * (r * sigma) ** 2                                # corrector step size
        S = S + eps * post_score(S) + torch.sqrt(2 * eps) * complex_randn(S.shape, generator)
        S = S + (sde.theta * S + g ** 2 * post_score(S)) * dt     # predictor mean
        if i < n_steps - 1:                                       # no noise on the last step
            S = S + g * torch.sqrt(dt) * complex_randn(S.shape, generator)
    return S


# %%
# NBVAL_CHECK_OUTPUT
mine = my_posterior_sample(gauss, X, V, generator=torch.Generator().manual_seed(0))
lib = posterior_sample(gauss, X, V, cfg=SamplerConfig(n_samples=B, predictor="euler-maruyama"),
                       generator=torch.Generator().manual_seed(0))
torch.testing.assert_close(mine, lib)
print("my_posterior_sample == ul.samplers.posterior_sample:", tuple(lib.shape))

# %% [markdown]
# Now the comparison. Besides the pseudo-likelihood with both schedules, the Gaussian case lets
# us write the **exact** $\nabla \log p(X \mid S_t)$ (exercise 3): it tells how much of any gap is
# the sampler's fault and how much the pseudo-likelihood's.

# %%
def run(schedule="posterior-score", likelihood=None, lam=None):
    cfg = SamplerConfig(n_samples=B, schedule=schedule, lam=lam)
    return float(np.mean([gap_db(posterior_sample(gauss, X, V, cfg=cfg, likelihood=likelihood,
                                                  generator=torch.Generator().manual_seed(k)).mean(0))
                          for k in seeds]))


gaps = {
    "input X": gap_db(X),
    "reference schedule": run("reference"),
    "posterior-score": run("posterior-score"),
    "exact likelihood": run(likelihood=gauss.exact_likelihood(X, V)),
    "Wiener filter (b = ∞)": gap_db(vs / (vs + V) * X),
}
fig, ax = plt.subplots(figsize=(7, 2.8), layout="constrained")
ax.barh(list(gaps), list(gaps.values()), color=["grey", "C1", "C0", "C2", "k"])
ax.axvline(0, color="k", lw=0.8)
ax.set(xlabel="MSE above the MMSE (1 + 1/b) bound (dB)", title="Gaussian prior, white noise at 0 dB")
ax.invert_yaxis()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
for name, v in gaps.items():
    print(f"{name:22s} {v:+.1f} dB")

# %% [markdown]
# With 30 steps, 4 samples and two seeds the test suite measures: input +3.1 dB, reference
# schedule about +1.4 dB, posterior-score about −0.1 dB, exact likelihood about 0.0 dB.
# (Fast mode uses fewer frames and one seed, so its numbers wobble by a few tenths.) The exact
# likelihood *reaches* the bound: the sampler is right. The pseudo-likelihood in the
# `posterior-score` schedule is as good. The `reference` schedule, a separate likelihood step
# `S += lam g(t)² dt ∇log p(X|S_t)` after every other predictor step with `lam = 1.5` (the
# corrector seeing the prior score alone), stays more than a decibel short: on the Gaussian case
# it under-weights the data.
#
# *Question:* the Wiener filter lies *below* zero. Why is that not a contradiction?
#
# <details><summary>Answer</summary>
#
# The curve is in dB relative to MMSE (1 + 1/b), the error of the mean of b exact posterior
# samples. The Wiener filter *is* the posterior mean, error MMSE, so it lies 10 log10(1 + 1/b)
# dB below that reference: a sampler averaging b chains cannot do better than the bound, the
# exact mean can.
#
# </details>
#
# Move the slider: how does the `posterior-score` result depend on the likelihood weight `lam`?

# %%
def draw_lam(lam):
    est = posterior_sample(gauss, X, V, cfg=SamplerConfig(n_samples=B, lam=lam),
                           generator=torch.Generator().manual_seed(0)).mean(0)
    fig, axes = plt.subplots(1, 3, figsize=(12, 2.8), layout="constrained")
    viz.compare_spectrograms({"mixture X": X, f"posterior mean, lam = {lam}": est, "clean S": s},
                             axes=axes, title=f"{gap_db(est):+.2f} dB from the bound")
    return fig


viz.value_slider(draw_lam, [0.25, 0.5, 1.0, 1.5, 2.0, 4.0], description="lam", value=1.0);

# %% [markdown]
# ## 3. Real speech: UDiffSE
#
# Two things change on real speech. The prior is a trained score network (here `tiny-ao`, the
# audio-only teaching prior), and the noise variance `V` is unknown. UDiffSE (Nortier, Sadeghi
# & Serizel, 2024) estimates both by expectation–maximisation:
#
# - **E-step:** one full posterior reverse pass with the current $V = WH$ (the first pass has
#   no likelihood at all: the prior alone, started from the mixture);
# - **M-step:** one NMF update on the residual power $\frac1b\sum_j |X - S^{(j)}|^2$.
#
# Why that M-step? EM maximises $Q(W, H) = \mathbb{E}_{S \sim p(S \mid X; V_{\text{old}})}
# [\log \mathcal{CN}(X; S, WH)]$, and $\log \mathcal{CN}(X; S, V) = -\sum \big(\log V + |X - S|^2/V\big)$
# + const, so $Q$ needs only the posterior mean of $|X - S|^2$ in every bin. The $b$ chains are
# samples of that posterior: their average $P = \frac1b\sum_j |X - S^{(j)}|^2$ is a Monte-Carlo
# estimate, and maximising $-\sum(\log WH + P/WH)$ is exactly IS-NMF of $P$ (chapter 06). One
# multiplicative update instead of a full fit makes it a *generalised* Monte-Carlo EM: each
# iteration increases $Q$ rather than maximising it.
#
# **The start state.** The reference codes start every pass from $X + \sigma_1 z$, which is not
# the forward process' state at $t = 1$: that would be $\mu_1 S + \sigma_1 z$ with $\mu_1 \approx 0.22$,
# so the mixture's scale is about 4.5 times too large. The argument for it: the early steps are
# dominated by the noise $\sigma_1 z$ and the drift $-\theta s$ pulls the excess back, and
# starting near the data keeps the early likelihood steps small. `SamplerConfig(start="scaled")`
# starts from $\mu_1 X + \sigma_1 z$ instead; `benchmarks/sweep_sampler.py` measures both.
#
# A word on the prior. `tiny-ao` is small (the cell below prints its size; the papers' priors
# have about 28 M parameters) and was trained on a CPU for about an hour, on synthetic voices.
# It has learned what the harmonics and formants of those voices look like; it has not learned
# speech in general. Stationary noise (here white, at 0 dB) is where it does best; on babble,
# which looks like speech, it struggles (chapter 11).

# %%
prior = ul.load_pretrained("tiny-ao").to(device)
print(f"tiny-ao: {sum(q.numel() for q in prior.parameters()) / 1e6:.2f} M parameters")
ex = noisy_example("matched-1", noise="white", snr_db=0.0, seed=0)
seconds = ul.size(fast=1.0, book=2.5, full=None)  # crop the example (None: all of it)
L = len(ex["x"]) if seconds is None else int(seconds * ex["sr"])
x, s_clean = ex["x"][:L], ex["s"][:L]
print(f'"{ex["text"]}" ({ex["voice"]}), {L / ex["sr"]:.2f} s, white noise at 0 dB')

# %% [markdown]
# The spectral route by hand: compressed STFT, normalise by the largest magnitude (the prior was
# trained at that scale), sample, undo the scale, inverse STFT. The callback sees every step; we
# keep the noise variance `V` that each EM iteration used.

# %%
em_iters = ul.size(fast=2, book=3, full=5)  # EM iterations (E-step = one full reverse pass)
cfg = SamplerConfig(n_steps=ul.size(fast=4, full=30),  # reverse steps per pass
                    n_samples=ul.size(fast=1, book=1, full=4))  # parallel chains b (1 in the book, as in chapter 09)
Xc, NF = spectral.normalise(spectral.to_spec(torch.from_numpy(x).to(device)))  # (256, T)
V_per_iter = {}


def keep_V(info):
    if info.step == cfg.n_steps - 1 and info.pass_index > 0:
        V_per_iter[info.pass_index] = info.V.cpu().clone()


prior.n_evals = 0
t0 = time.perf_counter()
with torch.no_grad():
    est, info = udiffse(prior, Xc, cfg=cfg, em_iters=em_iters, callback=keep_V, return_info=True,
                        generator=torch.Generator(device).manual_seed(0))
s_hat = spectral.to_wave(est * NF[0], L).cpu().numpy()
print(f"{prior.n_evals} network evaluations in {time.perf_counter() - t0:.1f} s")

# %%
viz.compare_spectrograms({"noisy": x, "UDiffSE": s_hat, "clean": s_clean}, dynamic_range=70)
plt.show()
viz.audio_table({"noisy": x, "UDiffSE": s_hat, "clean": s_clean}, sr=ex["sr"])

# %% [markdown]
# *Question:* where in the spectrogram did the prior remove noise, and where did it invent or
# erase speech? Listen before you answer.
#
# <details><summary>Answer</summary>
#
# Noise is removed mostly in the pauses and in bins far from the harmonics. Inside the words the
# small prior both keeps some noise between harmonics and, where the noise dominates, erases
# quiet speech (fricatives, high harmonics) or invents harmonic-looking energy.
#
# </details>

# %%
def scores(y):
    return dict(si_sdr=metrics.si_sdr(y, s_clean), pesq=metrics.pesq(y, s_clean, ex["sr"], mode="wb"),
                estoi=metrics.estoi(y, s_clean, ex["sr"]))


table = {"noisy": scores(x), "UDiffSE": scores(s_hat)}
print(f"{'':10s} {'SI-SDR (dB)':>12s} {'PESQ (wb)':>10s} {'ESTOI':>7s}")
for name, m in table.items():
    print(f"{name:10s} {m['si_sdr']:12.1f} {m['pesq']:10.2f} {m['estoi']:7.2f}")
imp = {k: table["UDiffSE"][k] - table["noisy"][k] for k in table["noisy"]}
print(f"{'gain':10s} {imp['si_sdr']:+12.1f} {imp['pesq']:+10.2f} {imp['estoi']:+7.2f}")

# %% [markdown]
# PESQ here is **wide-band** (ITU-T P.862.2), as SGMSE and FlowAVSE report it; the UDiffSE
# papers report narrow-band P.862 (`mode="nb"`), which gives higher numbers for the same audio.
# In fast mode (1 s, 4 steps, one chain, two EM iterations) the numbers mean little: run the
# full chapter on a GPU to hear the method.
#
# ## 4. The noise model learns, one EM iteration at a time
#
# The noise variance used in each E-step, next to what it should find: the power of the true
# noise in the same compressed, normalised domain (an oracle the method never sees).

# %%
n_true = spectral.to_spec(torch.from_numpy(ex["n"][:L])) / NF[0].cpu()
panels = {f"V, EM iteration {k}": v for k, v in V_per_iter.items()}
panels["|N|² (oracle)"] = n_true.abs() ** 2
viz.compare_spectrograms(panels, power=True, dynamic_range=40, ncols=3)
plt.show()

# %% [markdown]
# *Question:* the compression `|c|^0.5` makes white noise *not* flat in this domain where speech
# is loud. Does the NMF estimate follow the oracle there, or does it mistake speech for noise?
#
# <details><summary>Answer</summary>
#
# Only partly: a rank-4 NMF cannot follow the fine time-frequency detail of the compressed white
# noise, and where speech is loud the residual X - S still holds speech the prior did not
# explain, which the NMF absorbs as noise: the estimate is too high in the speech regions.
#
# </details>

# %% [markdown]
# ## Exercises
#
# Solutions: `udiffse_lite/exercises/ch08.py`, imported only in the last section.
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** Derive `MMSE (1 + 1/b)`, the bound `GaussianPrior.mmse_bound` gave above, and check that the
# mean of `b` samples drawn from the exact Gaussian posterior has that error.

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Compute the pseudo-likelihood gradient with `torch.autograd` (mind the factor 2).

# %%
# Your solution to exercise 2

# %% [markdown]
# **Exercise 3.** Derive the exact `grad log p(X | S_t)` for the Gaussian prior (hint: `S | S_t` is Gaussian)
# and check your formula against `GaussianPrior.exact_likelihood`, which the comparison above passed as
# `likelihood=` to `posterior_sample`.

# %%
# Your solution to exercise 3

# %% [markdown]
# **Exercise 4.** Run UDiffSE with `em_iters=1` (no likelihood at all: what do you get?) and with 5.

# %%
# Your solution to exercise 4

# %% [markdown]
# ### Reference solutions

# %%
from udiffse_lite.exercises import ch08  # noqa: E402  (the solutions, only now)

# Exercise 1, checked by sampling the exact posterior directly
gen = torch.Generator().manual_seed(2)
wiener = vs / (vs + V) * X
draws = wiener + complex_randn((B, F, T), gen) * (vs * V / (vs + V)).sqrt()
print(f"MSE of the mean of {B} exact samples / bound: {(draws.mean(0) - s).abs().pow(2).mean().item() / bound:.2f}")
# Exercise 2
torch.testing.assert_close(ch08.pseudo_likelihood_grad_autograd(S_t, X_toy, V_toy, mu, sigma),
                           pseudo_likelihood_grad(S_t, X_toy, V_toy, mu, sigma))
# Exercise 3: s | s_t ~ CN(A s_t, c), so X | s_t ~ CN(A s_t, c + V) and grad = A (X - A s_t) / (c + V)


def exact_grad(S, t, sde=gauss.sde):
    mu, sig = sde.mean_factor(t), sde.std(t)
    A = mu * vs / (mu ** 2 * vs + sig ** 2)
    c = vs * sig ** 2 / (mu ** 2 * vs + sig ** 2)
    return A * (X - A * S) / (c + V)


S_probe = complex_randn((F, T), gen)
torch.testing.assert_close(exact_grad(S_probe, 0.4), gauss.exact_likelihood(X, V)(S_probe, 0.4))

# %% [markdown]
# ## In this chapter we …
#
# - wrote the likelihood of a mixture and the pseudo-likelihood a diffusion sampler can use;
# - wrote a posterior sampler in 15 lines, matched the library's, and watched it reach the
#   Wiener bound on a Gaussian prior, with the `reference` schedule staying short of it;
# - ran UDiffSE's EM on real speech with a trained teaching prior and watched the NMF
#   noise estimate form over the EM iterations.
#
# UDiffSE pays for its EM with `em_iters × 2 × n_steps` network evaluations. Next,
# [09 · UDiffSE+](09_udiffse_plus.ipynb) gets the noise estimate *during* a single pass.
