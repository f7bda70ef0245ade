# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Tweedie's formula
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/05_tweedie.ipynb)
#
# **Goal:** turn the score at any diffusion time into a one-step estimate of the clean speech, exactly for a Gaussian prior and approximately for the trained one.
#
# ## What you will learn
#
# * Tweedie's formula $\hat s_0 = \mathbb E[s \mid s_t] = (s_t + \sigma_t^2 \nabla\log p_t(s_t))/\mu_t$ and its two-line derivation;
# * that for a Gaussian prior it is the Wiener filter, checked against the package;
# * how good the trained prior's denoised estimates are at each $t$;
# * what the estimates look like along a reverse trajectory (UDiffSE+ feeds them to its noise model).

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
from udiffse_lite import examples, spectral, viz
from udiffse_lite.metrics import error_db
from udiffse_lite.priors import GaussianPrior
from udiffse_lite.samplers import SamplerConfig, prior_sample, tweedie
from udiffse_lite.sde import OUVESDE, complex_randn

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)
device = "cuda" if torch.cuda.is_available() else "cpu"
sde = OUVESDE()

# %% [markdown]
# ## The formula
#
# Let $s_t = \mu_t s + \sigma_t z$. The marginal density is $p_t(s_t) = \int p(s_t \mid s)\,p(s)\,\mathrm{d}s$,
# so differentiating under the integral,
#
# $$ \nabla \log p_t(s_t) = \frac{\int \nabla_{s_t} p(s_t \mid s)\, p(s)\,\mathrm{d}s}{p_t(s_t)}
#    = \mathbb E\Big[-\frac{s_t - \mu_t s}{\sigma_t^2} \,\Big|\, s_t\Big]
#    = -\frac{s_t - \mu_t\, \mathbb E[s \mid s_t]}{\sigma_t^2} . $$
#
# Solving for the posterior mean gives **Tweedie's formula** (named after M. Tweedie; see Efron (2011)):
#
# $$ \hat s_0(s_t) = \mathbb E[s \mid s_t] = \frac{s_t + \sigma_t^2\, \nabla \log p_t(s_t)}{\mu_t} . $$
#
# One score evaluation gives the best (minimum mean-squared error) guess of the clean
# spectrogram from $s_t$. In the noise-prediction parametrisation,
# $\hat s_0 = (s_t - \sigma_t\, \mathrm{net})/\mu_t$: remove the predicted noise, undo the scaling.
# (The reference UDiffSE+ code omits the division by $\mu_t$; `SamplerConfig(tweedie_mu=False)`
# reproduces it. The exact formula is the default.)

# %%
def tweedie_minimal(prior, s_t, t):
    sigma, mu = prior.sde.std(t), prior.sde.mean_factor(t)
    return (s_t + sigma ** 2 * prior.score(s_t, t)) / mu


# %% [markdown]
# ## The Gaussian case: Tweedie is the Wiener filter
#
# For $s \sim \mathcal{CN}(0, \sigma_s^2)$, $s_t \sim \mathcal{CN}(0, \mu_t^2 \sigma_s^2 + \sigma_t^2)$ and the score is
# $-s_t/(\mu_t^2 \sigma_s^2 + \sigma_t^2)$, so
#
# $$ \hat s_0 = \frac{\mu_t v}{\mu_t^2 v + \sigma_t^2}\, s_t , \qquad
#    \mathbb E|\hat s_0 - s|^2 = \frac{v\,\sigma_t^2}{\mu_t^2 v + \sigma_t^2} , $$
#
# a Wiener gain applied to $s_t/\mu_t$. Three ways of computing it must agree: our function,
# the closed form, and the package's `samplers.tweedie`.

# %%
n_frames = 64
f = torch.arange(256, dtype=torch.float32)
vs = (0.2 * torch.exp(-f / 40) + 1e-3)[:, None].expand(256, n_frames)
gauss = GaussianPrior(vs)
gen = torch.Generator().manual_seed(0)
s = vs.sqrt() * complex_randn((16, 256, n_frames), gen)  # 16 draws of the "clean" prior
t = 0.4
s_t, _ = sde.perturb(s, t, gen)

