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
# # 11 · AV-UDiffSE+ end to end, and Table I in miniature
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/11_av_udiffse_plus.ipynb)
#
# **Goal:** enhance noisy speech with the audio-only and the audio-visual prior, and measure,
# across SNRs and voices, whether seeing the lips helps.
#
# ## What you will learn
#
# - to run AV-UDiffSE+ from a waveform and a mouth video with one call, `ul.enhance`;
# - how the audio-only (`tiny-ao`) and audio-visual (`tiny-av`) priors compare, across SNRs and
#   on voices the priors never heard;
# - to build a small version of the papers' Table I with honest confidence intervals;
# - the control that tells whether the lips helped at all: the same prior with another
#   utterance's lips;
# - how to read the full table that the benchmark harness commits.

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
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

import udiffse_lite as ul
from udiffse_lite import metrics, spectral, viz
from udiffse_lite.baselines import wiener_minstats
from udiffse_lite.evaluation import table_markdown
from udiffse_lite.examples import list_examples, load_example, noisy_example
from udiffse_lite.metrics import paired_gain

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)
device = "cuda" if torch.cuda.is_available() else "cpu"

# %% [markdown]
# ## 1. Two priors, one sampler
#
# With a video $v$ of the speaker's lips the posterior becomes
#
# $$ p(S \mid X, v) \propto p(X \mid S, v)\, p(S \mid v) = p(X \mid S)\, p(S \mid v), $$
#
# where the second equality is the assumption that makes AV-UDiffSE simple: *given the clean
# speech, the noisy recording says nothing more about the lips* ($X \perp v \mid S$: the noise is
# independent of the speaker's face). The likelihood and the NMF noise model are therefore
# untouched; only the prior's score becomes conditional, $\nabla \log p(S_t \mid v)$.
#
# AV-UDiffSE+ is UDiffSE+ (chapter 09) with a prior whose score network also sees the lip
# features (chapter 10). Nothing else changes: the NMF noise model, the Tweedie updates, the
# likelihood. The two teaching priors share their architecture, their starting point and their
# training data; `tiny-av` additionally has time-aligned FiLM blocks (chapter 10 shows why not the
# papers' cross-attention) and the frozen lip encoder, and was trained with 20 % of its crops
# given no video, so that it also runs audio-only and supports classifier-free guidance.
# `ul.enhance` uses that guidance by default whenever it is given lips: the score is
# $s(\varnothing) + 4\,(s(v) - s(\varnothing))$, the lips' contribution quadrupled (weight 4, chosen on
# the validation mixtures; `guidance=1` turns it off, at half the network cost). From 30 steps on (the full size
# here) it guides only the second half of the trajectory ($t \le 0.5$; `guidance_interval`): the same
# result with the true lips for 29 % less time; with fewer steps it guides every step, because there
# guiding half of them weakens how much the prior leans on the lips.
#
# Be clear about what they are: small networks (sizes printed below), trained on a CPU (or
# briefly on a GPU) on synthetic voices with rendered lips. The papers' priors have about 28 M parameters and were
# trained on large corpora of real speakers. Expect the *direction* of the papers' findings,
# not their size, and check every claim with an interval.

# %%
priors = {"tiny-ao": ul.load_pretrained("tiny-ao").to(device),
          "tiny-av": ul.load_pretrained("tiny-av").to(device)}
for name, p in priors.items():
    print(f"{name}: {sum(q.numel() for q in p.net.parameters()) / 1e6:.2f} M parameters, "
          f"conditional on video: {p.conditional}")

# %% [markdown]
# One helper runs every experiment of the chapter and remembers the results, so that the
# sections below reuse each other's runs instead of recomputing them.

