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
# # 06 · The NMF noise model
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/06_nmf_noise_model.ipynb)
#
# **Goal:** model the noise of a recording as a low-rank, non-negative product
# $V = WH$ fitted with the Itakura–Saito divergence: the noise half of UDiffSE.
#
# ## What you will learn
#
# - why the Itakura–Saito (IS) divergence is *the* loss for a Gaussian variance model;
# - how the multiplicative updates of IS-NMF follow from the gradient, in ten lines;
# - that the library's `ul.nmf.NMF` is exactly those lines;
# - how fast the divergence falls, and what rank a hum, a white noise and a babble need.

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
from udiffse_lite import nmf, spectral, viz
from udiffse_lite.examples import load_noise

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)
torch.manual_seed(0)

# %% [markdown]
# ## 1. The model: noise as a Gaussian with an unknown variance per bin
#
# UDiffSE never sees clean noise. It assumes that each time–frequency bin of the noise
# spectrogram is a circular complex Gaussian with its own variance,
#
# $$N_{ft} \sim \mathcal{CN}(0, V_{ft}), \qquad p(N_{ft}) = \frac{1}{\pi V_{ft}} \exp\!\Big(-\frac{|N_{ft}|^2}{V_{ft}}\Big),$$
#
# and that the variances have structure: a few spectral shapes (the columns of $W$,
# $F \times K$) switched on and off over time (the rows of $H$, $K \times T$), $V = WH$.
#
# Let us look at a noise in the domain the samplers use: the compressed complex
# spectrogram, scaled so that its largest magnitude is 1.

# %%
seconds = ul.size(fast=1.0, full=2.04)  # 2.04 s = the 256 frames of a training crop
n_samples = int(seconds * spectral.SR)


def noise_power(kind: str) -> torch.Tensor:
    """(F, T) power |N|^2 of a built-in noise in the compressed, normalised domain."""
    n = torch.from_numpy(load_noise(kind, n_samples, seed=0))
    N, _ = spectral.normalise(spectral.to_spec(n))  # (256, T) complex
    return N.abs() ** 2


powers = {kind: noise_power(kind) for kind in ["hum", "white", "babble"]}
P = powers["babble"]

# %%
# NBVAL_CHECK_OUTPUT
print("power spectrogram (F, T):", tuple(P.shape))

# %%
viz.compare_spectrograms(powers, power=True, dynamic_range=50, title="|N|² of three noises (compressed domain)")
plt.show()
viz.audio_table({kind: load_noise(kind, n_samples, seed=0) for kind in powers}, sr=spectral.SR)

# %% [markdown]
# *Question:* which of the three noises could you describe with a single spectral
# shape that never changes over time? Which one would need shapes that come and go?
#
# <details><summary>Answer</summary>
#
# The white noise and the hum have one spectral shape scaled in time (rank 1 suffices). Babble
# is made of voices whose spectra come and go, so it needs several shapes with their own
# activations.
#
# </details>

# %% [markdown]
# ## 2. Why Itakura–Saito
#
# Maximum likelihood picks `V` to minimise the negative log-likelihood of the observed
# powers $P = |N|^2$:
#
# $$-\log p(N) = \sum_{ft} \log \pi + \log V_{ft} + \frac{P_{ft}}{V_{ft}}.$$
#
# The Itakura–Saito divergence is
#
# $$D_\mathrm{IS}(P \,|\, V) = \sum_{ft} \frac{P_{ft}}{V_{ft}} - \log\frac{P_{ft}}{V_{ft}} - 1 .$$
#
# Subtract: $-\log p(N) - D_\mathrm{IS}(P|V) = \sum_{ft} \log \pi + \log P_{ft} + 1$, which does
# not depend on `V`. **Minimising IS is maximum likelihood for a Gaussian variance model.**
# Let us check it numerically with two unrelated guesses of `V`.

# %%
def neg_log_lik(P, V):
    return (np.log(np.pi) + torch.log(V) + P / V).sum()


V1 = torch.full_like(P, P.mean().item())
V2 = torch.rand(P.shape, generator=torch.Generator().manual_seed(1)) + 0.01
gap1 = neg_log_lik(P, V1) - nmf.is_divergence(P, V1)
gap2 = neg_log_lik(P, V2) - nmf.is_divergence(P, V2)

# %%
# NBVAL_CHECK_OUTPUT
print(f"NLL - D_IS is the same for both guesses: {torch.isclose(gap1, gap2, rtol=1e-4).item()}")

# %% [markdown]
# A second property matters for audio: IS is **scale invariant**,
# $D_\mathrm{IS}(aP\,|\,aV) = D_\mathrm{IS}(P\,|\,V)$. A bin 40 dB below the loudest counts as
# much as the loudest, whereas the Euclidean distance $\sum (P - V)^2$ would only care about
# the loud bins. Speech enhancement needs the quiet bins right too.

