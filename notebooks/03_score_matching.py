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
# # 03 · Score matching
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/03_score_matching.ipynb)
#
# **Goal:** learn the score $\nabla \log p_t$ of diffused speech with denoising score matching, train a small speech prior in front of you, then load the shipped one.
#
# ## What you will learn
#
# * why the score of the *perturbation kernel* is a regression target we can compute;
# * the denoising score-matching (DSM) loss and the noise-prediction parametrisation
#   $\nabla\log p_t = -\mathrm{net}/\sigma_t$;
# * the smallest loss any network can reach, computed in closed form for a Gaussian prior;
# * how to train the package's U-Net on a few speech crops, save it as a prior and load a trained one.

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
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import udiffse_lite as ul
from udiffse_lite import examples, spectral, viz
from udiffse_lite.priors import GaussianPrior, ScorePrior
from udiffse_lite.sde import OUVESDE, complex_randn
from udiffse_lite.training import dsm_loss, score_dsm_loss
from udiffse_lite.unet import ScoreUNet, UNetConfig

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)
device = "cuda" if torch.cuda.is_available() else "cpu"
sde = OUVESDE()

# %% [markdown]
# ## From the SDE to a regression problem
#
# To run the SDE of chapter 02 backwards (chapter 04) we need the **score** of the diffused
# speech distribution, $\nabla \log p_t(s_t)$, at every $t$. We cannot write $p_t$ down, but we
# can write down the kernel: $p(s_t \mid s) = \mathcal{CN}(\mu_t s, \sigma_t^2)$, whose score is
#
# $$ \nabla_{s_t} \log p(s_t \mid s) = -\frac{s_t - \mu_t s}{\sigma_t^2} = -\frac{z}{\sigma_t}
#    \quad\text{for } s_t = \mu_t s + \sigma_t z . $$
#
# **Which gradient of a function of a complex variable?** $\log p$ is real but $s_t$ is complex.
# Here, as in SGMSE and UDiffSE, $\nabla_s f$ means the Wirtinger derivative
# $\partial f/\partial \bar s = \tfrac12(\partial_{\mathrm{Re}\,s} + i\,\partial_{\mathrm{Im}\,s})f$, so that the
# score of $\mathcal{CN}(0, \sigma_s^2)$ (density $\propto e^{-|s|^2/\sigma_s^2}$, real and imaginary parts each of
# variance $\sigma_s^2/2$) is exactly $-s/\sigma_s^2$. The gradient with respect to the real pair
# $(\mathrm{Re}\,s, \mathrm{Im}\,s)$, read as a complex number, is twice that, $-2s/\sigma_s^2$:
# `torch.autograd` returns this real-pair gradient, which is why chapter 08 halves it.
#
# Score matching itself is due to Hyvärinen (2005); Vincent (2011) showed that regressing a network
# onto this *conditional* score, averaged over
# clean speech $s$, $t \sim \mathcal U(t_\varepsilon, 1)$ and $z$, has the same minimiser as
# regressing onto the unknown marginal score: the best guess of $-z/\sigma_t$ given only $s_t$ is
# $\nabla\log p_t(s_t)$. Weighting by $\sigma_t^2$ gives the DSM loss used by SGMSE and UDiffSE:
#
# $$ \mathcal L = \mathbb E\, \big|\sigma_t\, \mathrm{score}_\phi(s_t, t) + z\big|^2
#    = \mathbb E\, \big|z - \mathrm{net}_\phi(s_t, t)\big|^2
#    \quad\text{with}\quad \mathrm{score}_\phi = -\mathrm{net}_\phi/\sigma_t . $$
#
# The network predicts the noise. A network that outputs 0 scores $\mathbb E|z|^2 = 1$.
# Here is the whole loss, as a minimal version:

