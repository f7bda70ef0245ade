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
# # 12 · Two priors: a learned noise model, and separation by lips
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/12_two_priors.ipynb)
#
# **Goal:** replace the NMF noise model by a second diffusion prior trained on noise alone, couple
# the two reverse processes through the mixture, and separate two talkers, each found by their lips.
#
# ## What you will learn
#
# - why one posterior can hold several diffusion priors, and two ways to couple them through the
#   mixture: a noise prior's *score* in UDiffSE's likelihood, and diffusion posterior sampling
#   (DPS), the paper's;
# - to write both couplings yourself and match the library's;
# - to check them where the answer is known: Gaussian sources and their Wiener filter;
# - what a prior over noise generates, and where it fails: on noise it never heard;
# - to separate two talkers with one audio-visual prior, and the control that shows the lips
#   decide who is who.

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
import matplotlib.pyplot as plt
import numpy as np
import torch

import udiffse_lite as ul
from udiffse_lite import metrics, spectral, viz
from udiffse_lite.data.noise import make_noise
from udiffse_lite.examples import load_example, noisy_example
from udiffse_lite.priors import GaussianPrior
from udiffse_lite.recipes import NOISE_PRIOR_TYPES
from udiffse_lite.samplers import SamplerConfig, prior_sample, pseudo_likelihood_grad, tweedie, udiffse_plus_two_priors
from udiffse_lite.sde import complex_randn
from udiffse_lite.separation import DPSConfig, dps_gradients, dps_sample, wiener_masks

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)
device = "cuda" if torch.cuda.is_available() else "cpu"

# %% [markdown]
# ## 1. A mixture is a sum of sources, each with its own prior
#
# Chapters 08-11 gave the *speech* a diffusion prior and the *noise* a simple one: a Gaussian whose
# variance is a rank-4 NMF, $N \sim \mathcal{CN}(0, WH)$. That fits a steady fan well and a crowd of
# talkers badly. DAVSS-NM (Yemini et al., 2025) gives the noise a diffusion prior too, trained on
# noise alone, and treats speech and noise alike: as sources that add up to the mixture,
#
# $$ p\big(S^{(1)}, \dots, S^{(J)} \mid X\big) \;\propto\; p\big(X \mid \textstyle\sum_j S^{(j)}\big)\,
#    \prod_j p_j\big(S^{(j)}\big). $$
#
# Every source runs its own reverse diffusion with its own score network; only the likelihood
# couples them. Two ways to write that coupling follow: the first reuses UDiffSE's likelihood
# (chapter 08) with the noise network in place of the NMF Gaussian, the second is the paper's DPS.
#
# ## 2. The noise hidden in the speech state
#
# Take one speech source and the noise, $X = S + N$. The speech state at time $t$ is
# $S_t = \mu_t S + \sigma_t z$. Then
#
# $$ \mu_t X - S_t \;=\; \mu_t N - \sigma_t z , $$
#
# which is a *diffused noise state* at the same $t$ ($-z$ is as Gaussian as $z$). So the
# likelihood of the mixture given the speech state is the noise's diffused density at that point,
# and its gradient is the noise prior's score, read backwards:
#
# $$ \nabla_{S_t} \log p(X \mid S_t) \;=\; -\,\nabla \log p_{N,t}\big(\mu_t X - S_t\big). $$
#
# No approximation was made beyond UDiffSE's own (that $S_t$ carries its clean speech exactly as the
# forward process does). For the Gaussian $N \sim \mathcal{CN}(0, V)$ the right-hand side must be
# chapter 08's pseudo-likelihood gradient. Three lines, and the check:

# %%
def my_noise_likelihood(noise_prior, X, S, t):
    """grad_S log p(X | S_t): minus the noise prior's score at the noise state mu_t X - S_t."""
    mu = noise_prior.sde.mean_factor(t)
    return -noise_prior.score(mu * X - S, t)


# two Gaussian sources with known variances: a speech-like one and a coloured noise
F, T, B = 256, 64, 4
g = torch.Generator().manual_seed(1)
var = [(0.02 * torch.exp(torch.randn(F, 1, generator=g))).expand(F, T),
       torch.full((F, T), 0.02) * torch.linspace(0.3, 3, F)[:, None]]