# %%
# NBVAL_CHECK_OUTPUT
a = 1e-4  # 40 dB quieter
print(f"IS divergence, quiet / loud:        {(nmf.is_divergence(a * P, a * V1) / nmf.is_divergence(P, V1)).item():.1f}")
print(f"Euclidean distance, quiet / loud: {(((a * P - a * V1) ** 2).sum() / ((P - V1) ** 2).sum()).item():.0e}")

# %% [markdown]
# ## 3. The multiplicative updates, derived
#
# With $V = WH$, the gradient of $D_\mathrm{IS}$ with respect to $H$ is
#
# $$\nabla_H D = W^\top\big(V^{-1} - P \odot V^{-2}\big) = \underbrace{W^\top V^{-1}}_{\nabla^+} - \underbrace{W^\top (P\odot V^{-2})}_{\nabla^-},$$
#
# a difference of two non-negative terms. Gradient descent with the per-entry step
# $\eta = H / \nabla^+$ gives $H \leftarrow H - \eta(\nabla^+ - \nabla^-) = H \odot \nabla^-/\nabla^+$:
# a **multiplicative** update that keeps `H` non-negative and stands still exactly where the
# gradient vanishes. `W` is the same with the roles swapped. Raising the ratio to the power
# 1/2 gives the majorisation–minimisation version (Févotte & Idier, 2011) whose divergence
# provably never increases; the reference codes use the power 1.
#
# After each update the columns of `W` are scaled to sum to one and the scale moves into
# `H`: `W H` is unchanged, but the factors stop drifting. Here is all of it:

# %%
def my_nmf_update(P, W, H, exponent=1.0, eps=1e-10):
    """One IS-NMF update of H then W on the power P (F, T); returns the new (W, H)."""
    P = P.clamp_min(eps)
    V = (W @ H).clamp_min(eps)                                        # (F, T)
    H = H * ((W.T @ (P / V**2)) / (W.T @ (1 / V))) ** exponent         # (K, T)
    H = H.clamp_min(eps)
    V = (W @ H).clamp_min(eps)
    W = W * (((P / V**2) @ H.T) / ((1 / V) @ H.T)) ** exponent        # (F, K)
    W = W.clamp_min(eps)
    scale = W.sum(dim=0, keepdim=True)                                # (1, K)
    return W / scale, H * scale.T


# %% [markdown]
# The library's `ul.nmf.NMF` keeps `W` and `H` as state and does one warm-started update
# per call (the samplers call it once per EM iteration or every other reverse step).
# Same initialisation, same five updates: the two must agree.

# %%
# NBVAL_CHECK_OUTPUT
rank = 4
model = nmf.NMF(*P.shape, rank=rank, generator=torch.Generator().manual_seed(0))
W, H = model.W.clone(), model.H.clone()
for _ in range(5):
    model.update(P)
    W, H = my_nmf_update(P, W, H)
torch.testing.assert_close(W, model.W)
torch.testing.assert_close(H, model.H)
print("my_nmf_update == ul.nmf.NMF.update: ok")

# %% [markdown]
# ## 4. The divergence falls
#
# We fit the babble from the same random start with both exponents and record the
# divergence per time–frequency bin after every update.

# %%
n_iter = ul.size(fast=30, full=100)  # updates


def fit(P, rank, exponent, n_iter, seed=0, track=True):
    """Fit an NMF; return it and the divergence per bin after each update (only the last if not track)."""
    m = nmf.NMF(*P.shape, rank=rank, generator=torch.Generator().manual_seed(seed), exponent=exponent)
    curve = [nmf.is_divergence(P, m.V).item() / P.numel()] if track else []
    for _ in range(n_iter):
        m.update(P)
        if track:
            curve.append(nmf.is_divergence(P, m.V).item() / P.numel())
    return m, curve if track else [nmf.is_divergence(P, m.V).item() / P.numel()]


curves = {g: fit(P, rank, g, n_iter)[1] for g in (1.0, 0.5)}
viz.plot_curves({f"exponent {g}" + (" (reference codes)" if g == 1.0 else " (MM, monotone)"):
                 (np.arange(len(c)), c) for g, c in curves.items()},
                xlabel="NMF update", ylabel="D_IS per bin", title=f"babble, rank {rank}", logy=True)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print(f"MM curve never increases: {bool(np.all(np.diff(curves[0.5]) <= 1e-6))}")

# %% [markdown]
# *Question:* the exponent-1 curve falls faster. Why might the reference codes accept
# an update without a monotonicity guarantee? (Hint: inside the samplers the power `P`
# changes between two updates anyway.)
#
# <details><summary>Answer</summary>
#
# Each sampler step changes the target P, so monotonic descent on one fixed P is not what
# matters; a faster update that tracks a moving target is worth more than a guarantee on a
# target that changes anyway.
#
# </details>
#
# Notice that the divergence does not go to zero. `P` is *one* realisation of a random
# variable around `V`: even the true variance leaves a floor. A rank high enough to push
# below that floor is fitting the randomness of this particular recording, not the noise.

