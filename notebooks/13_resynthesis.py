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
# # 13 · Re-synthesis: generating clean speech from what the noise cannot hide
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/13_resynthesis.ipynb)
#
# **Goal:** instead of cleaning the noisy recording, *describe* it with features the noise cannot
# change, then generate clean speech from that description with a diffusion model (AV2Wav, Chou
# et al., 2023, in miniature).
#
# ## What you will learn
#
# - what makes a feature noise-robust, measured: the distance between the features of clean and
#   noisy speech, with and without the lips, against an untrained encoder;
# - to estimate a recording's quality without its clean reference (a neural quality estimator),
#   and what such an estimator is for: choosing clean training data from a noisy pool;
# - how a diffusion generator is made to *listen* to its conditioning (an envelope it must predict);
# - to listen to re-synthesis beside AV-UDiffSE+ and say what each keeps: the words, the voice,
#   the phase.

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
from udiffse_lite.examples import load_example, noisy_example
from udiffse_lite.quality import load_quality_estimator
from udiffse_lite.resynthesis import _lip_features
from udiffse_lite.robust_features import RobustAVEncoder, load_robust_encoder

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)
torch.manual_seed(0)

# %% [markdown]
# ## 1. Two ways to clean a recording
#
# Every chapter so far *cleaned* the mixture: the posterior $p(S \mid X)$ keeps whatever in $X$ the
# speech prior finds plausible, so the output's phase and fine timing are the recording's own. Its
# weakness is the other side of that: where the noise hides the speech (a consonant under a
# clatter, a whole word at -5 dB) there is nothing left to keep.
#
# Re-synthesis goes the other way round. An encoder turns the noisy audio and the lips into
# features $f$, one 128-dimensional vector every 40 ms, trained to say the same thing whether the
# input is clean or noisy, with or without video; a diffusion model trained on clean speech only
# learns $p(S \mid f)$ and *generates* a new recording from its own noise, never from the mixture.
# What the features carry (the phones, their timing, roughly the voice) comes back clean; what they
# do not (the phase, the exact level, timing finer than 40 ms) is made up.
#
# ## 2. Features the noise cannot change
#
# The course's encoder (`robust_features.RobustAVEncoder`, trained with `make robust-av`) sees five
# 40-band log-mel frames and the lip encoder's 64 features per video frame. Training shows it every
# crop in one view at random (audio and video, audio only, video only; most with a noise at -5 to
# 20 dB) and asks for the *same* targets in every view: the k-means cluster of the clean frame
# (HuBERT's first iteration), the phone, and features close to those of the clean view. So the
# invariance is trained, not hoped for. Measured here on an unseen sentence: the relative distance
# $\lVert f(\text{view}) - f(\text{clean AV}) \rVert / \lVert f(\text{clean AV}) \rVert$, for the trained encoder and an
# untrained one of the same shape.

# %%
enc = load_robust_encoder()
untrained = RobustAVEncoder(enc.config).eval()  # the same shape, random weights
for name in ("centroids", "feat_mean", "feat_std"):  # the same input normalisation
    getattr(untrained, name).copy_(getattr(enc, name))
ex = load_example("matched-2")
n_v = spectral.expected_video_frames(len(ex.speech))
lipf = _lip_features(ex.lips, n_v)  # (T_v, 64): chapter 10's first lip reader, which this encoder was trained on


def relative_distance(e, y, lips):
    ref = e.features(ex.speech, lipf)
    f = e.features(y, lips)
    return float(((f - ref).norm(dim=-1) / ref.norm(dim=-1)).mean())


views = {"clean, audio only": (ex.speech, None), "video only": (None, lipf)}
for snr in (5, 0, -5):
    x = noisy_example("matched-2", noise="traffic", snr_db=snr, seed=0)["x"]
    views[f"traffic {snr:+d} dB, audio + lips"] = (x, lipf)
    views[f"traffic {snr:+d} dB, audio only"] = (x, None)
dist = {k: (relative_distance(enc, *v), relative_distance(untrained, *v)) for k, v in views.items()}
print("relative distance to the features of the clean speech with its lips (0 = invariant)")
for k, (d, d0) in dist.items():
    print(f"{k:30s} trained {d:.2f}   untrained {d0:.2f}")