# %%
seconds = ul.size(fast=1.0, book=2.0, full=None)  # crop every example (None: the whole utterance)
opts = dict(n_steps=ul.size(fast=4, book=20, full=30),  # reverse steps (20 in the book: 10 keep 93 % of 30's gain, docs/sweep_sampler.md)
            n_samples=ul.size(fast=1, book=1, full=4),  # parallel chains b (1 in the book: 2 gain 0.1 dB, docs/sweep_sampler.md)
            precision=ul.size(fast="fp32", full="auto"))  # bf16 where it is faster: GPUs, not a channels-last CPU
_cache = {}


def run(name="matched-1", noise="pink", snr_db=0.0, system="tiny-av"):
    """Enhance a built-in example with one system ("input", "wiener", "tiny-ao", "tiny-av", or
    "tiny-av-wrong": the AV prior given another utterance's lips)."""
    key = (name, noise, snr_db, system)
    if key not in _cache:
        ex = noisy_example(name, noise=noise, snr_db=snr_db, seed=0)
        L = len(ex["x"]) if seconds is None else int(seconds * ex["sr"])
        x, s = ex["x"][:L], ex["s"][:L]
        t0 = time.perf_counter()
        if system == "input":
            y = x
        elif system == "wiener":
            y = wiener_minstats(x, ex["sr"])
        elif system == "tiny-av-wrong":  # the control: lips of another utterance, same length
            others = list_examples()
            other = load_example(others[(others.index(name) + 1) % len(others)]).lips
            lips = np.resize(other, (spectral.expected_video_frames(L), *other.shape[1:]))
            y = ul.enhance(x, ex["sr"], prior=priors["tiny-av"], method="udiffse+", video=lips, seed=0, **opts)
        else:
            lips = ex["lips"][: spectral.expected_video_frames(L)] if system == "tiny-av" else None
            y = ul.enhance(x, ex["sr"], prior=priors[system], method="udiffse+", video=lips, seed=0, **opts)
        _cache[key] = dict(y=y, x=x, s=s, sr=ex["sr"], seconds=time.perf_counter() - t0,
                           si_sdr=metrics.si_sdr(y, s), pesq=metrics.pesq(y, s, ex["sr"], mode="wb"),
                           estoi=metrics.estoi(y, s, ex["sr"]))
    return _cache[key]


# %% [markdown]
# ## 2. Listen: audio-only against audio-visual
#
# A matched voice (one the priors were trained on) in pink noise at 0 dB: a steady noise, which the
# NMF noise model captures well, so what you hear is the speech prior at work. (Babble, where the
# noise *is* speech and the prior must tell the target from the crowd, is the hard case: section 5's
# table includes it.) The lips say when the target speaks: listen to the pauses.

# %%
systems = ["input", "tiny-ao", "tiny-av"]
res = {sys_: run("matched-1", "pink", 0.0, sys_) for sys_ in systems}
clean = res["input"]["s"]
print(f"{'':8s} {'SI-SDR (dB)':>12s} {'PESQ (wb)':>10s} {'ESTOI':>7s} {'time (s)':>9s}")
for sys_, r in res.items():
    print(f"{sys_:8s} {r['si_sdr']:12.1f} {r['pesq']:10.2f} {r['estoi']:7.2f} {r['seconds']:9.1f}")

# %%
waves = {"noisy": res["input"]["y"], "UDiffSE+ (tiny-ao)": res["tiny-ao"]["y"],
         "AV-UDiffSE+ (tiny-av)": res["tiny-av"]["y"], "clean": clean}
viz.compare_spectrograms(waves, ncols=4, dynamic_range=70)
plt.show()
viz.audio_table(waves)

# %% [markdown]
# *Question:* where do the two enhanced spectrograms differ most: in the pauses of the target,
# or inside its words? Which would you expect the lips to fix?
#
# <details><summary>Answer</summary>
#
# Lips tell when the target speaks and roughly what: they should help most in the pauses (a
# closed mouth says the energy there is noise) and at onsets, less inside the words, where the
# audio already dominates.
#
# </details>
#
# ## 3. Across SNRs
#
# Move the slider: each position enhances the same utterance at another SNR (computed when you
# first select it, then cached). The numbers in the titles are SI-SDR in dB.

