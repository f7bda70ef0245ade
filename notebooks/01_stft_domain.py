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
# # 01 · Speech in the STFT domain
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/01_stft_domain.ipynb)
#
# **Goal:** turn a waveform into the compressed complex spectrogram that every model in this course works on, and back again without loss.
#
# ## What you will learn
#
# * what the short-time Fourier transform (STFT) of speech looks like, with physical axes;
# * why the models see a *complex* spectrogram (magnitude **and** phase);
# * amplitude compression $c \mapsto \beta |c|^\alpha e^{i\angle c}$: why, and its exact inverse;
# * how speech and noise look and sound at different signal-to-noise ratios.

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

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)

# %% [markdown]
# ## The STFT
#
# The STFT cuts the waveform into overlapping windowed frames and takes the Fourier transform
# of each. With the package's settings (SGMSE's): 16 kHz audio, a periodic Hann window of
# $N = 510$ samples, so $N/2 + 1 = 256$ frequency bins up to 8 kHz, and a hop of 128 samples
# (8 ms, 125 frames per second). Frames are *centred*: frame $j$ covers time $j \cdot 128 / 16000$ s.

# %%
ex = examples.load_example("matched-1")
y = torch.from_numpy(ex.speech)  # (L,) float32 at 16 kHz
C = spectral.stft(y)  # (256, T) complex64, not compressed
print(y.shape, C.shape, C.dtype)

# %%
# NBVAL_CHECK_OUTPUT
print("bins:", C.shape[0], "| frames:", C.shape[1],
      f"| bin spacing: {spectral.SR / spectral.N_FFT:.2f} Hz | frame rate: {spectral.DEFAULT.frame_rate:.0f} /s")

# %% [markdown]
# Each time-frequency bin is a complex number: a magnitude and a phase.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3), layout="constrained")
viz.plot_spectrogram(C, ax=axes[0], title="magnitude $|C|$")
im = axes[1].imshow(torch.angle(C).numpy(), origin="lower", aspect="auto", cmap="twilight",
                    extent=(0, C.shape[1] * spectral.HOP / spectral.SR, 0, 8))
axes[1].set(title=r"phase $\angle C$", xlabel="Time (s)", ylabel="Frequency (kHz)")
fig.colorbar(im, ax=axes[1], label="rad");

# %% [markdown]
# The phase looks like noise, yet it matters: a waveform rebuilt from the magnitude with a
# random phase sounds rough. Listen:

# %%
rand_phase = torch.exp(1j * 2 * torch.pi * torch.rand(C.shape, generator=torch.Generator().manual_seed(0)))
y_rand = spectral.istft(C.abs() * rand_phase, len(y))  # same magnitude, random phase
viz.audio_table({"original": y, "same magnitude, random phase": y_rand}, sr=ex.sr)

# %% [markdown]
# Diffusion models in the SGMSE family therefore model the complex spectrogram directly, as two
# real channels (real and imaginary parts).
#
# **Question:** why does the phase look structured in the low-frequency harmonics but random
# in the silent regions?
#
# <details><summary>Answer</summary>
#
# Where a harmonic dominates a bin, the phase advances regularly from frame to frame (by the
# harmonic's frequency times the hop), which shows as structure. In silence every bin holds low-
# level noise whose phase is uniformly random.
#
# </details>

# %% [markdown]
# The inverse STFT rebuilds the waveform exactly (the Hann window at 75 % overlap satisfies the
# overlap-add condition):

# %%
y_back = spectral.istft(C, length=len(y))
torch.testing.assert_close(y_back, y, atol=1e-5, rtol=0)
print(f"max reconstruction error: {(y_back - y).abs().max():.1e}")

# %% [markdown]
# ## Amplitude compression
#
# Speech spectrograms span a huge dynamic range: a few loud harmonics, and most bins 40–60 dB
# quieter. A network trained with a squared error would only care about the loud bins. SGMSE's
# fix is a power-law compression of the magnitude that keeps the phase:
#
# $$ \tilde c = \beta\, |c|^{\alpha}\, e^{i \angle c}, \qquad \alpha = 0.5,\ \beta = 0.15 , $$
#
# with the exact inverse $c = (|\tilde c| / \beta)^{1/\alpha} e^{i \angle \tilde c}$.
# In decibels, compression by $\alpha$ simply multiplies every level by $\alpha$: the dynamic
# range is halved. Here is a minimal version, written in front of you:

# %%
def compress(c, alpha=0.5, beta=0.15):
    mag = c.abs()
    unit = torch.where(mag > 0, c / mag.clamp_min(1e-30), torch.zeros_like(c))  # e^{i angle c}
    return beta * mag ** alpha * unit


def decompress(C, alpha=0.5, beta=0.15):
    mag = C.abs()
    unit = torch.where(mag > 0, C / mag.clamp_min(1e-30), torch.zeros_like(C))
    return (mag / beta) ** (1 / alpha) * unit


S = compress(C)  # (256, T) complex64: what the models see

# %% [markdown]
# The package's version must agree, and the round trip must be exact:

# %%
torch.testing.assert_close(S, spectral.compress(C))
torch.testing.assert_close(spectral.to_spec(y), S)
torch.testing.assert_close(decompress(S), C, rtol=1e-4, atol=1e-6)
torch.testing.assert_close(spectral.to_wave(S, len(y)), y, rtol=0, atol=1e-4)

# %%
# NBVAL_CHECK_OUTPUT
print(f"dynamic range (loudest bin / median bin): uncompressed {spectral.dynamic_range_db(C):.0f} dB, "
      f"compressed {spectral.dynamic_range_db(S):.0f} dB")
print(f"max |S| = {S.abs().max():.2f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3), layout="constrained")
for ax, (name, Z) in zip(axes, {"uncompressed |C|": C, "compressed |S|": S}.items()):
    ax.hist(20 * torch.log10(Z.abs().flatten().clamp_min(1e-8)).numpy(), bins=100, range=(-140, 40))
    ax.set(title=name, xlabel="level (dB)", ylabel="number of bins")

# %% [markdown]
# **Question:** the compressed histogram is narrower by exactly a factor of two in dB.
# Which line of `compress` is responsible?
#
# <details><summary>Answer</summary>
#
# The power law $\beta\,|c|^{\alpha}$ with $\alpha = 0.5$: in dB, $20\log_{10}|c|^{0.5} = 0.5 \times
# 20\log_{10}|c|$, so every level difference is halved; $\beta$ only shifts the histogram.
#
# </details>
#
# Move the slider to see how the exponent $\alpha$ reshapes the spectrogram (the colour scale
# covers 60 dB below the maximum in every panel, so the *contrast* is what changes).

# %%
def draw_alpha(alpha):
    fig, ax = viz.plot_spectrogram(spectral.compress(C, spectral.SpecConfig(alpha=alpha)), dynamic_range=60,
                                   title=rf"$\alpha$ = {alpha}")
    return fig


alphas = [0.25, 0.5, 0.75, 1.0]
fig, slider = viz.value_slider(draw_alpha, alphas, description="alpha", value=0.5)

# %% [markdown]
# ## Speech in noise, in the spectrogram
#
# A noisy recording is $x = s + n$; by linearity of the STFT, $X = S_{\rm lin} + N_{\rm lin}$ in
# the *uncompressed* domain (compression is not linear, which the later chapters must keep in
# mind). Listen to the same utterance in babble at three SNRs, and compare the spectrograms on
# one colour scale.

# %%
snrs = [10, 0, -5]
mixes = {snr: examples.noisy_example("matched-1", noise="babble", snr_db=snr, seed=0) for snr in snrs}
viz.audio_table({f"{snr} dB": m["x"] for snr, m in mixes.items()} | {"clean": mixes[0]["s"]})

# %%
fig, axes = viz.compare_spectrograms(
    {f"noisy, {snr} dB": spectral.to_spec(torch.from_numpy(m["x"])) for snr, m in mixes.items()}
    | {"clean": spectral.to_spec(torch.from_numpy(mixes[0]["s"]))}, ncols=4, dynamic_range=50)

# %% [markdown]
# **Question:** at $-5$ dB, can you still see the harmonics of the voice? Which frequency range
# is hit hardest by babble, and why (think about what babble is made of)?
#
# <details><summary>Answer</summary>
#
# At -5 dB only the strongest low harmonics of the vowels remain visible. Babble is the sum of
# other voices, so it is loudest where speech is, below about 3 kHz: the target's formant region
# is hit hardest, not the high frequencies.
#
# </details>

# %% [markdown]
# ## Exercises
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** Write `n_frames(n_samples, hop)`, the number of centred STFT frames of a waveform, and check
# it against `spectral.stft`. (Solution: `ch01.n_frames`.)

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Write `compress_with(c, alpha, beta)` for any exponent; verify that $\alpha = 1$, $\beta = 1$
# is the identity. (Solution: `ch01.compress_with`.)

# %%
# Your solution to exercise 2

# %% [markdown]
# **Exercise 3.** Measure the dynamic range of $|S|$ in dB for $\alpha \in \{0.25, 0.5, 1\}$: what law do you
# observe? (`spectral.dynamic_range_db` measures it, as above.)

# %%
# Your solution to exercise 3

# %% [markdown]
# ### Reference solutions

# %%
# NBVAL_CHECK_OUTPUT
from udiffse_lite.exercises import ch01  # noqa: E402  (the solutions, only now)

torch.testing.assert_close(ch01.compress_with(C, 1.0, 1.0), C)
print([f"{spectral.dynamic_range_db(ch01.compress_with(C, a)):.0f} dB" for a in (0.25, 0.5, 1.0)])

# %% [markdown]
# ## In this chapter we
#
# * took the STFT of speech (256 bins up to 8 kHz, 125 frames per second) and inverted it exactly;
# * compressed the magnitude with $\beta|c|^\alpha$, keeping the phase, which halves the dynamic
#   range in dB, and checked our 10-line version against `udiffse_lite.spectral`;
# * looked at and listened to speech in babble noise at several SNRs.
#
# Next: [02. The forward SDE](02_forward_sde.ipynb), which slowly dissolves these spectrograms
# into Gaussian noise.
