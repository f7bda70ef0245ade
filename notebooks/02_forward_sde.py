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
# # 02 · The forward SDE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/02_forward_sde.ipynb)
#
# **Goal:** define the stochastic differential equation that slowly turns a speech spectrogram into noise, derive its mean and variance, and check them by simulation.
#
# ## What you will learn
#
# * the Ornstein–Uhlenbeck variance-exploding (OU-VE) SDE used by SGMSE and UDiffSE;
# * how to derive the mean $\mu_t s$ and variance $\sigma_t^2$ of $s_t$ given $s$;
# * how to simulate an SDE with Euler–Maruyama and compare with the closed form;
# * what speech looks and sounds like as diffusion time $t$ goes from 0 to 1.

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
from udiffse_lite import examples, spectral, viz
from udiffse_lite.sde import OUVESDE, complex_randn

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)

# %% [markdown]
# ## The SDE
#
# A diffusion model destroys data gradually and learns to undo each small step. The
# *forward* process runs in a diffusion time $t \in [0, 1]$ (not the time axis of the audio!)
# and, for every time-frequency bin of the compressed spectrogram independently, follows
#
# $$ \mathrm{d}s = -\theta\, s\, \mathrm{d}t + g(t)\, \mathrm{d}w, \qquad
#    g(t) = \sigma_{\min} \Big(\frac{\sigma_{\max}}{\sigma_{\min}}\Big)^{t} \sqrt{2L}, \quad
#    L = \ln\frac{\sigma_{\max}}{\sigma_{\min}} , $$
#
# with $\theta = 1.5$, $\sigma_{\min} = 0.05$, $\sigma_{\max} = 0.5$. The drift $-\theta s$ pulls
# every bin towards 0 (Ornstein–Uhlenbeck); the noise level $g$ grows exponentially (variance
# exploding). $w$ is a *complex* Wiener process: real and imaginary parts each get half the
# variance, so that $\mathbb{E}|\mathrm{d}w|^2 = \mathrm{d}t$.

# %% [markdown]
# ## Mean and variance, derived
#
# The SDE is linear, so $s_t$ given $s_0 = s$ is Gaussian and we only need its first two moments.
#
# **Mean.** Taking expectations, $\frac{\mathrm{d}}{\mathrm{d}t}\mathbb{E}[s_t] = -\theta\,\mathbb{E}[s_t]$,
# hence $\mathbb{E}[s_t] = \mu_t\, s$ with $\mu_t = e^{-\theta t}$.
#
# **Variance.** By Itô's formula, the variance $\sigma_t^2 = \mathbb{E}|s_t - \mu_t s|^2$ obeys
# $\frac{\mathrm{d}}{\mathrm{d}t}\sigma_t^2 = -2\theta \sigma_t^2 + g(t)^2$ with $\sigma_0^2 = 0$. Multiply by $e^{2\theta t}$:
# $\frac{\mathrm{d}}{\mathrm{d}t}(e^{2\theta t} \sigma_t^2) = e^{2\theta t} g(t)^2
#  = 2L\sigma_{\min}^2 e^{2(\theta + L)t}$, since $(\sigma_{\max}/\sigma_{\min})^{2t} = e^{2Lt}$. Integrating from 0,
#
# $$ \sigma_t^2 = \sigma_{\min}^2\, e^{-2\theta t}\,\big(e^{2(\theta + L)t} - 1\big)\,\frac{L}{\theta + L} . $$
#
# So $s_t = \mu_t s + \sigma_t z$ with $z \sim \mathcal{CN}(0, 1)$: we can jump to any $t$ in one step.
# Here is that result as a minimal version:

# %%
theta, sigma_min, sigma_max = 1.5, 0.05, 0.5
L = math.log(sigma_max / sigma_min)


def mu(t):
    return torch.exp(-theta * t)


