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
# # 07 · Measuring enhancement
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/07_evaluation.ipynb)
#
# **Goal:** know exactly what the numbers of the next chapters mean (SI-SDR, PESQ, ESTOI, the
# real-time factor, a confidence interval) before using them to judge a method.
#
# ## What you will learn
#
# - SI-SDR derived in a few lines, checked against `ul.metrics.si_sdr`, and why it is scale-invariant;
# - what PESQ (narrow- and wide-band) and ESTOI measure, and why the papers' numbers differ by band;
# - how to time an enhancer honestly: warm-up, the median, device synchronisation;
# - paired confidence intervals: why comparing two methods on the same mixtures needs far fewer;
# - the classical baseline every unsupervised method must beat: a Wiener filter with a
#   minimum-statistics noise tracker.

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
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import udiffse_lite as ul
from udiffse_lite import metrics, viz
from udiffse_lite.baselines import wiener_minstats
from udiffse_lite.examples import list_examples, noisy_example

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)

# %% [markdown]
# ## 1. SI-SDR, derived
#
# An enhanced signal $\hat s$ should be the clean $s$. A plain signal-to-distortion ratio
# $10\log_{10}(|s|^2/|\hat s - s|^2)$ punishes a mere change of loudness, which no listener would
# call distortion. The scale-invariant SDR (Le Roux et al., 2019) first finds the multiple of the
# reference closest to the estimate, the projection
#
# $$ s_{\text{target}} = \alpha s, \qquad \alpha = \frac{\langle \hat s, s\rangle}{|s|^2}, $$
#
# and calls everything else distortion, $e = \hat s - s_{\text{target}}$:
#
# $$ \text{SI-SDR} = 10 \log_{10} \frac{|s_{\text{target}}|^2}{|e|^2}. $$
#
# Scaling $\hat s$ by $c$ scales both $s_{\text{target}}$ and $e$ by $c$: the ratio is unchanged.
# The library's default also removes both means first (a DC offset is not distortion either).

# %%
def my_si_sdr(est, ref):
    est, ref = est - est.mean(), ref - ref.mean()
    alpha = np.dot(est, ref) / np.dot(ref, ref)
    target = alpha * ref
    e = est - target
    return 10 * np.log10(np.dot(target, target) / np.dot(e, e))


ex = noisy_example("matched-1", noise="white", snr_db=0.0, seed=0)
x, s, sr = ex["x"].astype(np.float64), ex["s"].astype(np.float64), ex["sr"]

# %%
# NBVAL_CHECK_OUTPUT
print(f"mine {my_si_sdr(x, s):.3f} dB, library {metrics.si_sdr(x, s):.3f} dB")
print(f"the same mixture 10x quieter: {metrics.si_sdr(0.1 * x, s):.3f} dB")
assert abs(my_si_sdr(x, s) - metrics.si_sdr(x, s)) < 1e-9

# %% [markdown]
# The UDiffSE reference code computes the same quantity without removing the means
# (`metrics.si_sdr(..., mode="projection")`); for speech, which is nearly zero-mean, the two agree
# to a hundredth of a dB. What SI-SDR cannot see: it is a waveform measure, so an estimate with
# a perfect magnitude but another phase scores badly, and it weighs every sample equally, loud
# vowels far more than the quiet consonants that carry intelligibility. Hence two more measures.
#
# <details><summary>Why is a silent output an error, not a number?</summary>
#
# With $\hat s = 0$ both $s_{\text{target}}$ and $e$ vanish, and the ratio is 0/0. A naive
# implementation with a small epsilon returns 0 dB, better than many real outputs. The library
# refuses: `metrics.si_sdr(zeros, s)` raises.
#
# </details>
#
# ## 2. PESQ and ESTOI
#
# - **PESQ** (ITU-T P.862) models how a listener rates quality: it aligns the two signals,
#   maps both through a model of hearing (loudness in critical bands) and combines two kinds of
#   disturbance into a score on the 1–4.5 scale of opinion tests. *Narrow-band* PESQ works on
#   telephone audio (8 kHz, 300–3400 Hz; the UDiffSE papers report its raw score), *wide-band*
#   (P.862.2, 16 kHz, up to 7 kHz) on what our priors produce (SGMSE and most recent papers).
#   The two are not comparable: always say which.
# - **ESTOI** (Jensen & Taal, 2016) predicts intelligibility: it correlates short-time (384 ms)
#   envelopes of one-third-octave bands of the estimate and the reference, 0 to 1.

# %%
# NBVAL_CHECK_OUTPUT
for name, y in {"noisy": x, "clean": s}.items():
    print(f"{name:6s} PESQ-NB {metrics.pesq(y, s, sr, mode='nb'):.2f}  PESQ-WB {metrics.pesq(y, s, sr, mode='wb'):.2f}  "
          f"ESTOI {metrics.estoi(y, s, sr):.2f}")