# %%
snrs = [-5.0, 0.0, 5.0, 10.0]


def draw_snr(snr_db):
    rs = {sys_: run("matched-1", "pink", snr_db, sys_) for sys_ in systems}
    fig, axes = plt.subplots(1, 4, figsize=(15, 2.8), layout="constrained", sharey=True)
    viz.compare_spectrograms({f"{k} ({r['si_sdr']:.1f} dB)": r["y"] for k, r in rs.items()}
                             | {"clean": rs["input"]["s"]}, axes=axes, dynamic_range=70,
                             title=f"pink noise at {snr_db:+.0f} dB")
    return fig


viz.value_slider(draw_snr, snrs, description="SNR (dB)", value=0.0);

# %% [markdown]
# *Question:* at which SNR would you expect the video to matter most, and why? (At high SNR the
# audio already tells everything; at very low SNR a small prior may not use the video well.)
#
# <details><summary>Answer</summary>
#
# In between, around 0 to -5 dB: at high SNR the audio suffices, at very low SNR the prior
# cannot turn lip information into the fine spectral detail the likelihood lacks.
#
# </details>
#
# ## 4. Matched and mismatched voices
#
# `mismatched-*` examples come from a speech engine the priors never heard. An unsupervised
# method's prior is its whole knowledge of speech, so a mismatch hurts it where a supervised
# method would be hurt by unseen *noise*.

# %%
names = ul.size(fast=["matched-1", "mismatched-1"], book=["matched-1", "mismatched-1"], full=list_examples())  # utterances
for name in names:
    line = []
    for sys_ in systems:
        line.append(f"{sys_} {run(name, 'pink', 0.0, sys_)['si_sdr']:6.1f}")
    print(f"{name:13s} SI-SDR (dB): " + "   ".join(line))

# %% [markdown]
# ## 5. Table I in miniature, live
#
# The papers' Table I compares the methods on matched and mismatched test sets with SI-SDR, PESQ
# and ESTOI. Here is a miniature computed on the built-in examples (all four at the full size,
# one matched and one mismatched voice in the book and in fast mode; pink and babble noise in the
# book, so that the pink mixtures are section 4's runs again, plus white at the full size; pink only
# in fast mode), as mean ± 95 % interval. With so few mixtures the intervals are
# wide: that is the honest message, not a defect.

# %%
noises = ul.size(fast=["pink"], book=["pink", "babble"], full=["pink", "babble", "white"])  # noise types
table_systems = ["input", "wiener", "tiny-ao", "tiny-av"]
labels = {"input": "Input", "wiener": "Wiener (min. statistics)", "tiny-ao": "UDiffSE+",
          "tiny-av": "AV-UDiffSE+"}
rows = {}
for sys_ in table_systems:
    rs = [run(n, noise, 0.0, sys_) for n in names for noise in noises]
    rows[labels[sys_]] = {"SI-SDR (dB)": [r["si_sdr"] for r in rs], "PESQ (wb)": [r["pesq"] for r in rs],
                          "ESTOI": [r["estoi"] for r in rs]}
display(Markdown(f"**{len(names) * len(noises)} mixtures at 0 dB** "
                 f"({', '.join(names)}; {', '.join(noises)}), UDiffSE+ with {opts['n_steps']} steps, "
                 f"{opts['n_samples']} chain{'s' if opts['n_samples'] > 1 else ''}\n\n"
                 + table_markdown(rows, {"SI-SDR (dB)": 1})))

# %%
gains = {sys_: np.mean(np.array(rows[labels[sys_]]["SI-SDR (dB)"]) - np.array(rows["Input"]["SI-SDR (dB)"]))
         for sys_ in ("tiny-ao", "tiny-av")}
print(f"mean SI-SDR gain over the input: tiny-ao {gains['tiny-ao']:+.1f} dB, tiny-av {gains['tiny-av']:+.1f} dB")

# %% [markdown]
# The audio-visual gain is best judged *paired*: the same mixtures with and without video.