def sigma(t):
    var = sigma_min ** 2 * torch.exp(-2 * theta * t) * (torch.exp(2 * (theta + L) * t) - 1) * L / (theta + L)
    return var.sqrt()


def g(t):
    return sigma_min * (sigma_max / sigma_min) ** t * math.sqrt(2 * L)


# %% [markdown]
# and the package's `OUVESDE` must agree:

# %%
sde = OUVESDE()
ts = torch.linspace(0.0, 1.0, 101)
torch.testing.assert_close(sde.mean_factor(ts), mu(ts))
torch.testing.assert_close(sde.std(ts), sigma(ts))
torch.testing.assert_close(sde.g(ts), g(ts))

# %%
# NBVAL_CHECK_OUTPUT
print(f"mu_1 = {mu(torch.tensor(1.0)):.3f}, sigma_1 = {sigma(torch.tensor(1.0)):.3f}, "
      f"sigma(t_eps = {sde.t_eps}) = {sigma(torch.tensor(sde.t_eps)):.3f}")

# %%
fig, ax = viz.plot_curves({r"$\mu_t$": (ts, mu(ts)), r"$\sigma_t$": (ts, sigma(ts)),
                           r"$g(t)$": (ts, g(ts))}, xlabel="diffusion time t", ylabel="value",
                          title="OU-VE: signal scale and noise scale")

# %% [markdown]
# **Question:** at $t = 1$ the signal is scaled by $\mu_1 \approx 0.22$ and the noise has
# $\sigma_1 \approx 0.39$. Compressed speech has $|S| \lesssim 0.5$ (chapter 01): is there any
# speech left at $t = 1$? This is why samplers start from the *mixture plus noise* in later
# chapters rather than from pure noise.
#
# <details><summary>Answer</summary>
#
# Barely: the loudest bins become 0.22 x 0.5 = 0.11 against a noise of standard deviation 0.39,
# about -11 dB, and quiet bins are far below the noise. A trace is left, which is why a sampler
# can start from the mixture plus noise instead of pure noise and lose little.
#
# </details>

# %% [markdown]
# ## Checking by simulation: Euler–Maruyama
#
# Don't trust the algebra: simulate. Euler–Maruyama replaces $\mathrm{d}t$ by a small step $h$
# and $\mathrm{d}w$ by $\sqrt{h}\, z$, $z \sim \mathcal{CN}(0, 1)$:
# $s \leftarrow s - \theta s\, h + g(t)\sqrt{h}\, z$. We start many independent paths at $s_0 = 1$.

# %%
n_paths = ul.size(fast=4000, full=20000)
n_steps = ul.size(fast=100, full=500)
gen = torch.Generator().manual_seed(0)
s = torch.ones(n_paths, dtype=torch.complex64)
h = 1.0 / n_steps
t_grid, means, variances = [0.0], [1.0], [0.0]
for k in range(n_steps):
    t = torch.tensor(k * h)
    s = s - theta * s * h + g(t) * math.sqrt(h) * complex_randn(s.shape, gen)
    t_grid.append((k + 1) * h)
    means.append(s.mean().real.item())
    variances.append((s - s.mean()).abs().pow(2).mean().item())

# %%
tg = torch.tensor(t_grid)
fig, axes = plt.subplots(1, 2, figsize=(10, 3), layout="constrained")
viz.plot_curves({"simulated": (tg, means), r"$\mu_t$ (closed form)": (tg, mu(tg))}, ax=axes[0],
                xlabel="diffusion time t", ylabel=r"mean of $s_t$")
viz.plot_curves({"simulated": (tg, variances), r"$\sigma_t^2$ (closed form)": (tg, sigma(tg) ** 2)},
                ax=axes[1], xlabel="diffusion time t", ylabel=r"variance of $s_t$");

# %%
# NBVAL_CHECK_OUTPUT
print(f"t = 1: mean {means[-1]:.2f} (closed form {mu(torch.tensor(1.0)):.2f}), "
      f"variance {variances[-1]:.2f} (closed form {sigma(torch.tensor(1.0)) ** 2:.2f})")