# %% [markdown]
# ## 5. What rank does a noise need?
#
# Fit each noise with ranks 1 to 8 (16 in the full run) and compare the divergence left.

# %%
ranks = ul.size(fast=[1, 2, 4, 8], full=[1, 2, 4, 8, 16])
fits = {kind: {K: fit(p, K, 0.5, n_iter, track=False) for K in ranks} for kind, p in powers.items()}
left = {kind: [fits[kind][K][1][-1] for K in ranks] for kind in powers}
fig, ax = viz.plot_curves({kind: (ranks, d) for kind, d in left.items()}, xlabel="rank K",
                          ylabel="D_IS per bin after fitting")
ax.set(xscale="log", xticks=ranks, xticklabels=ranks)
plt.show()

# %%
for kind, d in left.items():
    print(f"{kind:7s}", " ".join(f"K={K}: {v:.2f}" for K, v in zip(ranks, d)))

# %% [markdown]
# *Question:* the hum and the white noise hardly improve beyond rank 1: why? The babble
# drops by a factor of two from rank 1 to 4: what do its extra components capture? (Listen to
# `load_noise("babble")` if you are unsure.) The small gains of the stationary noises at high
# rank are the floor of section 4 being eaten into: fitting this recording's randomness. The
# papers use rank 4 for every noise: a compromise.
#
# <details><summary>Answer</summary>
#
# A stationary noise is one spectral shape at a constant level: rank 1 captures it, more
# components only fit the random fluctuations. Babble's extra components capture the spectra of
# different talkers and syllables coming and going.
#
# </details>

# %% [markdown]
# ## 6. Look at the factors: a rank slider
#
# Move the slider and watch the model `W H` (middle) approach the observed babble power
# (left, same colour scale) while the spectral patterns `W` (right) multiply.

# %%
f_khz = np.linspace(0, spectral.SR / 2000, P.shape[0])


def show_rank(K):
    m = fits["babble"][K][0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), layout="constrained",
                             gridspec_kw=dict(width_ratios=[3, 3, 2]))
    viz.compare_spectrograms({"observed |N|² (babble)": P, f"model W H, rank {K}": m.V},
                             axes=axes[:2], power=True, dynamic_range=50)
    axes[2].plot(f_khz, 10 * np.log10(m.W.numpy()))
    axes[2].set(title="columns of W", xlabel="Frequency (kHz)", ylabel="dB")
    return fig


viz.value_slider(show_rank, ranks, description="rank", value=4);

# %% [markdown]
# *Question:* at rank 1, what does the single column of `W` look like, and what is its row of `H`?
#
# <details><summary>Answer</summary>
#
# The column of W is the noise's average spectrum (normalised to sum 1), and the row of H is its
# level over time: frame by frame, the total noise power.
#
# </details>

# %% [markdown]
# ## Exercises
#
# Solutions: `udiffse_lite/exercises/ch06.py`, imported only in the last section.
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** Write the IS divergence yourself and check its scale invariance for three values of `a`.

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Write one multiplicative update as a function `(P, W, H, exponent) -> (W, H)` without
# looking above, and check it against `ul.nmf.NMF.update`.

# %%
# Your solution to exercise 2

# %% [markdown]
# **Exercise 3.** Write `divergence_per_rank(P, ranks, n_iter)` and use it to find the smallest rank that
# gets within 10 % of the rank-8 divergence for each noise. Try `"traffic"` and `"clatter"`.

# %%
# Your solution to exercise 3

# %% [markdown]
# ### Reference solutions

# %%
from udiffse_lite.exercises import ch06  # noqa: E402  (the solutions, only now)

# Exercise 1, checked with the solution
for a in (1e-3, 1.0, 1e3):
    torch.testing.assert_close(ch06.is_divergence(a * P, a * V1), nmf.is_divergence(P, V1), rtol=1e-4, atol=0)
# Exercise 3, with the solution
per_rank = ch06.divergence_per_rank(powers["babble"], ranks=(1, 4), n_iter=ul.size(fast=20, full=40))
print({K: round(v, 1) for K, v in per_rank.items()})

# %% [markdown]
# ## In this chapter we …
#
# - saw that minimising the Itakura–Saito divergence is maximum likelihood for
#   `N ~ CN(0, V)`, and that it weighs quiet bins as much as loud ones;
# - derived the multiplicative updates from the split gradient and matched `ul.nmf.NMF`;
# - watched the divergence fall to a floor set by the randomness of one recording;
# - found that stationary noises need rank 1 while babble keeps using more.
#
# Next, [07 · Measuring enhancement](07_evaluation.ipynb) sets up the yardsticks; then
# [08 · Posterior sampling and UDiffSE](08_posterior_udiffse.ipynb) puts this noise model next
# to a diffusion prior for speech and alternates between them.