src = [complex_randn((F, T), g) * v.sqrt() for v in var]
X = src[0] + src[1]
gaussians = [GaussianPrior(v) for v in var]
S_t = 0.3 * complex_randn((B, F, T), g)
for t in (0.05, 0.4, 1.0):
    tt = torch.tensor(t)
    mu, sigma = gaussians[1].sde.mean_factor(tt), gaussians[1].sde.std(tt)
    mine = my_noise_likelihood(gaussians[1], X, S_t, tt)
    torch.testing.assert_close(mine, pseudo_likelihood_grad(S_t, X, var[1], mu, sigma), rtol=1e-4, atol=1e-5)
print("-score_N(mu_t X - S_t) equals UDiffSE's pseudo-likelihood gradient for a Gaussian noise, at t = 0.05, 0.4, 1")

# %% [markdown]
# So a noise *network* simply replaces that Gaussian's score, and everything else of UDiffSE+
# stays: the predictor-corrector pass, the Tweedie estimates, the Wiener output. No NMF, no
# backward pass in the sampler; four network evaluations per step (speech and noise, predictor and
# corrector). `samplers.udiffse_plus_two_priors` is that sampler, and
# `ul.enhance(..., noise_model="diffusion")` calls it with two settings measured on validation
# mixtures (`docs/separation.md`, section 8): the noise score weighted by $\lambda = 1.3$ (a learned
# noise prior claims a little of the speech as noise at $\lambda = 1$), and the final Wiener gain's
# noise power smoothed by a rank-4 NMF fit of the chains' residual. With the exact Gaussian below,
# $\lambda = 1$ is right, and that is what the sampler uses when called directly.
#
# ## 3. Where the answer is known: two Gaussian priors
#
# With Gaussian priors for both sources, the exact posterior mean of the speech is the Wiener
# filter $\frac{v_S}{v_S + v_N} X$ with a known error (the MMSE). The two-prior sampler, given
# nothing but the two scores, must come close:

# %%
est = udiffse_plus_two_priors(gaussians[0], X, gaussians[1], cfg=SamplerConfig(n_steps=30, n_samples=B),
                              generator=torch.Generator().manual_seed(0))
mmse = (var[0] * var[1] / (var[0] + var[1])).sum()
db = lambda e: float(10 * torch.log10((e - src[0]).abs().pow(2).sum() / mmse))  # noqa: E731
print(f"dB above the MMSE: two-prior sampler {db(est):+.2f}, Wiener filter {db(var[0] / (var[0] + var[1]) * X):+.2f}, "
      f"the mixture itself {db(X):+.2f}")

# %% [markdown]
# *Question:* the sampler never saw $v_S$ or $v_N$ as numbers, only the two priors' scores. Where in
# the sampler does the Wiener gain $v_S / (v_S + v_N)$ appear?
#
# <details><summary>Answer</summary>
#
# In the output: the chains' speech power $\mathbb{E}|S|^2$ and their residual's power play $v_S$ and
# $v_N$, and the mixture goes through their gain (chapter 09's Wiener output). And along the way:
# each step adds the speech score and the noise score at the implied noise state, and for
# Gaussians that sum is the score of the exact posterior.
#
# </details>
#
# ## 4. The paper's coupling: DPS
#
# DAVSS-NM couples the sources differently. Diffusion posterior sampling (DPS, Chung et al., 2023)
# replaces each state by its one-step (Tweedie, chapter 05) estimate
# $\hat s^{(j)} = (s_t^{(j)} + \sigma_t^2\, \nabla \log p_j(s_t^{(j)})) / \mu_t$ and asks these
# estimates to add up to the mixture. With the residual $r = X - \sum_j \hat s^{(j)}$, every state
# takes its prior's reverse step and then a step down the gradient of $|r|$, weighted by $\zeta$:
#
# $$ s_t^{(j)} \leftarrow \mathrm{step}_j\big(s_t^{(j)}\big) - \zeta\, \nabla_{s_t^{(j)}} \lVert r \rVert . $$
#
# The gradient runs *through the denoisers* (autograd), so each source learns how moving its own
# state changes the sum. Twelve lines for the complex domain (the library also has the paper's
# magnitude domain, where the estimates are added as linear STFTs and compressed magnitudes are
# compared):