# %% [markdown]
# The simulated moments follow the closed form within Monte Carlo error (a few percent with this
# many paths) and the Euler discretisation error (of order $h$).

# %% [markdown]
# ## Watching speech dissolve
#
# The package's `sde.perturb(s, t)` draws $s_t = \mu_t s + \sigma_t z$ in one go. We use the same
# $z$ for every $t$, so moving the slider shows the *same* noise growing while the speech fades.

# %%
ex = examples.load_example("matched-1")
y = torch.from_numpy(ex.speech)
S, NF = spectral.normalise(spectral.to_spec(y))  # (256, T), max|S| = 1 as the samplers see it
z = complex_randn(S.shape, torch.Generator().manual_seed(1))


def s_at(t):
    return sde.mean_factor(t) * S + sde.std(t) * z


def draw_t(t):
    fig, ax = viz.plot_spectrogram(s_at(t), vmin=-60, vmax=0, title=f"$s_t$ at t = {t}")
    return fig


fig, slider = viz.value_slider(draw_t, [0.0, 0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0], description="t",
                               value=0.2)

# %%
viz.audio_table({f"t = {t}": spectral.to_wave(s_at(t) * NF, len(y)) for t in (0.0, 0.1, 0.3, 1.0)})

# %% [markdown]
# **Question:** the quiet high-frequency bins disappear first and the loud harmonics last.
# Why? (Compare $\mu_t |S|$ with $\sigma_t$ bin by bin.) Note that even at $t = 0.03$, where the
# reverse process will stop, $\sigma_t \approx 0.02$: about $-34$ dB relative to the loudest bin.
#
# <details><summary>Answer</summary>
#
# A bin disappears when sigma_t exceeds mu_t |S|. Quiet bins need only a small sigma_t to be
# covered; the loud harmonics need a large one, reached only late in the forward process.
#
# </details>

# %% [markdown]
# ## Exercises
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** Without the closed form, integrate $\frac{\mathrm{d}}{\mathrm{d}t}\sigma_t^2 = -2\theta \sigma_t^2 + g(t)^2$ numerically and compare
# with `sde.std(t)**2`. (Solution: `ch02.variance_by_ode`.)

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** For a bin of power $P = \mathbb{E}|s|^2$, find the time at which signal and noise are equally
# strong, $\mu_t^2 P = \sigma_t^2$. When does this happen for the loudest bins ($P = 1$) and for
# bins 40 dB below ($P = 10^{-4}$)? (Solution: `ch02.time_of_unit_snr`.)

# %%
# Your solution to exercise 2

# %% [markdown]
# ### Reference solutions

# %%
# NBVAL_CHECK_OUTPUT
from udiffse_lite.exercises import ch02  # noqa: E402  (the solutions, only now)

print(f"ODE: {ch02.variance_by_ode(sde, 1.0, 2000):.4f}, closed form: {sde.std(1.0) ** 2:.4f}")
print(f"unit SNR at t = {ch02.time_of_unit_snr(sde, 1.0):.2f} (P = 1) and "
      f"t = {ch02.time_of_unit_snr(sde, 1e-4):.2f} (P = 1e-4)")

# %% [markdown]
# ## In this chapter we
#
# * defined the OU-VE SDE $\mathrm{d}s = -\theta s\,\mathrm{d}t + g(t)\,\mathrm{d}w$ on every bin;
# * derived $s_t \mid s \sim \mathcal{CN}(\mu_t s, \sigma_t^2)$ and checked it against
#   `udiffse_lite.sde.OUVESDE` and an Euler–Maruyama simulation;
# * watched and listened to speech dissolving into noise, quiet bins first.
#
# Next: [03. Score matching](03_score_matching.ipynb): learning to undo one small step of this
# process, which is all a diffusion model needs.