closed = gauss.posterior_mean(s_t, t)  # the Wiener gain mu_t vs / (mu_t^2 vs + sigma_t^2)
torch.testing.assert_close(tweedie_minimal(gauss, s_t, t), closed)
torch.testing.assert_close(tweedie(gauss, s_t, gauss.score(s_t, t), t), closed)

# %% [markdown]
# Its mean-squared error must match the posterior variance at every $t$:

# %%
# NBVAL_CHECK_OUTPUT
for t in (0.1, 0.4, 1.0):
    s_t, _ = sde.perturb(s, t, torch.Generator().manual_seed(1))
    mse = (tweedie(gauss, s_t, gauss.score(s_t, t), t) - s).abs().pow(2).mean()
    print(f"t = {t}: MSE {mse:.4f}, posterior variance {gauss.posterior_variance(t).mean():.4f}")

# %% [markdown]
# **Question:** at $t = 1$ the estimate is almost 0 for the quiet high-frequency bins but not for the
# loud low ones. Why is "predict the prior mean" the right answer when the noise dominates?
#
# <details><summary>Answer</summary>
#
# When the noise dominates, the observation says almost nothing about s, so the best guess (the
# posterior mean) falls back on the prior mean, 0 here; loud bins still stand out of the noise a
# little, so their estimate is pulled towards the observation.
#
# </details>

# %% [markdown]
# ## Denoising speech with the trained prior
#
# Replace the Gaussian by the shipped speech prior and denoise a held-out utterance at several
# noise levels. We compare Tweedie's estimate with two baselines: undoing the scale only
# ($s_t/\mu_t$), and the *oracle* Wiener filter that knows the clean power $|s|^2$ of every bin
# (no real system has that).

# %%
prior = ul.load_pretrained("tiny-ao", map_location=device)
n_eval = ul.size(fast=32, full=256)
S_clean = spectral.to_spec(torch.from_numpy(examples.load_example("mismatched-2").speech))
s0 = spectral.normalise(S_clean[:, 40:40 + n_eval])[0][None].to(device)  # (1, 256, T)
oracle = GaussianPrior(s0[0].abs().pow(2).cpu())
t_eval = ul.size(fast=[0.1, 0.5], full=[0.05, 0.1, 0.2, 0.4, 0.7, 1.0])
errors = {"scale only $s_t/\\mu_t$": [], "Tweedie, trained prior": [], "oracle Wiener": []}
for t in t_eval:
    s_t, _ = sde.perturb(s0, t, torch.Generator(device).manual_seed(3))
    with torch.no_grad():
        est = tweedie(prior, s_t, prior.score(s_t, t), t)
    errors["scale only $s_t/\\mu_t$"].append(error_db(s_t / sde.mean_factor(t), s0))
    errors["Tweedie, trained prior"].append(error_db(est, s0))
    errors["oracle Wiener"].append(error_db(tweedie(oracle, s_t.cpu(), oracle.score(s_t.cpu(), t), t), s0.cpu()))
fig, ax = viz.plot_curves({k: (t_eval, e) for k, e in errors.items()}, xlabel="diffusion time t",
                          ylabel="error (dB re clean)", title="one-step denoising")

# %% [markdown]
# Listen to one of them, at $t = 0.4$: the noisy state (rescaled), the trained prior's one-step
# guess, and the clean speech. (The compressed spectrograms are decompressed and inverted.)

# %%
t_l = 0.4
s_t, _ = sde.perturb(s0, t_l, torch.Generator(device).manual_seed(3))
with torch.no_grad():
    guess = tweedie(prior, s_t, prior.score(s_t, t_l), t_l)