# %%
gain, half = paired_gain(rows["UDiffSE+"]["SI-SDR (dB)"], rows["AV-UDiffSE+"]["SI-SDR (dB)"])
print(f"AV-UDiffSE+ minus UDiffSE+: {gain:+.2f} ± {half:.2f} dB SI-SDR over {len(names) * len(noises)} mixtures")

# %% [markdown]
# *Question:* does the interval of the paired gain contain zero? What would you need to change
# to know (more mixtures, more seeds, a bigger prior)?
#
# <details><summary>Answer</summary>
#
# With a handful of mixtures it usually does, and when it does not, trust it little: four mixtures
# made of two utterances are not four independent draws (each voice appears twice), and the
# interval assumes they are. A paired interval shrinks with the square root of the number of
# mixtures: to resolve a 1 dB effect with a per-mixture spread of 2 dB needs about 16-20 mixtures,
# plus seeds averaged per mixture. On 16 validation mixtures (section 6) the AV prior's lead is
# about 1.3 dB.
#
# </details>
#
# ## 6. Does the prior look? Another utterance's lips
#
# A better score for AV-UDiffSE+ than for UDiffSE+ does not prove that the lips helped: the two
# rows use different networks, trained differently. The control is to keep the AV prior and give
# it lips that do not belong to the speech (another utterance's, cut to the same length). A prior
# that uses the lips must then do *worse*; one that ignores them does the same.

# %%
wrong = [run(n, noise, 0.0, "tiny-av-wrong")["si_sdr"] for n in names for noise in noises]
gain, half = paired_gain(wrong, rows["AV-UDiffSE+"]["SI-SDR (dB)"])
print(f"true lips minus another utterance's lips: {gain:+.2f} ± {half:.2f} dB SI-SDR over {len(wrong)} mixtures")

# %% [markdown]
# With a handful of mixtures the interval is wide; `docs/training.md` and `docs/sweep_sampler.md`
# run the same control on 16 validation mixtures for the AV priors the course trained, and
# `benchmarks/video_gain.py` asks the network directly (its denoising error with the true, wrong and
# no lips). On those 16 mixtures the shipped prior's true lips beat wrong ones by +2.61 ± 1.81 dB
# with the default weight 4 (where the wrong lips do worse than the audio-only prior; at weight 3
# the gap is +1.51, at weight 2 a third of that, and the true lips score the same at 3 and 4), and
# the AV prior with its true lips beats the audio-only one by about 1 dB. On 16 mixtures of
# *unseen* voices and faces (`test_mismatched`) the gap is +2.07 ± 1.65 dB, and the AV prior beats
# the audio-only one by +2.62 ± 1.65 dB (30 steps x 2 chains, guided at $t \le 0.5$; guiding every step:
# +2.15 and +2.62, the true lips' score unchanged). The first `tiny-av`, whose lip reader had seen only the corpus' twelve
# faces, reached +0.12 dB there at weight 2, and without guidance its true lips beat wrong ones by
# only +0.06 ± 0.31 dB even on the validation voices: most of its lead over the audio-only prior
# was its different network, not the video. Denoising score matching on clean speech rarely *needs* the video, because
# the diffused spectrogram itself shows where the speech is at every noise level the sampler
# visits. That is a finding, not a formality: check it for any AV prior before crediting the video.
#
# *Question:* why does the control swap the lips rather than drop them (`video=None`)?
#
# <details><summary>Answer</summary>
#
# Dropping the video switches the network to its audio-only path (the null embedding), which was
# trained on only a fifth of the crops: a difference could come from that path being weaker, not
# from the lips. Swapped lips keep the same path and the same statistics of the input; only the
# information about *this* utterance is gone.
#
# </details>
#
# ## 7. The full table
#
# `benchmarks/table1.py` (also `python -m udiffse_lite evaluate`) runs every system, both
# likelihood schedules and UDiffSE's EM variant on the teaching corpus' test mixtures at several
# SNRs, and commits the markdown table with its provenance (commit, device, settings) to
# `udiffse_lite/assets/table1.md`, which ships with the package:

# %%
committed = ul.examples.ASSETS.parent / "table1.md"  # shipped inside the package, so Colab has it too
display(Markdown(committed.read_text()))

# %% [markdown]
# ## Exercises
#
# Solutions: `udiffse_lite/exercises/ch11.py`, imported only in the last section.
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** Write `mix_at_snr(s, n, snr_db)` with a *global* SNR and compare with `noisy_example`, which
# measures the speech power on active frames only: which gives the harder mixture?

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Compute the paired interval of `metrics.paired_gain` yourself (the mean and Student-t 95 %
# half-width of `b − a` over the same mixtures) for the AV and AO rows of the table, and compare it with
# the two unpaired intervals `metrics.mean_ci(a)` and `mean_ci(b)`. Why is it narrower?

# %%
# Your solution to exercise 2

# %% [markdown]
# **Exercise 3.** Add the reference algorithm (`ul.enhance(..., preset="reference")`, every choice of
# the reference code) as two more rows of the live table, audio-only and audio-visual.

# %%
# Your solution to exercise 3

# %% [markdown]
# ### Reference solutions

# %%
# NBVAL_CHECK_OUTPUT
from udiffse_lite.exercises import ch11  # noqa: E402  (the solutions, only now)

ex = noisy_example("matched-1", noise="white", snr_db=0.0)
x_global = ch11.mix_at_snr(ex["s"], ex["n"], 0.0)
print(f"noise power, global-SNR mix / active-SNR mix: "
      f"{np.mean((x_global - ex['s']) ** 2) / np.mean(ex['n'] ** 2):.2f}")

# %%
# Exercise 2: what is common to a mixture's two rows (how hard it is) cancels in b - a
from scipy.stats import t as student_t  # noqa: E402

a_, b_ = np.array(rows["UDiffSE+"]["SI-SDR (dB)"]), np.array(rows["AV-UDiffSE+"]["SI-SDR (dB)"])
if len(a_) > 1:
    d = b_ - a_
    half_own = student_t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert np.isclose(half_own, paired_gain(a_, b_)[1])
    print(f"paired ± {half_own:.2f} dB; unpaired ± {metrics.mean_ci(a_)[1]:.2f} (AO), "
          f"± {metrics.mean_ci(b_)[1]:.2f} (AV)")

# %% [markdown]
# **Exercise 3** (not run here: it adds two systems' runs to the chapter's time). Give `run` a
# `preset` and call it for both priors:
#
# ```python
# for sys_, prior_name in [("UDiffSE+ [reference]", "tiny-ao"), ("AV-UDiffSE+ [reference]", "tiny-av")]:
#     ys = [ul.enhance(noisy_example(n, noise=noise, snr_db=0.0)["x"], 16000, prior=priors[prior_name],
#                      video=load_example(n).lips if prior_name == "tiny-av" else None,
#                      preset="reference", **opts) for n in names for noise in noises]
#     ...  # score as in `run` and add rows[sys_] = {...}
# display(Markdown(table_markdown(rows, {"SI-SDR (dB)": 1})))
# ```

# %% [markdown]
# ## In this chapter we …
#
# - enhanced noisy speech with UDiffSE+ using the audio-only and the audio-visual prior, with one
#   call each;
# - listened across SNRs and compared matched with mismatched voices;
# - built Table I in miniature with confidence intervals and a paired audio-visual gain;
# - ran the wrong-lips control, which decides whether a gain is the video's or the network's, and
#   read the full committed table.
#
# This closes the core of the course: every piece of AV-UDiffSE+ has been derived, checked against
# the library and measured. Next, chapter 12 gives the noise a diffusion prior of its own and
# separates two talkers by their lips, and chapter 13 stops cleaning the recording and
# *re-synthesises* the speech from features the noise cannot hide; the course map in the book's
# introduction lists what builds on what.
