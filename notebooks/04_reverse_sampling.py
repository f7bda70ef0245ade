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
# # 04 · Reverse SDE and predictor-corrector sampling
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/04_reverse_sampling.ipynb)
#
# **Goal:** run the diffusion backwards with the score, first with a Gaussian prior where the right answer is known, then with the trained speech prior.
#
# ## What you will learn
#
# * the reverse-time SDE and its Euler–Maruyama discretisation (the *predictor*);
# * the annealed Langevin *corrector* and why predictor-corrector (PC) sampling helps;
# * how to test a sampler: sample a Gaussian prior and check the variance you get back;
# * what a small speech prior generates, step by step.

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

import matplotlib.pyplot as plt
import numpy as np
import torch

import udiffse_lite as ul
from udiffse_lite import spectral, viz
from udiffse_lite.priors import GaussianPrior
from udiffse_lite.samplers import SamplerConfig, prior_sample
from udiffse_lite.sde import OUVESDE, complex_randn

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)
device = "cuda" if torch.cuda.is_available() else "cpu"
sde = OUVESDE()

# %% [markdown]
# ## The reverse-time SDE
#
# Anderson (1982): if $s_t$ follows $\mathrm{d}s = f(s, t)\,\mathrm{d}t + g(t)\,\mathrm{d}w$, the same
# marginals $p_t$ are traced backwards in time by
#
# $$ \mathrm{d}s = \big[f(s, t) - g(t)^2\, \nabla \log p_t(s)\big]\,\mathrm{d}t + g(t)\,\mathrm{d}\bar w , $$
#
# where $\mathrm{d}t < 0$ and $\bar w$ is a reverse-time Wiener process. With the score from
# chapter 03, start from the $t = 1$ marginal and integrate to $t = 0$. The Euler–Maruyama step
# from $t$ to $t - \Delta t$ is the **predictor**:
#
# $$ s \leftarrow s - \big[f(s, t) - g(t)^2\, \mathrm{score}(s, t)\big]\Delta t + g(t)\sqrt{\Delta t}\; z ,
#    \qquad z \sim \mathcal{CN}(0, 1) , $$
#
# with no noise on the very last step (it would add noise the model can no longer remove).

# %% [markdown]
# ## A prior where we know the answer
#
# For $s \sim \mathcal{CN}(0, \mathrm{diag}(\sigma_s^2))$ the score is exact (chapter 03), so any error in
# the samples is the sampler's. We give $\sigma_s^2$ a speech-like shape: loud low frequencies, quiet
# highs.

# %%
n_frames = 32
f = torch.arange(256, dtype=torch.float32)
vs = (0.2 * torch.exp(-f / 40) + 1e-3)[:, None].expand(256, n_frames)  # (256, T) per-bin variance
gauss = GaussianPrior(vs)

# %% [markdown]
# The minimal predictor-only sampler, in front of you:

# %%
def sample_minimal(prior, shape, n_steps, generator):
    sde = prior.sde
    S = sde.prior_sampling(shape, generator)  # sigma_1 z: the t = 1 marginal, up to mu_1 s
    ts = sde.timesteps(n_steps)  # 1 -> t_eps
    dts = sde.step_sizes(ts)  # the last step goes from t_eps to 0
    for i, (t, dt) in enumerate(zip(ts, dts)):
        score = prior.score(S, t)
        S = S - (-sde.theta * S - sde.g(t) ** 2 * score) * dt
        if i < n_steps - 1:
            S = S + sde.g(t) * torch.sqrt(dt) * complex_randn(S.shape, generator)
    return S


n_chains = ul.size(fast=64, book=128, full=256)
S_min = sample_minimal(gauss, (n_chains, 256, n_frames), 30, torch.Generator().manual_seed(0))

# %% [markdown]
# The package's `prior_sample` with the corrector switched off and the Euler–Maruyama predictor
# does exactly this (the package's *default* predictor is another one, for a reason shown at the
# end of the next section):

# %%
cfg = SamplerConfig(n_steps=30, n_samples=n_chains, corrector=False, predictor="euler-maruyama")
S_lib = prior_sample(gauss, n_frames, cfg=cfg, generator=torch.Generator().manual_seed(0))
torch.testing.assert_close(S_lib, S_min)

# %%
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
khz = f / 255 * 8
ax.semilogy(khz, vs[:, 0], "k", label=r"target variance $\sigma_s^2$")
ax.semilogy(khz, S_min.abs().pow(2).mean(dim=(0, 2)), label="samples: mean $|S|^2$")
ax.set(xlabel="Frequency (kHz)", ylabel="power", title="predictor only, 30 steps")
ax.legend();

# %% [markdown]
# **Question:** the samples should have $\mathbb E|S|^2 = \sigma_s^2$. Where do they deviate, and is the
# error larger for loud or for quiet bins?
#
# <details><summary>Answer</summary>
#
# The error is a discretisation error of the predictor, in the same direction for every bin;
# relative to $\sigma_s^2$ it is larger for the quiet bins, whose variance the sampler has to bring down
# furthest from sigma_1^2.
#
# </details>