# %%
fig, ax = plt.subplots(figsize=(8, 3.2))
ypos = np.arange(len(dist))
ax.barh(ypos + 0.2, [d0 for _, d0 in dist.values()], 0.4, color="0.7", label="untrained encoder")
ax.barh(ypos - 0.2, [d for d, _ in dist.values()], 0.4, color="C0", label="trained encoder")
ax.set_yticks(ypos, list(dist))
ax.invert_yaxis()
ax.set(xlabel="relative distance to the clean audio-visual features (0 = invariant)")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# *Question:* at -5 dB the features of the noisy input with lips are much closer to the clean ones
# than without them. Why does the encoder lean on the lips there, when the speech priors of
# chapters 10 and 11 had to be forced (FiLM, guidance) to use them at all?
#
# <details><summary>Answer</summary>
#
# The encoder's task is to name the clean frame's cluster and phone from a noisy view, and at
# -5 dB the audio alone cannot do that: the lips are the only reliable witness, so training
# rewards using them. A speech prior trained on *clean* crops never needs the lips: the audio
# state already tells it everything about the clean speech at small $t$, and that is where most of
# its loss is.
#
# </details>
#
# ## 3. Judging quality without the clean reference
#
# AV2Wav trains its generator on a large corpus that is partly noisy, keeping only what a *neural
# quality estimator* (NQE) judges nearly clean. The course's estimator
# (`quality.QualityNet`, `make nqe`) hears 2 s of a recording and predicts its SI-SDR and PESQ-WB
# against a clean reference it never sees; it was trained on corpus sentences passed through random
# noise, reverberation, clipping and band-limiting. Here it judges the built-in examples, degraded
# in ways it was trained on, against the true scores:

# %%
nqe = load_quality_estimator()
rng = np.random.default_rng(0)
noises = ["white", "babble", "traffic", "clatter", "ventilation"]
n_items = ul.size(fast=16, book=30, full=60)
pred, true = [], []
for i in range(n_items):
    name = ["matched-1", "matched-2", "mismatched-1", "mismatched-2"][i % 4]
    snr = float(rng.uniform(-5, 25))
    d = noisy_example(name, noise=noises[i % len(noises)], snr_db=snr, seed=i)
    L = 2 * d["sr"]
    x, s = d["x"][:L], d["s"][:L]
    p = nqe.predict(x, d["sr"])
    pred.append((p["si_sdr"], p["pesq"]))
    true.append((metrics.si_sdr(x, s), metrics.pesq(x, s, d["sr"])))
pred, true = np.array(pred), np.array(true)
r = [float(np.corrcoef(pred[:, j], true[:, j])[0, 1]) for j in range(2)]
print(f"{n_items} degraded crops: Pearson correlation of the estimate with the true SI-SDR {r[0]:.2f}, "
      f"with the true PESQ-WB {r[1]:.2f}")