# %%
def my_dps_gradients(priors, states, t, X):
    """Tweedie estimates of every source and the gradient of |X - sum of estimates| for every state."""
    leaves = [s.detach().requires_grad_(True) for s in states]
    estimates = []
    for prior, s in zip(priors, leaves):
        mu, sigma = prior.sde.mean_factor(t), prior.sde.std(t)
        estimates.append((s + sigma ** 2 * prior.score(s, t)) / mu)  # Tweedie (chapter 05)
    r = X - sum(estimates)  # (B, F, T): what the estimates do not explain
    norm = r.abs().pow(2).sum(dim=(-2, -1)).sqrt()  # (B,) one residual norm per chain
    grads = torch.autograd.grad(norm.sum(), leaves)
    return [e.detach() for e in estimates], [g.detach() for g in grads]


states = [0.3 * complex_randn((B, F, T), g) for _ in gaussians]
t = torch.tensor(0.5)
mine = my_dps_gradients(gaussians, states, t, X)
lib = dps_gradients(gaussians, states, t, X, domain="complex")
for a, b in zip(mine[0] + mine[1], lib[0] + lib[1]):
    torch.testing.assert_close(a, b)
print("my DPS estimates and gradients match udiffse_lite.separation.dps_gradients")
out = dps_sample(gaussians, X, cfg=DPSConfig(n_steps=30, n_samples=B, domain="complex"),
                 generator=torch.Generator().manual_seed(0))
print(f"DPS, two Gaussian priors, 30 steps: the speech chains' mean {db(out[0].mean(0)):+.2f} dB above the MMSE "
      f"(ideal for {B} chains: {10 * np.log10(1 + 1 / B):+.2f}), Wiener mask from the chains {db(wiener_masks(out)[0] * X):+.2f}")

# %% [markdown]
# Both couplings pass the Gaussian check. With networks they do not do equally well: on eight
# validation mixtures with the same speech prior, DPS gained +3.3 dB SI-SDR and the score coupling
# +9.1 dB (`docs/separation.md`, section 3). DPS moves the states by a gradient of a *residual
# norm*, scaled by a hand-set $\zeta$, through networks whose Tweedie estimates are poor at large
# $t$; the score coupling uses the noise network where it is good, as a denoiser of a noise state.
# The library's default is therefore the score coupling; `coupling="dps"` keeps the paper's.
#
# ## 5. A prior over noise
#
# `tiny-noise` is the tiny score network trained on the noise library's training clips of six
# types (white, pink, brown, hum, traffic, ventilation); babble and clatter are held out, the noise
# it never heard. Two questions about any prior: does it *denoise* its kind of data (the job it
# has in the likelihood), and does it *generate* it?
#
# First the denoiser. Diffuse a training-type noise to time $t$ and compare the network's one-step
# estimate with the best Gaussian guess, the noise's own long-term spectrum (an oracle the network
# does not have). The error is in dB relative to predicting silence:

# %%
noise_prior = ul.load_pretrained("tiny-noise").to(device)
rng = np.random.default_rng(0)
train_noise = {k: spectral.normalise(spectral.to_spec(torch.from_numpy(make_noise(k, 127 * spectral.HOP, rng))))[0]
               for k in NOISE_PRIOR_TYPES}
gen_t = torch.Generator().manual_seed(0)
print("error of the one-step estimate, dB (lower is better): tiny-noise vs the oracle Gaussian")
print(f"{'noise':12s} " + " ".join(f"{'t = ' + str(t):>18s}" for t in (0.1, 0.3, 0.6)))
for k, N0 in train_noise.items():
    row = []
    for t in (0.1, 0.3, 0.6):
        tt = torch.tensor(t)
        mu, sigma = noise_prior.sde.mean_factor(tt), noise_prior.sde.std(tt)
        Nt = mu * N0 + sigma * complex_randn(N0.shape, gen_t)
        with torch.no_grad():
            net = tweedie(noise_prior, Nt, noise_prior.score(Nt[None].to(device), tt).cpu()[0], tt)  # chapter 05
        v = N0.abs().pow(2).mean(1, keepdim=True)  # the oracle's per-frequency variance
        gauss = mu * v / (mu ** 2 * v + sigma ** 2) * Nt  # its exact posterior mean
        row.append((metrics.error_db(net, N0), metrics.error_db(gauss, N0)))
    print(f"{k:12s} " + " ".join(f"{a:+6.1f} vs {b:+6.1f} dB" for a, b in row))