# %% [markdown]
# ## Predictor-corrector sampling
#
# Discretisation errors accumulate along the reverse path. Song et al. (2021) correct them at
# each time step with a few steps of **Langevin dynamics**, which leaves $p_t$ invariant:
#
# $$ s \leftarrow s + \epsilon\, \mathrm{score}(s, t) + \sqrt{2\epsilon}\; z, \qquad
#    \epsilon = 2\,(r\,\sigma_t)^2, \quad r = 0.75 . $$
#
# (The reference code uses $\epsilon = (r\sigma_t)^2$ with $r = 0.5$; `SamplerConfig(corrector_step="reference",
# snr=0.5)` reproduces it. The package's $r = 0.75$ was chosen by enhancement on validation mixtures:
# +6.8 dB SI-SDR against +3.9 dB at $r = 0.5$, and the samplers fall apart at $r = 1$.) Each reverse step then costs two score evaluations. Compare the variance error
# with and without the corrector, for several numbers of steps:

# %%
step_counts = ul.size(fast=[5, 30], full=[5, 10, 30])


def variance_ratio(S, vs):
    """Mean over bins of the empirical E|S|^2 (over the chains) divided by the target variance."""
    return (S.abs().pow(2).mean(0) / vs).mean().item()


print("n_steps | predictor only | predictor-corrector   (mean ratio E|S|^2 / vs, ideal 1.00)")
for n in step_counts:
    r = {}
    for corr in (False, True):
        S = prior_sample(gauss, n_frames, cfg=SamplerConfig(n_steps=n, n_samples=n_chains, corrector=corr,
                                                            predictor="euler-maruyama"),
                         generator=torch.Generator().manual_seed(1))
        r[corr] = variance_ratio(S, vs)
    print(f"{n:7d} | {r[False]:14.2f} | {r[True]:19.2f}")

# %% [markdown]
# ### Few steps: when Euler–Maruyama overshoots
#
# Write the score through Tweedie's estimate (chapter 05), $\mathrm{score} = (\mu_t \hat S_0 - S)/\sigma_t^2$.
# The Euler–Maruyama step then moves the noisy part of $S$ by $-
ho\,(S - \mu_t\hat S_0)$ with
# $
ho = g(t)^2\,\Delta t / \sigma_t^2 pprox 7.6\,\Delta t$ for this SDE. Once $
ho > 1$ the
# step overshoots the target, once $
ho > 2$ it *amplifies* the error: below about six steps
# ($\Delta t > 0.26$) the sampler explodes, and an enhancer built on it outputs loud noise.
#
# The forward process itself offers a step that cannot overshoot. Both of its transitions are
# Gaussian, $s_t = a\,s_	au + b\,z$ with $a = \mu_t/\mu_	au$ and $b^2 = \sigma_t^2 - a^2\sigma_	au^2$,
# so given $s_t$ and a clean estimate $\hat s_0$ the earlier state $s_	au$ has the Gaussian
# posterior
#
# $$ s_	au \mid s_t, \hat s_0 \sim \mathcal{CN}\!\Big(rac{b^2\mu_	au\,\hat s_0 + a\,\sigma_	au^2\, s_t}{\sigma_t^2},\;
#    rac{\sigma_	au^2\, b^2}{\sigma_t^2}\Big), $$
#
# a weighted average of $\hat s_0$ and $s_t$ whatever $\Delta t$ (DDPM's *ancestral* step, written
# for this SDE). For small steps it agrees with Euler–Maruyama; `SamplerConfig(predictor="ancestral")`,
# the package's default, uses it. Compare the two at few steps:

# %%
print("n_steps | Euler-Maruyama | ancestral   (mean ratio E|S|^2 / vs, ideal 1.00)")
for n in ul.size(fast=[3, 5, 30], full=[3, 4, 5, 10, 30]):
    r = {}
    for pred in ("euler-maruyama", "ancestral"):
        S = prior_sample(gauss, n_frames, cfg=SamplerConfig(n_steps=n, n_samples=n_chains, predictor=pred),
                         generator=torch.Generator().manual_seed(1))
        r[pred] = variance_ratio(S, vs)
    print(f"{n:7d} | {r['euler-maruyama']:14.2f} | {r['ancestral']:9.2f}")

# %% [markdown]
# **Question:** at 3 steps, by how much is the Euler–Maruyama sampler's power off, and the
# ancestral one's? Which would you rather put under an enhancer that a lecturer runs live?
#
# <details><summary>Answer</summary>
#
# Euler-Maruyama is off by orders of magnitude at 3 steps (it multiplies the noise part by 1 -
# rho with rho > 2 per step); the ancestral step stays within a few tens of percent of the
# target. An enhancer built on the ancestral step degrades gracefully when someone lowers the
# steps to run live.
#
# </details>