n_wave = (s0.shape[-1] - 1) * spectral.HOP
viz.audio_table({"noisy state / mu_t": spectral.to_wave((s_t / sde.mean_factor(t_l))[0].cpu(), n_wave),
                 "Tweedie guess": spectral.to_wave(guess[0].cpu(), n_wave),
                 "clean": spectral.to_wave(s0[0].cpu(), n_wave)}, sr=spectral.SR)

# %% [markdown]
# **Question:** the trained prior sits between the naive estimate and the oracle. At which noise
# levels does it help most? The oracle is the best *linear* estimate given the true power of
# every bin, not the best estimate: could a prior that knows more than a per-bin power (the
# harmonic structure, say) ever beat it on one example?
#
# <details><summary>Answer</summary>
#
# The prior helps most at intermediate noise levels. The oracle is the optimal *linear* per-bin
# estimate given the true power; a prior that knows structure across bins (harmonics, onsets) is
# a non-linear estimator and can beat it on an example, though a small prior trained briefly
# rarely does.
#
# </details>

# %% [markdown]
# ## Tweedie along a reverse trajectory
#
# During sampling, every step already evaluates the score, so $\hat s_0$ comes for free. UDiffSE+
# (chapter 09) uses exactly these estimates to update its noise model during the single reverse
# pass. Here they are for an unconditional sample: early estimates are blurry averages, later ones
# commit to details.

# %%
n_steps = ul.size(fast=4, full=30)
n_gen = ul.size(fast=32, full=256)
rec = viz.TrajectoryRecorder()
prior_sample(prior, n_gen, cfg=SamplerConfig(n_steps=n_steps, n_samples=1),
             generator=torch.Generator(device).manual_seed(0), callback=rec, device=device)
fig, axes = viz.plot_trajectory(rec, n_panels=4, show_tweedie=True)

# %%
fig, slider = viz.step_slider(rec, show_tweedie=True)

# %% [markdown]
# ## Exercises
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** Derive the posterior variance $\sigma_s^2\sigma_t^2/(\mu_t^2 \sigma_s^2 + \sigma_t^2)$ of the Gaussian case and
# check it by Monte Carlo against `GaussianPrior.posterior_variance`, which the MSE check above used.

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Repeat the trajectory with `SamplerConfig(tweedie_mu=False)` (the reference code's estimate).
# By what factor are the early estimates too small?

# %%
# Your solution to exercise 2

# %% [markdown]
# ### Reference solutions
#
# **Exercise 1.** $s \sim \mathcal{CN}(0, \sigma_s^2)$ and $s_t = \mu_t s + \sigma_t z$ are jointly Gaussian with
# $\operatorname{Cov}(s, s_t) = \mu_t\sigma_s^2$ and $\operatorname{Var}(s_t) = \mu_t^2\sigma_s^2 + \sigma_t^2$, so
# $\operatorname{Var}(s \mid s_t) = \sigma_s^2 - \mu_t^2\sigma_s^4/(\mu_t^2\sigma_s^2 + \sigma_t^2)
# = \sigma_s^2\sigma_t^2/(\mu_t^2\sigma_s^2 + \sigma_t^2)$: the MSE of the posterior mean, which the Monte Carlo
# cell of section 2 matched at three times. **Exercise 2:**

# %%
# NBVAL_CHECK_OUTPUT
print(f"reference-code estimate at t = 1 is scaled by mu_1 = {sde.mean_factor(1.0):.2f}; "
      f"at t = 0.1 by {sde.mean_factor(0.1):.2f}")

# %% [markdown]
# ## In this chapter we
#
# * derived Tweedie's formula $\hat s_0 = (s_t + \sigma_t^2\nabla\log p_t)/\mu_t$ from the score of
#   the perturbation kernel;
# * checked it against the closed-form Wiener filter and `udiffse_lite.samplers.tweedie`;
# * measured one-step denoising with the trained prior against naive and oracle estimates;
# * watched the estimates sharpen along a reverse trajectory.
#
# Next: [06. An NMF noise model](06_nmf_noise_model.ipynb): the other half of unsupervised
# enhancement, a model of the noise learned from the noisy recording itself.