# %% [markdown]
# The network beats the oracle Gaussian on most types and times: it knows the hum's lines and the
# traffic's slow swells, which a long-term spectrum cannot. Now generation, from the prior alone
# (30 steps, from the diffusion's Gaussian):

# %%
n_gen = 4
gen = prior_sample(noise_prior, 128, cfg=SamplerConfig(n_steps=30, n_samples=n_gen, corrector=False),
                   generator=torch.Generator(device).manual_seed(0), device=device).cpu()
level = lambda S: float(10 * torch.log10(S.abs().pow(2).mean()))  # noqa: E731  (mean power per bin, dB)
spec = lambda S: 10 * torch.log10(S.abs().pow(2).mean(dim=-1))  # noqa: E731  (F, T) -> (F,) dB per bin


def closest_type(S):
    """The training type whose long-term spectral shape is nearest to S's, and the distance
    (dB RMS over the bins, each spectrum's mean level removed)."""
    d = {k: spec(S) - spec(N0) for k, N0 in train_noise.items()}
    d = {k: float((x - x.mean()).pow(2).mean().sqrt()) for k, x in d.items()}
    return min(d.items(), key=lambda kv: kv[1])


print(f"mean level: samples {level(gen):.1f} dB per bin, "
      f"training noise {level(torch.stack(list(train_noise.values()))):.1f} dB")
for i in range(n_gen):
    k, dist = closest_type(gen[i])
    print(f"sample {i + 1}: shape closest to {k} ({dist:.1f} dB away)")
viz.compare_spectrograms({f"sample {i + 1}": gen[i] for i in range(n_gen)}, ncols=n_gen, dynamic_range=60)
plt.show()
viz.audio_table({f"sample {i + 1}": spectral.to_wave(gen[i], 127 * spectral.HOP).numpy() for i in range(n_gen)})

# %% [markdown]
# The shape is right: each sample's long-term spectrum is within a dB or two of one of the six
# types' (samples of the speech prior `tiny-ao`, scored the same way, are 2.6-4.9 dB from every one of
# them; `tests/test_separation.py`). On the course's CPU all four samples imitate the same type,
# brown noise: whether the prior has learned the other five as well as its one-step estimates
# suggest is a fair question. The *level* is not right: the samples are far too quiet (the players
# scale each sample to full range, so you hear their texture, not their level).
# `docs/separation.md` (section 5) traces where it is lost:
# the prior's own reverse process hands the network states it does not recognise as any of its six
# noises, and in the last steps ($t < 0.2$) the network takes what it does not recognise for the
# diffusion's own noise and removes 5-7 dB per step. In enhancement this does not happen: there the
# network is only ever asked about $\mu_t X - S_t$, which holds the recording's real noise, and the
# mixture supplies the level at every step.
#
# *Question:* a speech prior trained the same way (chapter 04) generates speech about 9 dB too
# quiet, the noise prior 15-20 dB. Why would noise be harder to generate than speech?
#
# <details><summary>Answer</summary>
#
# Speech is sparse: most bins are near silence, so at small $t$ the diffusion's noise stands out
# against them and is easy to tell apart. Noise fills every bin with energy of the same kind as the
# diffusion's own, so near $t = 0$ the network must split two noise-like components, and every
# error it makes in calling energy "diffusion noise" removes a little of the signal. Trained on six
# kinds of real noise and nothing in between, it calls too much of it diffusion noise.
#
# </details>
#
# ## 6. Enhancement with two priors
#
# `ul.enhance(..., noise_model="diffusion")` runs section 2's sampler with `tiny-ao` for the speech
# and `tiny-noise` for the noise. The same utterance in a noise type the noise prior heard (pink,
# at -5 dB) and in one it never heard (babble: other voices, at 0 dB), against the NMF of chapter 09:

# %%
speech_prior = ul.load_pretrained("tiny-ao").to(device)
seconds = ul.size(fast=1.5, book=2.0, full=None)  # crop (None: the whole utterance)
opts = dict(n_steps=ul.size(fast=16, book=20, full=30), n_samples=ul.size(fast=1, book=1, full=2))
results = {}
for noise, snr_db in [("pink", -5.0), ("babble", 0.0)]:
    ex = noisy_example("matched-1", noise=noise, snr_db=snr_db, seed=0)
    L = len(ex["x"]) if seconds is None else int(seconds * ex["sr"])
    x, s = ex["x"][:L], ex["s"][:L]
    nmf = ul.enhance(x, ex["sr"], prior=speech_prior, seed=0, **opts)
    dif = ul.enhance(x, ex["sr"], prior=speech_prior, noise_model="diffusion", noise_prior=noise_prior, seed=0, **opts)
    results[noise] = dict(x=x, s=s, nmf=nmf, diffusion=dif)
    print(f"{noise:7s} {snr_db:+.0f} dB ({'seen' if noise in NOISE_PRIOR_TYPES else 'never heard'}): SI-SDR input "
          f"{metrics.si_sdr(x, s):+.1f} dB, NMF noise {metrics.si_sdr(nmf, s):+.1f} dB, "
          f"diffusion noise prior {metrics.si_sdr(dif, s):+.1f} dB")

# %%
r = results["pink"]
waves = {"noisy (pink, -5 dB)": r["x"], "NMF noise": r["nmf"], "diffusion noise prior": r["diffusion"], "clean": r["s"]}
viz.compare_spectrograms(waves, ncols=4, dynamic_range=70)
plt.show()
viz.audio_table(waves)

# %% [markdown]
# *Question:* compare the two noise types. Where does the learned noise prior help, and where does
# it fall behind the NMF? What does NMF assume about the noise that a prior trained on six types
# does not, and the other way round?
#
# <details><summary>Answer</summary>
#
# NMF assumes nothing about the noise's type: it fits a low-rank variance to *this* recording, so
# it never meets an unseen type, but it cannot describe fast, sparse events. The diffusion prior
# knows the shapes of the noises it was trained on in detail and knows nothing else: on a type it
# never heard (babble) the speech source must absorb what the noise prior cannot explain, and
# babble is other voices, which the speech prior is glad to claim. That is the learned noise
# model's failure signature, which the paper reports too. Unseen noise is hard for both: the NMF
# gains far less on babble at 0 dB than on pink at -5 dB, and on the other held-out type, clatter's
# impulses at -5 dB, neither model improves this utterance at all (a rank-4 variance cannot follow
# sparse clicks either).
# Over validation mixtures it has not been tuned on (`docs/separation.md`, section 8) the noise
# prior beats NMF on its six types on average (+8.9 against +7.4 dB SI-SDR gain, with a wide
# interval): far ahead on brown and traffic noise, whose shapes it knows better than a rank-4 NMF
# can describe them, behind on white noise and hum, whose energy sits where the speech's does. On
# the two types it never heard it is slightly behind NMF (-0.4 dB): a learned noise model is only
# as good as the noise it was trained on, here 20 s of each type.
#
# </details>
#
# ## 7. Two talkers, each found by their lips
#
# With one audio-visual speech prior per talker, each given *that talker's* lips, plus a noise
# model, the same sampler separates speakers: speaker $k$ takes the mixture minus the other
# speakers' current Tweedie estimates as its own mixture. `ul.separate(y, sr, lips=[lips_1, lips_2])`
# returns one waveform per lip video, in their order. Nothing else tells the two speech sources
# apart: both use the same network. The control is to swap the lips: if the lips decide who is
# who, the outputs swap too, and scored against the original order they collapse.

# %%
a, b = load_example("matched-1"), load_example("mismatched-1")
L = int(ul.size(fast=1.5, book=2.0, full=3.0) * 16000)
rng = np.random.default_rng(0)
x2 = a.speech[:L] + b.speech[:L] + 0.02 * rng.standard_normal(L).astype(np.float32)
n_v = spectral.expected_video_frames(L)
lips = [a.lips[:n_v], b.lips[:n_v]]
av_prior = ul.load_pretrained("tiny-av").to(device)
sep_opts = dict(prior=av_prior, n_steps=ul.size(fast=10, book=20, full=30), n_samples=ul.size(fast=1, book=1, full=2), guidance=3.0)
refs = [a.speech[:L], b.speech[:L]]
for label, order in (("true lips", lips), ("swapped lips", lips[::-1])):
    outs = ul.separate(x2, 16000, lips=order, **sep_opts)
    gains = [metrics.si_sdr(o, s) - metrics.si_sdr(x2, s) for o, s in zip(outs, refs)]
    print(f"{label:12s}: SI-SDR improvement of output 1 (vs talker 1) {gains[0]:+.1f} dB, "
          f"output 2 (vs talker 2) {gains[1]:+.1f} dB")
    if label == "true lips":
        sep = outs