# %% [markdown]
# ## Sampling the trained speech prior
#
# Now the shipped `tiny-ao` prior (chapter 03). Unconditional samples of a small prior trained
# on a small corpus are babble-like: speech-shaped sounds without words. Generating them is the
# best check that the prior has learned *what speech looks like*, which is all that the
# enhancement chapters need.

# %%
prior = ul.load_pretrained("tiny-ao", map_location=device)
n_steps = ul.size(fast=4, full=30)
n_gen = ul.size(fast=32, full=256)  # frames: 256 = 2 s
rec = viz.TrajectoryRecorder()
S_gen = prior_sample(prior, n_gen, cfg=SamplerConfig(n_steps=n_steps, n_samples=1),
                     generator=torch.Generator(device).manual_seed(0), callback=rec, device=device)
y_gen = spectral.to_wave(S_gen[0].cpu(), (n_gen - 1) * spectral.HOP)
print(S_gen.shape, f"{len(rec.snapshots)} snapshots recorded")

# %%
fig, axes = viz.plot_trajectory(rec, n_panels=5, title="reverse diffusion from t = 1 to 0")

# %% [markdown]
# Step through the reverse diffusion with the slider (the right panel is chapter 05's Tweedie
# estimate: where the sampler thinks it is heading).

# %%
fig, slider = viz.step_slider(rec)

# %%
viz.audio_table({"generated": y_gen})

# %% [markdown]
# **Question:** in which order do structures appear as $t$ decreases: the coarse spectral
# envelope, the harmonics, the onsets? Compare with the order in which they vanished in chapter 02.
#
# <details><summary>Answer</summary>
#
# The reverse of the forward order: the coarse envelope and the loudest harmonics appear first,
# onsets and quiet high-frequency detail last, at small t.
#
# </details>

# %% [markdown]
# ## Exercises
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** The **probability-flow ODE** $\mathrm{d}s = [f - \tfrac12 g^2 \nabla\log p_t]\,\mathrm{d}t$ has
# the same marginals as the SDE, without noise. Write one Euler step of it and a sampler,
# and check it on the Gaussian prior. (Solution: `ch04.probability_flow_step`, `ch04.ode_sample`.)

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Start the sampler from $\sigma_1 z$ but with the wrong $\sigma$ (say $2\sigma_1$). How much of
# the error does the sampler forget by $t = 0$?

# %%
# Your solution to exercise 2

# %% [markdown]
# ### Reference solutions

# %%
# NBVAL_CHECK_OUTPUT
from udiffse_lite.exercises import ch04  # noqa: E402  (the solutions, only now)

S_ode = ch04.ode_sample(gauss, (n_chains, 256, n_frames), n_steps=30, generator=torch.Generator().manual_seed(2))
print(f"probability-flow ODE, 30 steps: variance ratio {variance_ratio(S_ode, vs):.2f}")

# %% [markdown]
# Why is the ODE's ratio well below 1? With no noise injected, nothing corrects the
# discretisation error, and for a Gaussian prior that error is a pure shrinkage: each Euler step
# multiplies the state by $1 + (\theta - \tfrac12 g^2/(\mu_t^2 \sigma_s^2 + \sigma_t^2))\,\Delta t$, a first-order
# approximation of the exact factor $\sqrt{(\mu_{\tau}^2 \sigma_s^2 + \sigma_{\tau}^2)/(\mu_t^2 \sigma_s^2 + \sigma_t^2)}$.
# The error of each step is second order, but all of them have the same sign, so they add up
# over the 30 steps instead of averaging out. No sampling is needed to see it: the product of the
# 30 Euler factors, squared, times $\sigma_1^2/\sigma_s^2$, is the ratio itself.

# %%
ts, dts = gauss.sde.timesteps(30), gauss.sde.step_sizes(gauss.sde.timesteps(30))
factor = 1.0
for t, dt in zip(ts, dts):
    var_t = gauss.sde.mean_factor(t) ** 2 * 0.05 + gauss.sde.std(t) ** 2  # the marginal variance, vs = 0.05
    factor *= 1 + gauss.sde.theta * dt - 0.5 * gauss.sde.g(t) ** 2 * dt / var_t
print(f"deterministic variance ratio of 30 Euler steps of the ODE (vs = 0.05): "
      f"{float(factor ** 2 * gauss.sde.std(1.0) ** 2 / 0.05):.2f}")

# %% [markdown]
# The SDE's fresh noise and the corrector re-inject what the Euler steps remove.

# %% [markdown]
# ## In this chapter we
#
# * wrote the reverse SDE's Euler–Maruyama predictor in a dozen lines and matched it to
#   `udiffse_lite.samplers.prior_sample`;
# * tested samplers on a Gaussian prior, where the variance of the samples must equal $\sigma_s^2$, and
#   saw the Langevin corrector reduce the error;
# * generated speech-like sounds from the trained prior and watched the trajectory.
#
# Next: [05. Tweedie's formula](05_tweedie.ipynb): a denoised estimate of the clean speech at
# every step, the key ingredient of UDiffSE+.
