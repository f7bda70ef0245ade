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
# # 00 · Setup
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/00_setup.ipynb)
#
# **Goal:** get a working environment in a minute and hear the problem this course solves: speech buried in noise.
#
# ## What you will learn
#
# * how to run the chapters on Colab (GPU) or locally (CPU), and what *fast mode* is;
# * how the `udiffse_lite` package is organised, one module per concept;
# * how to load a built-in example (speech, lip video, text) and listen to it clean and noisy.

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
import platform
import time

import numpy as np
import torch

import udiffse_lite as ul
from udiffse_lite import examples, viz

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)

# %% [markdown]
# ## The environment
#
# The course needs only PyTorch and a few scientific Python packages. A GPU makes the *full*
# mode of later chapters (training a prior, sampling with 30 steps) take minutes instead of
# an hour, but nothing requires one: every computation also runs on a CPU.

# %%
device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"Python {platform.python_version()}, torch {torch.__version__}, udiffse_lite {ul.__version__}")
print(f"device: {device}" + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else ""))
print(f"size: {SIZE}")

# %% [markdown]
# On Colab, pick *Runtime → Change runtime type → GPU* before running anything.
#
# **Sizes.** Every chapter reads one switch, `ul.SIZE`, set by the environment variable
# `UDIFFSE_SIZE` before Python starts: `fast` (what continuous integration runs: seconds per
# chapter, small numbers), `book` (what the rendered book shows: the real settings, e.g. 30
# reverse steps, on a few seconds of audio, so that it runs on a 2-core CPU) and `full` (the
# default: everything at the papers' settings; a GPU helps). Knobs change right next to where
# they are defined, for example `n_steps = ul.size(fast=4, full=30)`, so you always see every
# value. Fast mode is small, never broken: its numbers are noisier, not wrong.

# %% [markdown]
# ## The package map
#
# `udiffse_lite` has one module per concept, and each module's docstring names the chapter
# that teaches it. The chapters derive a small version of each piece in front of you, then
# import the package's version and check that the two agree.

# %%
import importlib

for name in ["spectral", "sde", "priors", "unet", "training", "samplers", "nmf", "metrics",
             "visual", "examples", "viz"]:
    try:
        mod = importlib.import_module(f"udiffse_lite.{name}")
        doc = (mod.__doc__ or "").strip().splitlines()[0]
    except ImportError as e:  # a module still being written
        doc = f"(not available: {e})"
    print(f"ul.{name:9s} {doc}")

# %% [markdown]
# ## A built-in example
#
# The package ships four short utterances with a rendered video of the speaker's mouth, so
# that no chapter needs a download. Two are spoken by voices the teaching priors were trained
# on (*matched*), two by voices they never heard (*mismatched*).

# %%
# NBVAL_CHECK_OUTPUT
print(examples.list_examples())
ex = examples.load_example("matched-1")
print(ex.sr, ex.speech.shape, ex.speech.dtype, ex.lips.shape, ex.lips.dtype)
print(f"{len(ex.speech) / ex.sr:.2f} s:", repr(ex.text))

# %%
fig, ax = viz.plot_waveform(ex.speech, ex.sr, title=f"{ex.name}: {ex.text}")

# %%
fig, ax = viz.plot_spectrogram(ex.speech, ex.sr, title="clean speech (STFT magnitude)")

# %% [markdown]
# The horizontal stripes are the harmonics of the voice; the dark gaps are pauses between
# words. **Question:** where in the figure would a fricative such as the *s* of *baskets*
# appear, and why is it so different from the vowels?
#
# <details><summary>Answer</summary>
#
# A fricative is turbulent noise from a narrow constriction: it appears as a broad band of
# energy at high frequencies (above about 4 kHz for an *s*), with no harmonics, because the
# vocal folds are not (or not only) vibrating. Vowels are periodic: harmonics at multiples of
# the pitch, shaped by formants below 4 kHz.
#
# </details>

# %%
fig, ax = viz.plot_lips(ex.lips, n=8, title="the mouth at eight instants (25 frames per second)")

# %% [markdown]
# ## Speech in noise
#
# `noisy_example` mixes an utterance with a noise recording at a chosen signal-to-noise ratio
# (SNR), measured on the *active* speech, as speech-enhancement corpora do. Listen to both.

# %%
snr_db = 0
mix = examples.noisy_example("matched-1", noise="babble", snr_db=snr_db, seed=0)
viz.audio_table({"noisy (0 dB babble)": mix["x"], "clean": mix["s"]}, sr=mix["sr"])

# %%
fig, axes = viz.compare_spectrograms({"noisy": mix["x"], "clean": mix["s"]}, sr=mix["sr"])

# %% [markdown]
# Both panels share one colour scale, so equal colours mean equal levels. **Question:** which
# parts of the speech survive the babble, and which are lost?
#
# <details><summary>Answer</summary>
#
# The loud low-frequency harmonics of the vowels stay visible above the babble; the quiet parts,
# fricatives, onsets and the high-frequency bins, drown, because babble has most of its energy
# where speech has, and is louder than the quiet parts of the target.
#
# </details>
#
# The whole course is about going from the left panel to the right one *without ever training
# on such pairs*: a diffusion model learns what clean speech looks like, a small statistical
# model learns the noise of this one recording, and Bayes' rule does the rest.

# %% [markdown]
# ## Exercises
#
# Solutions: `udiffse_lite.exercises.ch00`.
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** The mixture above is at 0 dB *active-speech* SNR. Compute the *global* SNR
# $10\log_{10}\big(\sum_n s[n]^2 / \sum_n n[n]^2\big)$ of `mix["s"]` and `mix["n"]`.
# Is it higher or lower than 0 dB, and why?

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Load `"mismatched-1"` and plot its spectrogram next to `"matched-1"` with
# `viz.compare_spectrograms`. What differs between the two voices?

# %%
# Your solution to exercise 2

# %% [markdown]
# ### Reference solutions

# %%
# NBVAL_CHECK_OUTPUT
from udiffse_lite.exercises import ch00  # noqa: E402  (the solutions, only now)

print(f"global SNR: {ch00.snr_db(mix['s'], mix['n']):.1f} dB (active-speech SNR: {snr_db} dB)")

# %% [markdown]
# Pauses contain no speech but plenty of noise, so the global SNR is lower than the SNR
# measured on active speech.
#
# ## In this chapter we
#
# * checked the environment and met the size switch (`UDIFFSE_SIZE=fast|book|full`, `ul.SIZE`);
# * toured the package, one module per concept;
# * loaded a built-in utterance with its lip video and listened to it clean and in babble noise.
#
# Next: [01. Speech in the STFT domain](01_stft_domain.ipynb), where the waveform becomes the
# complex spectrogram every model in the course works on.