# %%
def dsm_loss_minimal(net, s, t, generator):
    """s: (B, F, T) complex clean spectrograms; t: (B,) diffusion times."""
    mu = sde.mean_factor(t)[:, None, None]
    sigma = sde.std(t)[:, None, None]
    z = complex_randn(s.shape, generator, s.device)
    s_t = mu * s + sigma * z  # (B, F, T)
    out = net(torch.stack([s_t.real, s_t.imag], dim=1), t)  # (B, 2, F, T)
    return (torch.stack([z.real, z.imag], dim=1) - out).pow(2).sum(dim=1).mean()


# %% [markdown]
# ## The network
#
# The package's `ScoreUNet` is an NCSN++M-like U-Net over two channels (real and imaginary parts
# of the compressed spectrogram) with a Fourier embedding of $\log t$ (chapter-level details
# live in its docstring). The `tiny` tier runs on a CPU.

# %%
torch.manual_seed(0)
net = ScoreUNet(UNetConfig.tier("tiny")).to(device)
print(f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters, "
      f"time axis must be a multiple of {net.downsample_factor}")

# %% [markdown]
# Our loss and the package's `training.dsm_loss` must agree when they draw the same noise:

# %%
n_frames = ul.size(fast=32, full=128)  # a multiple of the U-Net's down-sampling factor
speech = [torch.from_numpy(examples.load_example(n).speech) for n in ("matched-1", "matched-2")]
S_full = [spectral.to_spec(y) for y in speech]  # (256, T) each


def random_crops(batch, generator):
    """Random crops of n_frames frames, each scaled to max|S| = 1 (the scale the samplers use)."""
    out = []
    for _ in range(batch):
        S = S_full[int(torch.randint(len(S_full), (1,), generator=generator))]
        j = int(torch.randint(S.shape[-1] - n_frames, (1,), generator=generator))
        out.append(spectral.normalise(S[:, j:j + n_frames])[0])
    return torch.stack(out).to(device)  # (B, 256, n_frames)


gen = torch.Generator().manual_seed(0)
s = random_crops(2, gen)
t = torch.tensor([0.1, 0.7], device=device)
with torch.no_grad():
    mine = dsm_loss_minimal(net, s, t, torch.Generator(device).manual_seed(1))
    lib = dsm_loss(net, sde, s, t=t, generator=torch.Generator(device).manual_seed(1))
torch.testing.assert_close(mine, lib)
print(f"DSM loss of the untrained network: {lib:.2f}")

# %% [markdown]
# ## How low can the loss go?
#
# The loss never reaches 0: given $s_t$ alone, $z$ cannot be known exactly. For a Gaussian
# prior $s \sim \mathcal{CN}(0, \sigma_s^2)$ everything is explicit: the best network outputs
# $\mathbb E[z \mid s_t] = \sigma_t s_t / (\mu_t^2 \sigma_s^2 + \sigma_t^2)$ and leaves the loss
# $\mu_t^2 \sigma_s^2 / (\mu_t^2 \sigma_s^2 + \sigma_t^2)$. Large $t$ (noise dominates): close to 0; small $t$:
# close to 1. Check it with the package's `GaussianPrior`, whose exact score plays the network:

# %%
vs = torch.full((256, 64), 0.05)  # the variance of every bin
gauss = GaussianPrior(vs)
s_gauss = vs.sqrt() * complex_randn((64, 256, 64), torch.Generator().manual_seed(2))
for t in (0.05, 0.3, 1.0):
    mc = score_dsm_loss(gauss.score, sde, s_gauss, t, torch.Generator().manual_seed(3))
    floor = gauss.dsm_floor(t).mean()
    print(f"t = {t:4.2f}: Monte Carlo {mc:.3f}, closed form {floor:.3f}")

# %% [markdown]
# **Question:** a speech prior's loss curve will therefore be *highest at small t*. Why are the
# small-$t$ steps nevertheless the ones that decide the fine detail of the generated speech?
#
# <details><summary>Answer</summary>
#
# At small t the noise is smaller than the fine structure (harmonics, onsets, quiet bins), so
# only there does the network decide it; the loss is high because predicting a tiny noise z from
# s_t is hard when the signal dominates, but that is exactly where detail is made. At large t
# the network only needs the coarse envelope.
#
# </details>