fig, axs = plt.subplots(1, 2, figsize=(8, 3.2))
for j, (ax, label) in enumerate(zip(axs, ["SI-SDR (dB)", "PESQ-WB"])):
    ax.scatter(true[:, j], pred[:, j], s=14)
    lo, hi = min(true[:, j].min(), pred[:, j].min()), max(true[:, j].max(), pred[:, j].max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set(xlabel=f"true {label}", ylabel=f"estimated {label}", title=f"r = {r[j]:.2f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# On 300 held-out crops with all four kinds of degradation its correlations are 0.90 (SI-SDR) and
# 0.94 (PESQ-WB) (`docs/resynthesis.md`, section 2). Here, with noise alone and four sentences, the
# spread of true scores is narrower and the PESQ-WB estimate in particular is looser: good enough
# to sort a pool into "nearly clean" and "noisy", which is the job AV2Wav gives it, not to grade a
# single recording.
#
# *Question:* the estimator never hears the clean reference. What in a noisy recording can still
# tell it how far the recording is from clean?
#
# <details><summary>Answer</summary>
#
# What clean speech does not have: energy in the pauses between words, a noise floor under the
# harmonics, a spectrum cut off above some frequency, flattened peaks. It learned from thousands of
# degraded crops what speech alone looks like, so what is left over is the degradation.
#
# </details>
#
# ## 4. A generator that listens
#
# The synthesiser is chapter 03's score U-Net trained on clean speech only, with the features as
# its condition (recipe `tiny-resynth`). The first attempts did not listen: a network that gets the
# features only through FiLM (a per-channel scale and shift) learned to generate speech-like noise
# and left its one-step estimate unchanged by the features (`docs/resynthesis.md`). FiLM can say
# *when* there is speech but not *which frequency bins* hold its energy, and a U-Net trained from an
# audio-only prior had no reason to start asking.
#
# The version that listens adds a small *envelope head*: from each feature frame it predicts the
# log-magnitude of the five STFT frames it covers, trained with its own regression loss against the
# clean spectrogram. Even that was not enough while the U-Net predicted the noise $z$: at large $t$
# such a network barely uses its condition, and what it invents there survives to $t = 0$ as a
# noise floor. So the envelope also sets the network's *preconditioning* (chapter 05's EDM
# parametrisation with a per-bin $\sigma_{\text{data}}$): the denoiser is
#
# $$ D(x) = c_{\text{skip}}\,\frac{x}{\mu_t} + c_{\text{out}}\,F_\theta(\cdot), \qquad
#    c_{\text{skip}} = \frac{e^2}{\sigma'^2 + e^2},\; c_{\text{out}} = \frac{\sigma' e}{\sqrt{\sigma'^2 + e^2}},
#    \;\sigma' = \sigma_t / \mu_t, $$
#
# with $e$ the predicted magnitude of each bin. A body $F_\theta$ that outputs zero is then exactly
# the denoiser of the Gaussian $\mathcal{CN}(0, e^2)$: where the features say silence, everything
# is removed from the first step. Here is what the head predicts from the features of the clean
# speech, of the noisy speech with the lips, and of the noisy speech alone:

# %%
synth = ul.load_pretrained("tiny-resynth")
d = noisy_example("matched-2", noise="traffic", snr_db=ul.size(fast=0.0, full=-5.0), seed=0)
L = int(ul.size(fast=2.0, book=3.0, full=4.0) * d["sr"])  # seconds of the 4.1 s sentence
x, s = d["x"][:L], d["s"][:L]
S = spectral.normalise(spectral.to_spec(torch.from_numpy(s)))[0]
T = S.shape[-1]
feats = {"clean speech": enc.features(s, lipf), "noisy, with lips": enc.features(x, lipf),
         "noisy, audio only": enc.features(x, None)}
with torch.no_grad():
    env = {k: synth.net.envelope(f[None], T)[0] for k, f in feats.items()}
target = (torch.log(S.abs() + 1e-3) + 4.0) / 1.7  # unet.envelope_target
fig, axs = plt.subplots(1, 4, figsize=(12, 3), sharey=True)
for ax, (k, e) in zip(axs, {"clean (target)": target, **env}.items()):
    ax.imshow(e, origin="lower", aspect="auto", vmin=-2, vmax=2.5, cmap="magma")
    err = "" if k.startswith("clean (") else f"  L1 {float((e - target).abs().mean()):.2f}"
    ax.set(title=k + err, xlabel="frame")
axs[0].set(ylabel="frequency bin")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Re-synthesis beside enhancement
#
# `ul.resynthesize(x, sr, lips=...)` runs the encoder on the noisy recording and the lips, then
# generates four chains from the synthesiser's noise (30 steps by default), keeps their mean
# magnitude, gives it a consistent phase by Griffin-Lim (`spectral.griffin_lim`: a generated
# complex spectrogram is not the STFT of any signal) and scales the result to the input's level.
# `magnitude="envelope"` skips the diffusion and reads the envelope head alone: the baseline the
# generator has to beat (at this size it does not yet; `docs/resynthesis.md`). Beside it, AV-UDiffSE+ of chapter 11 on the same mixture. The metrics: SI-SDR and ESTOI
# (which compare waveforms or their envelopes sample by sample), the phase-blind log-spectral
# distance (`metrics.lsd`, lower is better), and the phone error rate of a small recogniser trained
# on clean speech (`phones.py`, the course's stand-in for a word error rate; lower is better).

# %%
from udiffse_lite.phones import collapse, edit_distance, load_phone_recognizer, recognise  # noqa: E402

rec = load_phone_recognizer()


def per_vs_clean(y, clean):
    """Phone error rate of y against what the recogniser hears in the clean speech (no timings needed)."""
    ref = collapse(recognise(rec, clean))
    return edit_distance(collapse(recognise(rec, y)), ref) / len(ref)


av_prior = ul.load_pretrained("tiny-av")
opts = dict(n_steps=ul.size(fast=16, full=30), seed=0)
n_v = spectral.expected_video_frames(len(x))
lips = d["lips"][:n_v]
n_chains = ul.size(fast=1, book=2, full=4)  # re-synthesis chains (their mean magnitude is kept)
outputs = {
    "noisy input": x,
    "AV-UDiffSE+ (ch. 11)": ul.enhance(x, d["sr"], prior=av_prior, video=lips, n_samples=ul.size(fast=1, book=1, full=2),
                                       **opts),
    "re-synthesis": ul.resynthesize(x, d["sr"], lips=lips, n_samples=n_chains, **opts),
    "envelope head + Griffin-Lim": ul.resynthesize(x, d["sr"], lips=lips, magnitude="envelope"),
    "re-synthesis from the clean features": ul.resynthesize(s, d["sr"], lips=lips, n_samples=n_chains, **opts),
}
print(f"matched-2 in traffic noise at {d['snr_db']:+.0f} dB")
print(f"{'':38s} {'SI-SDR':>7s} {'ESTOI':>6s} {'LSD':>6s} {'PER':>5s}")
for k, y in outputs.items():
    print(f"{k:38s} {metrics.si_sdr(y, s):+7.1f} {metrics.estoi(y, s, 16000):6.2f} "
          f"{metrics.lsd(y, s):6.1f} {per_vs_clean(y, s):5.2f}")

# %%
viz.compare_spectrograms({**outputs, "clean": s}, ncols=5, dynamic_range=70)
plt.show()
viz.audio_table({**outputs, "clean": s})

# %% [markdown]
# *Question:* which metric puts re-synthesis last, and which first? What does each of them
# compare?
#
# <details><summary>Answer</summary>
#
# SI-SDR compares the waveforms sample by sample, so it needs the clean speech's phase; the
# generator makes its own phase and scores near or below 0 dB even when it sounds clean. The
# log-spectral distance compares magnitudes only, and the phone error rate asks only which sounds
# are heard in which order: those are where re-synthesis can win, because it keeps what the
# features carry and discards everything else, the noise included. ESTOI sits between the two:
# it compares short-time envelopes, which a generated voice keeps only roughly. That is the
# trade AV2Wav makes, and why its paper reports word error rates and listening tests.
#
# </details>
#
# ## Exercises
#
# Solutions: `udiffse_lite/exercises/ch13.py`, imported only in the last section.

# %% [markdown]
# **Exercise 1.** How much of re-synthesis' SI-SDR deficit is the phase? Give the re-synthesised
# output the clean speech's phase (keep its STFT magnitude) and score it again.

# %%
# your solution

# %% [markdown]
# **Exercise 2.** The envelope is the synthesiser's whole view of the features. Compute the
# envelope head's L1 error (in the normalised units of the figure in section 4) from the features
# of the noisy input with the lips and without them, at -5, 0 and +5 dB. Where do the lips help?

# %%
# your solution

# %% [markdown]
# ### Reference solutions

# %%
from udiffse_lite.exercises import ch13  # noqa: E402  (the solutions, only now)

# Exercise 1
y_oracle = ch13.with_clean_phase(outputs["re-synthesis"], s)
print(f"re-synthesis SI-SDR {metrics.si_sdr(outputs['re-synthesis'], s):+.1f} dB, with the clean phase "
      f"{metrics.si_sdr(y_oracle, s):+.1f} dB")
# Exercise 2
for snr, (with_lips, without) in ch13.envelope_errors(synth, enc, "matched-2", lipf, snrs=(-5, 0, 5)).items():
    print(f"{snr:+d} dB: envelope L1 with lips {with_lips:.2f}, audio only {without:.2f}")

# %% [markdown]
# Exercise 1: with the clean phase the same magnitudes score many dB higher: most of the deficit is
# the phase, which the features never carried. Exercise 2: the lips lower the envelope's error at
# every SNR, but only a little (about 0.03-0.04 here) and hardly more at -5 dB than at +5 dB,
# although section 2 showed them pulling the *features* much closer to the clean ones at -5 dB.
# Most of the envelope's error is detail that neither the audio features nor the lips carry at
# 40 ms per frame: the head smooths it away (`docs/resynthesis.md`, section 6).
#
# ## In this chapter we …
#
# - measured the invariance a noise-robust encoder is trained for, and where the lips supply it;
# - estimated quality without a reference, the tool for choosing training data;
# - made a diffusion generator listen to its condition by giving it an envelope to start from;
# - heard re-synthesis beside enhancement: the words and the voice kept, the phase new.
#
# The measured tables (re-synthesis, fine-tuned re-synthesis, AV-UDiffSE+ and the input on the test
# splits, babble as the weak case) are in `docs/resynthesis.md`.