# %%
waves = {"mixture": x2, "output 1 (lips of talker 1)": sep[0], "output 2 (lips of talker 2)": sep[1],
         "talker 1": refs[0], "talker 2": refs[1]}
viz.compare_spectrograms(waves, ncols=5, dynamic_range=70)
plt.show()
viz.audio_table(waves)

# %% [markdown]
# Read the two rows for what they show and what they do not. Swapping the lips costs each output
# several dB: the lips decide which talker each output follows. But the true-lips outputs are
# hardly cleaner than the mixture, if at all (compare their improvements with 0; over six
# validation mixtures they gain +0.3 to +0.4 dB on average): with this tiny prior the split itself
# is weak.
#
# *Question:* with swapped lips, do the outputs swap cleanly, or does each output hold a bit of
# both talkers? What would a prior that ignored the lips do here?
#
# <details><summary>Answer</summary>
#
# A prior blind to the lips gives both speech sources the same score: nothing breaks the symmetry,
# so the two outputs would split the talkers at random, the same for true and swapped lips. The
# gap between the two rows is what the lips contribute. Over six validation mixtures
# (`docs/separation.md`, section 9) the true lips beat the swapped ones by 5.0 dB per speaker
# without guidance and by 6.4 dB with this section's weight 3, but the outputs barely improve on
# the mixture itself (+0.3 to +0.4 dB on average): each leans towards its talker without leaving
# the other behind. The lips decide the order; a prior that leans on them harder would be needed
# to separate well. (As in enhancement, from 30 steps on the guidance acts only at $t \le 0.5$:
# the same true-lips result in a quarter less time.)
#
# </details>
#
# ## Exercises
#
# Solutions: `udiffse_lite/exercises/ch12.py`, imported only in the last section.

# %% [markdown]
# **Exercise 1.** Run section 4's Gaussian check of DPS with `zeta` = 0.5, 2 and 8 (30 steps, 4
# chains). Which reaches the bound? What goes wrong when `zeta` is too small, and does a large one
# hurt?

# %%
# your solution

# %% [markdown]
# **Exercise 2.** The paper compares compressed *magnitudes* instead of complex spectrograms. Rotate
# the phase of both true sources by the same angle and compute `separation.reconstruction` in both
# domains (give each domain the mixture its sources add up to). What does the magnitude domain not
# see, and why is that a help when the estimates' phases are still noise?

# %%
# your solution

# %% [markdown]
# ### Reference solutions

# %%
from udiffse_lite.exercises import ch12  # noqa: E402  (the solutions, only now)

# Exercise 1
for zeta, d in ch12.zeta_sweep().items():
    print(f"zeta {zeta:3g}: chain mean {d:+.2f} dB above the MMSE (ideal +0.97)")
# Exercise 2
for domain, (exact, rotated) in ch12.phase_blindness().items():
    print(f"{domain:9s}: error of the true sources {exact:.3g}, after a common rotation {rotated:.3g}")

# %% [markdown]
# Exercise 1: too small a `zeta` leaves the sources' sum far from the mixture (each source is
# then nearly a draw from its prior alone); from about 2 the chain mean reaches the bound, and a
# larger weight does not help. Exercise 2: a common phase rotation leaves every magnitude of the
# sum unchanged, so the magnitude domain does not see it, while the complex one counts it as a
# large error. Early in the reverse process the estimates' phases are noise: a loss on
# magnitudes pushes the sources' *energies* into place first and leaves the phase to the priors.
#
# ## In this chapter we …
#
# - wrote the mixture as a sum of sources, each with its own diffusion prior;
# - derived the score coupling (the noise hidden in the speech state) and wrote the DPS step, and
#   matched both with the library's;
# - checked both against the Wiener filter of Gaussian sources;
# - asked a noise prior to denoise (it does, better than the oracle Gaussian) and to generate (the
#   right shape, far too quiet), and saw why the first is what enhancement needs;
# - enhanced with two priors, and separated two talkers by their lips, with the swapped-lips control.
#
# The measured tables (NMF against the noise prior on seen and unseen noise, separation with true,
# swapped and no lips, step counts and speed) are in `docs/separation.md`. Chapter 13 leaves
# cleaning behind: it re-synthesises the speech from features the noise cannot hide.