# %% [markdown]
# ## Training a small speech prior, in front of you
#
# A plain loop: random crops, random $t$, the DSM loss, AdamW. (The package's `training.Trainer`
# does the same with an exponential moving average of the weights, gradient clipping, mixed
# precision, checkpoints and multi-GPU; `python -m udiffse_lite train` is its command line.)
# Fast mode takes a handful of steps to show the mechanics; the full mode takes a few hundred
# on a GPU, still far from a good prior (the shipped one trained for much longer).

# %%
n_train_steps = ul.size(fast=3, book=20, full=300)
batch = ul.size(fast=2, full=8)
torch.manual_seed(0)
net = ScoreUNet(UNetConfig.tier("tiny")).to(device)
opt = torch.optim.AdamW(net.parameters(), lr=2e-4)
gen = torch.Generator().manual_seed(0)
losses, t0 = [], time.perf_counter()
for step in range(n_train_steps):
    loss = dsm_loss(net, sde, random_crops(batch, gen))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    losses.append(loss.item())
print(f"{n_train_steps} steps in {time.perf_counter() - t0:.1f} s on {device}; last loss {losses[-1]:.3f}")

# %%
steps = np.arange(1, len(losses) + 1)
win = min(20, max(1, len(losses) // 4))  # running-mean window: 20 steps, fewer in a short run
smooth = np.convolve(losses, np.ones(win) / win, mode="valid")
fig, ax = viz.plot_curves({"loss": (steps, losses), "running mean": (steps[len(steps) - len(smooth):], smooth)},
                          xlabel="training step", ylabel="DSM loss", title="training the tiny prior")

# %% [markdown]
# A network with its SDE is a *prior* (`ScorePrior`): something with `.sde` and
# `.score(s_t, t)`, which is all the samplers need. It saves to one checkpoint file:

# %%
prior_small = ScorePrior(net.eval(), sde)
path = prior_small.save(Path(tempfile.mkdtemp()) / "my_prior.pt", steps=n_train_steps)
reloaded = ScorePrior.from_checkpoint(path, map_location=device)
x = random_crops(1, torch.Generator().manual_seed(5))
with torch.no_grad():
    torch.testing.assert_close(reloaded.score(x, 0.5), prior_small.score(x, 0.5))

# %% [markdown]
# ## The shipped prior
#
# The package ships `tiny-ao`, the same architecture trained on the teaching corpus (clean
# speech only, never a noisy example) for much longer. Compare its loss with our short run,
# on speech from a voice neither has heard, at several diffusion times.

# %%
prior = ul.load_pretrained("tiny-ao", map_location=device)
print({k: prior.meta[k] for k in list(prior.meta)[:6]})

# %%
held_out = spectral.to_spec(torch.from_numpy(examples.load_example("mismatched-1").speech))
s_test = torch.stack([spectral.normalise(held_out[:, j:j + n_frames])[0]
                      for j in (60, 60 + n_frames)]).to(device)  # (2, 256, n_frames)
t_eval = ul.size(fast=[0.1, 0.5], full=[0.05, 0.2, 0.5, 0.9])
curves = {}
with torch.no_grad():
    for name, p in {"our short run": prior_small, "shipped tiny-ao": prior}.items():
        curves[name] = (t_eval, [score_dsm_loss(p.score, sde, s_test, t, torch.Generator(device).manual_seed(7)).item()
                                 for t in t_eval])
fig, ax = viz.plot_curves(curves, xlabel="diffusion time t", ylabel="DSM loss", title="held-out voice")

# %% [markdown]
# **Question:** where (in $t$) does the trained prior gain most over the untrained one? Compare
# with the Gaussian floor above.
#
# <details><summary>Answer</summary>
#
# Mostly at intermediate and large t, where knowing what speech looks like (harmonic structure,
# envelopes) lets the network separate signal from noise; at very small t both are near the
# floor set by the unpredictable noise.
#
# </details>
#
# What has the network learned? Rearranging $s_t = \mu_t s + \sigma_t z$ with the predicted noise
# gives a guess of the clean spectrogram, $(s_t - \sigma_t\,\mathrm{net})/\mu_t$ — chapter 05 shows
# this is Tweedie's formula. Slide through $t$:

# %%
s0 = s_test[:1]
z = complex_randn(s0.shape, torch.Generator(device).manual_seed(11), device)


def draw_guess(t):
    s_t = sde.mean_factor(t) * s0 + sde.std(t) * z
    with torch.no_grad():
        guess = (s_t + sde.std(t) ** 2 * prior.score(s_t, t)) / sde.mean_factor(t)
    fig, axes = viz.compare_spectrograms({f"$s_t$, t = {t}": s_t[0], "network's guess of $s_0$": guess[0],
                                          "clean $s_0$": s0[0]}, vmin=-60, vmax=0)
    return fig


fig, slider = viz.value_slider(draw_guess, [0.05, 0.1, 0.2, 0.4, 0.7, 1.0], description="t", value=0.2)

# %% [markdown]
# ## Exercises
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** Show that the optimal network for a Gaussian prior leaves the loss
# $\mu_t^2 \sigma_s^2/(\mu_t^2 \sigma_s^2 + \sigma_t^2)$ (the floor `GaussianPrior.dsm_floor` printed above):
# derive $\mathbb E[z \mid s_t]$, write it as a function `optimal_noise_prediction(s_t, t, sde, vs)`,
# and check by Monte Carlo that its loss is the floor. (Solution: `ch03.optimal_noise_prediction`.)

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Train with $t$ drawn only from $[0.5, 1]$. What happens to the loss at $t = 0.1$, and what
# would that do to the fine detail of generated speech?

# %%
# Your solution to exercise 2

# %% [markdown]
# ### Reference solutions

# %% [markdown]
# **Exercise 1.** $s_t = \mu_t s + \sigma_t z$ with $s \sim \mathcal{CN}(0, \sigma_s^2)$ and
# $z \sim \mathcal{CN}(0, 1)$ independent, so $(z, s_t)$ is jointly Gaussian with
# $\operatorname{Cov}(z, s_t) = \sigma_t$ and $\operatorname{Var}(s_t) = \mu_t^2\sigma_s^2 + \sigma_t^2$. Hence
# $\mathbb E[z \mid s_t] = \sigma_t s_t / (\mu_t^2\sigma_s^2 + \sigma_t^2)$ and the loss left is
# $\operatorname{Var}(z \mid s_t) = 1 - \sigma_t^2/(\mu_t^2\sigma_s^2 + \sigma_t^2) = \mu_t^2\sigma_s^2/(\mu_t^2\sigma_s^2 + \sigma_t^2)$.

# %%
# NBVAL_CHECK_OUTPUT
from udiffse_lite.exercises import ch03  # noqa: E402  (the solutions, only now)

for t in (0.05, 0.3, 1.0):
    s_t, z = sde.perturb(s_gauss, t, torch.Generator().manual_seed(4))
    loss = (z - ch03.optimal_noise_prediction(s_t, t, sde, 0.05)).abs().pow(2).mean()
    print(f"t = {t:4.2f}: loss of E[z | s_t] {loss:.3f}, floor {gauss.dsm_floor(t).mean():.3f}")

# %% [markdown]
# ## In this chapter we
#
# * turned score estimation into noise regression: $\mathcal L = \mathbb E|z - \mathrm{net}(s_t, t)|^2$;
# * checked our 8-line loss against `udiffse_lite.training.dsm_loss`;
# * computed the loss floor of a Gaussian prior in closed form;
# * trained the tiny U-Net for a few steps, saved and reloaded it, and compared it with the
#   shipped `tiny-ao` prior.
#
# Next: [04. Reverse SDE and predictor-corrector sampling](04_reverse_sampling.ipynb): the score
# turns noise back into speech.