# %% [markdown]
# *Question:* a perfect copy scores ESTOI 1.00 but PESQ 4.55 (narrow-band) and 4.64
# (wide-band), not 5, the top of an opinion scale. Why?
#
# <details><summary>Answer</summary>
#
# PESQ maps its internal disturbance to listening-test opinion scores through a fitted curve
# whose ceiling is about 4.5 (raw P.862) and 4.64 (the P.862.2 wide-band mapping): no listener
# panel gives a perfect 5 on average, so neither does the model. Note that the noisy input also
# starts above 1: a PESQ of 1.0–1.2 already means "bad".
#
# </details>
#
# ## 3. A classical baseline
#
# Every unsupervised diffusion method should beat the textbook enhancer that also needs no
# training pairs: a **Wiener filter** whose noise power comes from **minimum statistics**
# (Martin, 2001). In each frequency bin, the smoothed power of the noisy signal touches the noise
# floor in the pauses of the speech; the minimum over a sliding window of about 1.5 s, corrected
# for the bias of a minimum, tracks that floor. The gain $G = \xi/(1 + \xi)$ uses the
# *decision-directed* a-priori SNR $\xi$ (Ephraim & Malah, 1984), a recursive average that
# suppresses musical noise. `ul.baselines.wiener_minstats` is 40 lines.

# %%
names = ul.size(fast=["matched-1", "matched-2"], full=list_examples())  # utterances
noises = ul.size(fast=["white"], full=["white", "babble"])               # noise types
rows = []
for n in names:
    for nz in noises:
        e = noisy_example(n, noise=nz, snr_db=0.0, seed=0)
        y = wiener_minstats(e["x"], e["sr"])
        rows.append((n, nz, metrics.si_sdr(e["x"], e["s"]), metrics.si_sdr(y, e["s"])))
print(f"{'utterance':13s} {'noise':7s} {'input':>7s} {'Wiener':>7s}   SI-SDR (dB)")
for n, nz, a, b in rows:
    print(f"{n:13s} {nz:7s} {a:7.1f} {b:7.1f}")

# %% [markdown]
# ## 4. Intervals, and why pairing matters
#
# With a handful of mixtures a mean says little; say how little. `metrics.mean_ci` returns the
# mean and the half-width of its 95 % Student-t interval. When two methods are run on the *same*
# mixtures, the interval of their difference should be computed on the per-mixture differences:
# what makes one mixture hard (a loud noise, a quiet voice) affects both methods alike and
# cancels.

# %%
inp = np.array([r[2] for r in rows])
wie = np.array([r[3] for r in rows])
m_in, h_in = metrics.mean_ci(inp)
m_w, h_w = metrics.mean_ci(wie)
m_d, h_d = metrics.mean_ci(wie - inp)
print(f"input  {m_in:+.1f} ± {h_in:.1f} dB")
print(f"Wiener {m_w:+.1f} ± {h_w:.1f} dB")
print(f"Wiener - input, paired: {m_d:+.1f} ± {h_d:.1f} dB  (unpaired would be ± {np.hypot(h_in, h_w):.1f})")

# %% [markdown]
# ## 5. Timing honestly
#
# The real-time factor is wall time per second of audio. Three traps: the first call pays for
# memory allocation and kernel selection (warm up); single runs are noisy (take the median); on a
# GPU, work is queued asynchronously, so a timer stopped without `torch.cuda.synchronize()`
# measures only the queueing. `metrics.rtf` does all three; model loading stays outside.

# %%
prior = ul.load_pretrained("tiny-ao")
seg = ex["x"][: int(ul.size(fast=1.0, full=2.0) * sr)]
n_steps = ul.size(fast=4, full=30)
first = time.perf_counter()
ul.enhance(seg, sr, prior=prior, n_steps=n_steps, n_samples=1)
first = time.perf_counter() - first
r = metrics.rtf(lambda: ul.enhance(seg, sr, prior=prior, n_steps=n_steps, n_samples=1), len(seg) / sr,
                warmup=0, repeats=ul.size(fast=2, full=3))
print(f"first call {first / (len(seg) / sr):.2f} x real time, median of later calls {r:.2f} x real time "
      f"({n_steps} steps, 1 chain, {torch.get_num_threads()} CPU threads)")

# %% [markdown]
# ## Exercises
#
# Solutions: `udiffse_lite/exercises/ch07.py`.
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** Write the plain SDR and show that doubling the noisy mixture's gain changes it
# while SI-SDR stays put.

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Compute the unpaired and the paired half-width of the Wiener-minus-input
# difference above. By what factor does pairing narrow it here?

# %%
# Your solution to exercise 2

# %% [markdown]
# **Exercise 3.** A method beats another by 1 dB on average with a per-mixture standard deviation
# of 2 dB. How many paired mixtures give a 95 % interval of ±0.5 dB?

# %%
# Your solution to exercise 3

# %% [markdown]
# ### Reference solutions

# %%
# NBVAL_CHECK_OUTPUT
from udiffse_lite.exercises import ch07  # noqa: E402

print(f"plain SDR {ch07.sdr_plain(x, s):.2f} -> {ch07.sdr_plain(2 * x, s):.2f} dB; "
      f"SI-SDR {metrics.si_sdr(x, s):.2f} -> {metrics.si_sdr(2 * x, s):.2f} dB")
print("mixtures for ±0.5 dB at sd 2 dB:", ch07.mixtures_needed(2.0, 0.5))

# %%
if len(inp) > 1:
    print({k: round(v, 2) for k, v in ch07.paired_vs_unpaired(inp, wie).items()})

# %% [markdown]
# ## In this chapter we …
#
# - derived SI-SDR and matched the library's, and saw what it cannot see;
# - met PESQ (narrow- and wide-band: never mix them) and ESTOI;
# - measured the classical Wiener baseline with minimum statistics;
# - computed paired intervals and timed an enhancer honestly.
#
# Next, [08 · Posterior sampling and UDiffSE](08_posterior_udiffse.ipynb) combines the diffusion
# prior with the NMF noise model, and these measures say how well it works.
