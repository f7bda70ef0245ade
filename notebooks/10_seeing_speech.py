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
# # 10 · Seeing speech
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/udiffse-lite/udiffse_lite/blob/main/notebooks/10_seeing_speech.ipynb)
#
# **Goal:** understand what a mouth video tells about speech, how a frozen lip reader turns it
# into features, and how a cross-attention or a FiLM block lets the speech prior look at them.
#
# ## What you will learn
#
# - what the course's lip videos are (rendered from phone timings) and how mouth opening
#   tracks the loudness of speech;
# - phones → visemes: what the lips can and cannot distinguish;
# - the lip encoder, a small lip reader trained on the corpus and then frozen, and its features;
# - the "light" cross-attention block of AV-UDiffSE, built in front of you and checked against
#   the library's, and what its attention weights looked at in a trained prior (nothing useful);
# - FiLM, the time-aligned alternative that the shipped `tiny-av` uses, and how to test whether a
#   prior looks at the lips at all.

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
import json

import matplotlib.pyplot as plt
import numpy as np
import torch

import udiffse_lite as ul
from udiffse_lite import spectral, viz
from udiffse_lite.data import lips
from udiffse_lite.evaluation import lip_denoising_errors
from udiffse_lite.examples import ASSETS, list_examples, load_example
from udiffse_lite.unet import CrossAttentionBlock, FiLMBlock

SIZE = ul.SIZE  # "fast" (CI, seconds), "book" (the rendered book, 2 CPU cores) or "full" (default)
torch.manual_seed(0)

# %% [markdown]
# ## 1. The lip videos
#
# Audio-visual speech pipelines (LRS3 with AV-HuBERT, for instance) use mouth crops of 88 × 88
# pixels at 25 frames per second. The teaching corpus has no camera: its speech comes from speech synthesisers, which
# also report *when* each phone is spoken, and the mouth is **rendered** from those timings
# (`udiffse_lite/data/lips.py`): phones → mouth shapes → coarticulated jaw, lip width, rounding,
# teeth and tongue → a drawn mouth with per-speaker appearance, head jitter, changing light and
# sensor noise. A real face is far richer and far noisier, but the timing relation between
# mouth and sound, which is what the enhancement uses, is the same kind.

# %%
ex = load_example("matched-1")
phones = json.loads((ASSETS / "meta.json").read_text())[ex.name]["phones"]
engine = json.loads((ASSETS / "meta.json").read_text())[ex.name]["engine"]
print(f'"{ex.text}" ({ex.voice})')

# %%
# NBVAL_CHECK_OUTPUT
print("lips:", ex.lips.shape, ex.lips.dtype, f"{ex.lips.shape[0] / spectral.VIDEO_FPS:.2f} s at 25 fps;",
      f"audio: {len(ex.speech) / ex.sr:.2f} s")

# %%
viz.plot_lips(ex.lips, n=12, start=5, stop=50, title="matched-1, frames 5–50")
plt.show()

# %% [markdown]
# ## 2. Mouth opening and the loudness of speech
#
# Measure the mouth opening *from the pixels* (dark cavity pixels, `lips.mouth_opening`) and the
# speech level per video frame (`lips.speech_envelope`), and put them on one time axis.

# %%
opening = lips.mouth_opening(ex.lips)                         # (T_v,) dark pixels
level = lips.speech_envelope(ex.speech, ex.sr)                # (T_v,) dB
jaw = lips.articulation(phones, lips.PHONESET[engine], len(ex.lips))[:, 0]  # renderer's jaw parameter
tv = np.arange(len(ex.lips)) / spectral.VIDEO_FPS


def z(a):
    return (a - a.mean()) / a.std()


fig, ax = plt.subplots(figsize=(10, 3), layout="constrained")
ax.plot(tv, z(level), label="speech level (dB, standardised)")
ax.plot(tv, z(opening), label="mouth opening from pixels (standardised)")
ax.plot(tv, z(jaw), "--", lw=1, label="renderer's jaw parameter (standardised)")
ax.set(xlabel="Time (s)", ylabel="z-score", title="matched-1")
ax.legend(loc="lower right", fontsize=8)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
lag, r = lips.best_lag(opening, level, max_lag=5)  # b[k + lag] best matches a[k]
print(f"correlation at lag 0: {np.corrcoef(opening, level)[0, 1]:.1f}")
print(f"best lag: {lag} frames ({1000 * lag / spectral.VIDEO_FPS:.0f} ms), correlation {r:.1f}")

# %% [markdown]
# *Question:* the correlation is clearly positive but far from 1. Name two sounds that are loud
# with an almost closed mouth, and one moment where the mouth is open and nothing is heard.
#
# <details><summary>Answer</summary>
#
# Nasals (m, n: voiced, loud, lips closed or nearly) and the voiced bilabial burst of b; the
# mouth opens before an utterance starts (anticipation) and stays open in a pause after a vowel,
# with nothing heard.
#
# </details>

# %% [markdown]
# ## 3. Phones → visemes
#
# The lips show *visemes*, classes of phones that look alike. The renderer's table maps each
# phone of the engine to one of 13 classes (diphthongs to two):

# %%
# NBVAL_CHECK_OUTPUT
print("visemes:", ", ".join(lips.VISEMES))
for lab, a, b in phones[:12]:
    vis = "+".join(lips.VISEMES[i] for i in lips.viseme_of(lab, lips.PHONESET[engine]))
    print(f"{a:5.2f}–{b:5.2f} s  {lab:4s} -> {vis}")

# %% [markdown]
# `p`, `b` and `m` are all `PBM`: closed lips. `t`, `d`, `n`, `s`, `z` are all `ALV`. The lips
# cannot tell *"pat"* from *"mad"*; the voice can, when it is not buried in noise. Audio and video
# are complementary: the video is most informative about *when* the mouth opens and closes and
# *which vowel shape* it takes, which is exactly what noise hides in the audio.
#
# The viseme shown in each frame is the lip reader's training label:

# %%
vis = lips.frame_visemes(phones, lips.PHONESET[engine], len(ex.lips))  # (T_v,)
fig, ax = plt.subplots(figsize=(10, 2.6), layout="constrained")
ax.step(tv, vis, where="post")
ax.set(yticks=range(len(lips.VISEMES)), yticklabels=lips.VISEMES, xlabel="Time (s)", title="viseme per video frame")
ax.tick_params(axis="y", labelsize=7)
plt.show()

# %% [markdown]
# ## 4. The lip encoder: a small lip reader, frozen
#
# AV-UDiffSE conditions its prior on AV-HuBERT features (Shi et al., 2022; 768 numbers per frame from a
# self-supervised model of about 100 M parameters): far too big for this course. The stand-in, `ul.visual.LipEncoder`, is a 3-D
# convolution over lip motion, a small 2-D residual trunk and two temporal convolutions (about
# 0.4 s of context), giving $p = 64$ features per frame. It was trained on the teaching corpus to
# classify the viseme of each frame, then **frozen**: the audio-visual priors were trained on its
# features and carry it inside their checkpoints.

# %%
av_prior = ul.load_pretrained("tiny-av")
enc = av_prior.lip_encoder
with torch.no_grad():
    feats = enc(torch.from_numpy(ex.lips)[None])[0]                      # (T_v, 64)
    pred = enc.classify(torch.from_numpy(ex.lips)[None])[0].argmax(-1)   # (T_v,) viseme guesses

# %%
print("features:", tuple(feats.shape), f"({sum(p.numel() for p in enc.parameters()) / 1e6:.2f} M parameters, frozen)")

# %%
print(f"viseme accuracy of the frozen lip reader on this utterance: {(pred.numpy() == vis).mean():.0%} "
      f"(chance: {np.bincount(vis).max() / len(vis):.0%} by always guessing the most frequent viseme)")
fig, axes = plt.subplots(1, 2, figsize=(12, 3), layout="constrained", gridspec_kw=dict(width_ratios=[3, 2]))
lim = feats.abs().max().item()
im = axes[0].imshow(feats.T, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim,
                    extent=[0, len(tv) / spectral.VIDEO_FPS, 0, feats.shape[1]])
axes[0].set(xlabel="Time (s)", ylabel="feature", title="lip-encoder features")
fig.colorbar(im, ax=axes[0])
# a 2-D projection (PCA) of the features, coloured by the viseme actually shown
f0 = feats - feats.mean(0)
_, _, Vt = torch.linalg.svd(f0, full_matrices=False)
xy = (f0 @ Vt[:2].T).numpy()
sc = axes[1].scatter(xy[:, 0], xy[:, 1], c=vis, cmap="tab20", vmin=0, vmax=len(lips.VISEMES) - 1, s=18)
for k in np.unique(vis):
    m = xy[vis == k].mean(0)
    axes[1].annotate(lips.VISEMES[k], m, fontsize=8, weight="bold")
axes[1].set(xlabel="PC 1", ylabel="PC 2", title="features by viseme (PCA)")
plt.show()

# %% [markdown]
# *Question:* which visemes cluster, and which overlap? Remember that a frame's viseme label
# is itself ambiguous (coarticulation: the lips move towards the next sound early).
#
# <details><summary>Answer</summary>
#
# Visemes with distinctive lip shapes separate (PBM closed, OO rounded, AA open); those made
# inside the mouth (ALV, KG, L, TH) overlap, because the lips barely show them: a lip reader
# cannot tell t from k.
#
# </details>

# %% [markdown]
# **A face it never saw.** The corpus gives each voice one face: twelve faces in `train`. A
# reader trained on those alone reads a *new* face's lips about ten points worse (on the unseen
# voices of `test_mismatched`, 69.6 % of frames against 81.0 % on `valid`), and everything the
# prior knows about the lips passes through it. The shipped reader was trained with 80 % of its
# clips drawn again, from the same articulator trajectories, on a face no voice has
# (`udiffse_lite.visual.train_lip_encoder(..., p_new_face=0.8)`). Draw this utterance on three new faces
# and read them:

# %%
from udiffse_lite import visual  # noqa: E402

first_reader = visual.load_lip_encoder(visual.V1_CKPT)  # the reader trained on the twelve corpus faces only


def viseme_accuracy(reader, frames, labels):
    with torch.no_grad():
        return (reader.classify(torch.from_numpy(frames)[None])[0].argmax(-1).numpy() == labels).mean()


art = lips.articulation(phones, lips.PHONESET[engine], len(ex.lips))  # what the renderer draws from
k_open = int(np.argmax(jaw))  # the widest-open frame
faces = [ex.lips] + [lips.render_mouth(art, lips.speaker_appearance(f"a face no voice has {k}"),
                                       np.random.default_rng(k)) for k in range(3)]
fig, axes = plt.subplots(1, 4, figsize=(10, 3.1), layout="constrained")
for k, (ax, fr) in enumerate(zip(axes, faces)):
    ax.imshow(fr[k_open], cmap="gray", vmin=0, vmax=255)
    ax.set_title(("its own face" if k == 0 else f"new face {k}") + f"\nshipped {viseme_accuracy(enc, fr, vis):.0%}, "
                 f"first {viseme_accuracy(first_reader, fr, vis):.0%}", fontsize=9)
    ax.axis("off")
fig.suptitle("viseme accuracy of the two readers, the same lip motion on four faces", fontsize=10)
plt.show()

# %%
# every built-in example on its own face and on three new ones (mean), with both readers
print("example        | shipped: own face, new faces | first reader: own face, new faces")
for name in list_examples():
    e = load_example(name)
    meta_e = json.loads((ASSETS / "meta.json").read_text())[name]
    ps = lips.PHONESET[meta_e["engine"]]
    vis_e = lips.frame_visemes(meta_e["phones"], ps, len(e.lips))
    art_e = lips.articulation(meta_e["phones"], ps, len(e.lips))
    new_faces = [lips.render_mouth(art_e, lips.speaker_appearance(f"a face no voice has {k}"),
                                   np.random.default_rng(k)) for k in range(3)]
    row = [(viseme_accuracy(r, e.lips, vis_e), np.mean([viseme_accuracy(r, f, vis_e) for f in new_faces]))
           for r in (enc, first_reader)]
    print(f"{name:14s} | {row[0][0]:17.0%} {row[0][1]:10.0%} | {row[1][0]:22.0%} {row[1][1]:10.0%}")

# %% [markdown]
# One utterance has about a hundred frames, so its accuracy moves by several points from face to
# face; whole splits say more (`python -m udiffse_lite lip-encoder eval --face random` draws every
# clip on a new face). On `test_mismatched` the first reader read 69.6 % of the frames, the
# shipped one 80.9 %, and 82.5 % with every clip drawn on a new face: the faces no longer matter
# (`data/README.md`, section 4). The mismatched examples above are such unseen faces for the first
# reader. Chapter 11 measures what the better reader is worth to the enhancement.

# ## 5. Cross-attention: the speech looks at the lips
#
# The video (25 fps, `T_v` frames) and the spectrogram (125 fps, `T` frames) run on different
# clocks, and the network should learn which frames go together rather than be told. The "light"
# cross-attention block of AV-UDiffSE does this at every level of the U-Net, on a feature map
# `h` of shape (B, C, F_l, T):
#
# 1. every (channel, audio frame) position is a **query** token whose vector is its frequency
#    column (length `F_l`), projected to `d`;
# 2. every video frame is a **key** and a **value**, projected from `p` to `d`;
# 3. `softmax(Q Kᵀ / √d) V`, projected back to `F_l`, through a GroupNorm, and **added** to `h`.
#
# (The reference code omits the `1/√d`; `UNetConfig(attn_unscaled=True)` reproduces it.)
# Here it is, with the weights of a library block so that the two can be compared:

# %%
def my_cross_attention(h, v, Wq, Wk, Wv, Wo, bo, norm, scale):
    """h: (B, C, F_l, T) audio features, v: (B, T_v, p) video features -> (out, weights)."""
    B, C, Fl, T = h.shape
    tokens = h.transpose(2, 3).reshape(B, C * T, Fl)         # (B, C*T, F_l): one per (c, t)
    q, k, val = tokens @ Wq.T, v @ Wk.T, v @ Wv.T             # (B, C*T, d), (B, T_v, d) x 2
    w = torch.softmax(q @ k.transpose(1, 2) * scale, dim=-1)  # (B, C*T, T_v), rows sum to 1
    a = (w @ val) @ Wo.T + bo                                 # (B, C*T, F_l)
    a = a.reshape(B, C, T, Fl).transpose(2, 3)                # (B, C, F_l, T)
    return h + norm(a), w


# %%
# NBVAL_CHECK_OUTPUT
B, C, Fl, T, T_v, p = 2, 8, 32, 50, 10, 64
block = CrossAttentionBlock(C, Fl, p)                          # the library's block, random weights
with torch.no_grad():
    block.norm.weight.normal_()                                # make the GroupNorm non-trivial
    h, v = torch.randn(B, C, Fl, T), torch.randn(B, T_v, p)
    mine, weights = my_cross_attention(h, v, block.to_q.weight, block.to_k.weight, block.to_v.weight,
                                       block.to_out.weight, block.to_out.bias, block.norm, block.scale)
    torch.testing.assert_close(mine, block(h, v))
print("my_cross_attention == ul.unet.CrossAttentionBlock:", tuple(mine.shape), "weights", tuple(weights.shape))

# %% [markdown]
# The block has `F_l d` parameters for the queries, `2 p d` for the keys and values,
# $d F_l + F_l$ for the output and $2C$ for the GroupNorm (the reference uses $d = F_l$):
# tiny compared with the convolutions, and no convolution of its own, hence "light". It adds one
# `(C T) × T_v` attention matrix per level: cheap, because there are few video frames.
#
# ## 6. What do the attention weights look at?
#
# The first audio-visual prior of this course, `tiny-av-xattn`, used exactly these blocks (warm-
# started from the audio-only prior, 477 more steps on a CPU). Run it on a diffused version of the
# clean speech of our example together with its lip features, and capture the input of two
# cross-attention blocks: the first (full resolution) and the one at the bottom of the U-Net.
# `CrossAttentionBlock.attention_map` turns a block's input into attention weights averaged over
# channels: for each audio frame, a distribution over the video frames.

# %%
seconds = ul.size(fast=1.6, book=2.5, full=None)  # crop (None: the whole utterance)
L = len(ex.speech) if seconds is None else int(seconds * ex.sr)
S = spectral.to_spec(torch.from_numpy(ex.speech[:L]))[None]  # (1, 256, T) compressed
S, _ = spectral.normalise(S)
t_diff = 0.5
S_t, _ = av_prior.sde.perturb(S, torch.tensor([t_diff]), torch.Generator().manual_seed(0))
xattn_prior = ul.load_pretrained("tiny-av-xattn")
captured = {}
net = xattn_prior.net
mid = len(net.cond) // 2
hooks = [net.cond[j].register_forward_pre_hook(lambda m, args, j=j: captured.__setitem__(j, args))
         for j in (0, mid)]
with torch.no_grad():
    xattn_prior.score(S_t, t_diff, video=torch.from_numpy(ex.lips[: spectral.expected_video_frames(L)]))
    maps = {j: net.cond[j].attention_map(*captured[j])[0] for j in (0, mid)}  # (T_l, T_v) each
for hk in hooks:
    hk.remove()

# %%
T_pad = maps[0].shape[0]  # STFT frames after padding to a multiple of the U-Net's down-sampling
dur = L / ex.sr
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
for ax, (j, wmap) in zip(axes, maps.items()):
    Tl, Tv = wmap.shape
    x_end = T_pad * spectral.HOP / spectral.SR  # every level spans the same (padded) time
    im = ax.imshow(Tv * wmap.T, origin="lower", aspect="auto", cmap="viridis",
                   extent=[0, x_end, 0, Tv / spectral.VIDEO_FPS])
    ax.plot([0, dur], [0, dur], "w--", lw=0.8, label="same time")
    ax.set(xlim=(0, dur), xlabel="audio frame time (s)", ylabel="video frame time (s)",
           title=f"block {j}: F_l = {net.cond[j].n_freq}, {Tl} audio frames")
    fig.colorbar(im, ax=ax, label="weight × T_v (1 = uniform)")
axes[0].legend(loc="upper left", fontsize=8)
plt.show()

# %% [markdown]
# *Question:* is there a diagonal (audio frames attending to the video frames of the same
# moment), or does every audio frame look at the same few video frames?
#
# There is no diagonal, and there could hardly be one: nothing in the block says *when* a video
# frame was shot. Keys and values carry the lip shape only, so attention can align by content at
# best ("open mouth" frames with "loud vowel" columns), and a frame in the pauses looks just like
# another. Measured on held-out mixtures, `tiny-av-xattn` enhanced as well with *another
# utterance's* lips as with the true ones (+1.56 against +1.55 dB SI-SDR): it did not look.
#
# ## 7. FiLM: telling the network which frames go together
#
# The audio and the video share a clock: video frame $k$ shows $[k/25, (k+1)/25)$ s, the STFT
# frames $5k \dots 5k+4$ of the same interval. **Feature-wise linear modulation** (FiLM; Perez et al., 2018) uses that:
# each STFT frame takes the features $v_{k(t)}$ of its own video frame, and a linear map turns them
# into a per-channel scale and shift of the feature map at that frame,
#
# $$ h_{c,f,t} \leftarrow h_{c,f,t}\,\big(1 + \gamma_c(v_{k(t)})\big) + \beta_c(v_{k(t)}), \qquad
#    (\gamma, \beta) = W v + b, $$
#
# at every level of the U-Net (the features are averaged over the frames a coarser level merges).
# $W$ and $b$ start at zero, so a FiLM prior warm-started from an audio-only one starts as that
# prior, and the gradient reaches $W$ from the first step (unlike the cross-attention's zero
# GroupNorm gain, which blocks it). Built in front of you and checked against the library:

# %%
def my_film(h, v_frames, W, b):
    """h: (B, C, F_l, T) features, v_frames: (B, T_full, p) video features on the STFT clock."""
    B, C, Fl, T = h.shape
    factor = v_frames.shape[1] // T                                   # frames a coarser level merges
    v = v_frames.reshape(B, T, factor, -1).mean(2)                    # (B, T, p)
    gamma, beta = (v @ W.T + b).chunk(2, dim=-1)                      # (B, T, C) each
    return h * (1 + gamma.transpose(1, 2)[:, :, None]) + beta.transpose(1, 2)[:, :, None]


# %%
# NBVAL_CHECK_OUTPUT
B, C, Fl, T, p = 2, 8, 32, 50, 64
film = FiLMBlock(C, p)
with torch.no_grad():
    film.proj.weight.normal_(std=0.1)                                 # trained-looking weights
    h, v_full = torch.randn(B, C, Fl, T), torch.randn(B, 2 * T, p)     # a level at half the STFT rate
    torch.testing.assert_close(my_film(h, v_full, film.proj.weight, film.proj.bias), film(h, v_full))
print("my_film == ul.unet.FiLMBlock:", tuple(h.shape))

# %% [markdown]
# The shipped `tiny-av` is this prior: FiLM at every level from the frozen lip encoder's features,
# warm-started from the first audio-only prior and trained with 20 % of its training crops given
# the *null* video (condition dropout), so that the same network also runs without video and
# supports classifier-free guidance (Ho & Salimans, 2022), $\mathrm{score} = s(\varnothing) + \omega\,(s(v) - s(\varnothing))$
# (`ul.enhance(..., guidance=ω)`). How much does each level listen to the lips? The size of
# $\gamma$ and $\beta$ over our example:

# %%
v_feats = av_prior.features(torch.from_numpy(ex.lips[: spectral.expected_video_frames(L)]), 1)  # (1, T_v, p)
v_stft = spectral.video_to_stft_frames(v_feats, S.shape[-1])                                # (1, T, p)
rows = []
for j, blk in enumerate(av_prior.net.cond):
    with torch.no_grad():
        scale, shift = blk.proj(v_stft).chunk(2, dim=-1)             # gamma, beta of each frame
    rows.append((j, scale.abs().mean().item(), shift.abs().mean().item()))
print("level | mean |gamma| | mean |beta|")
for j, gam, bet in rows:
    print(f"{j:5d} | {gam:12.3f} | {bet:11.3f}")

# %% [markdown]
# ## 8. Does it look? Ask the network
#
# Trained weights that are not zero do not prove that a prior *uses* the lips. A direct test
# needs no sampling: diffuse a clean crop to time $t$, and compare the network's one-step
# estimate $\hat s_0$ with the truth three times, for the same noise draw: with the true lips,
# with another utterance's lips, and with the null video $\varnothing$. A prior that looks has its
# smallest error with the true lips, most of all at large $t$, where the diffused spectrogram
# says least. `udiffse_lite.evaluation.lip_denoising_errors` does it; here on the built-in examples:

# %%
n_frames = 128  # a 1 s crop of each built-in utterance, normalised as in training
S_crops, v_crops = [], []
for name in list_examples():
    e = load_example(name)
    S_crops.append(spectral.normalise(spectral.to_spec(torch.from_numpy(e.speech))[:, :n_frames])[0])
    v_crops.append(av_prior.features(torch.from_numpy(e.lips[: -(-n_frames // 5)]), 1)[0])
errors = lip_denoising_errors(av_prior, torch.stack(S_crops), torch.stack(v_crops))
print("   t | error, true lips | another utterance's lips | no video")
for t, r in errors.items():
    print(f"{t:4.1f} | {r['true']:16.4f} | {100 * (r['wrong'] / r['true'] - 1):+23.1f} % | "
          f"{100 * (r['none'] / r['true'] - 1):+7.1f} %")

# %% [markdown]
# Read the middle column: how much worse the estimate gets when the lips do not belong to the
# speech. `benchmarks/video_gain.py` runs the same test on 64 validation crops for any prior; for
# the shipped priors it found the true lips worth only a percent or two of the error at any $t$
# (the measured numbers are in `docs/training.md`). Chapter 11 runs the same control on whole
# enhancements.
#
# *Question:* the clean-data error grows with $t$ for every video. What would it tend to at $t = 1$
# for a network that ignored the diffused input completely, and why can the lips not bring it to 0?
#
# <details><summary>Answer</summary>
#
# To $\mathbb E|s|^2$, the power of the crop: with no information its best guess is the mean, 0.
# The lips could lower it only through $\mathbb E[s \mid v]$, and the *phase* of a complex
# spectrogram is not in the lips, so $\mathbb E[s \mid v] \approx 0$ however well they are read.
# What lips can tell is the level and rough shape of the spectrum, which lowers the error only in
# combination with a partly informative input, at intermediate $t$.
#
# </details>

# %% [markdown]
# ## Exercises
#
# Solutions: `udiffse_lite/exercises/ch10.py`, imported only in the last section.
#
# Each exercise is posed, then left to you in an empty cell; the reference solutions follow
# at the end of the section.

# %% [markdown]
# **Exercise 1.** `lips.speech_envelope` measures the level over the whole band. Write
# `band_envelope(s, sr, fps, lo, hi)`, the level in dB of one band per video frame, and measure whether
# the 300–3000 Hz band (where the formants live) follows the mouth opening of `matched-1` more
# closely (correlation at the best lag) than the full band.

# %%
# Your solution to exercise 1

# %% [markdown]
# **Exercise 2.** Does the sound lead or follow the mouth? Run `lips.best_lag` (the lag maximising the
# correlation of `a[k]` and `b[k + lag]`) on every built-in example.

# %%
# Your solution to exercise 2

# %% [markdown]
# **Exercise 3.** Build a random `CrossAttentionBlock` with $d = 256$, once scaled and once with
# `unscaled=True` (the reference code's choice, `UNetConfig(attn_unscaled=True)`), and compare how peaked
# the rows of its `attention_map` are (the mean of each row's largest weight) without the $1/\sqrt d$.

# %%
# Your solution to exercise 3

# %% [markdown]
# ### Reference solutions

# %%
from udiffse_lite.exercises import ch10  # noqa: E402  (the solutions, only now)

# Exercise 1
for name_, env in {"full band": level, "300-3000 Hz": ch10.band_envelope(ex.speech, ex.sr, lo=300, hi=3000)}.items():
    print(f"{name_:12s} correlation at the best lag {lips.best_lag(opening, env)[1]:.2f}")
# Exercise 2
for name in list_examples():
    e = load_example(name)
    lag_e, r_e = lips.best_lag(lips.mouth_opening(e.lips), lips.speech_envelope(e.speech, e.sr))
    print(f"{name:13s} best lag {lag_e:+d} frames, correlation {r_e:.2f}")
# Exercise 3: without 1/sqrt(d) the logits are 16x larger and the softmax rows nearly one-hot
torch.manual_seed(0)
h_rand, v_rand = torch.randn(1, 4, 256, 40), torch.randn(1, 40, 64)
for unscaled in (False, True):
    blk = CrossAttentionBlock(4, 256, 64, d=256, unscaled=unscaled)
    peak = blk.attention_map(h_rand, v_rand).max(-1).values.mean()
    print(f"unscaled={unscaled!s:5s}: mean largest weight per row {peak:.2f} (uniform: {1 / 40:.3f})")

# %% [markdown]
# **Answers in words.** *Exercise 1:* the formant band does not follow the mouth more closely than the
# full band (0.36 against 0.38 on `matched-1`). The mouth's opening sets how loud the whole syllable
# is; below 300 Hz sit the voice's fundamental and the first formant of open vowels, which rise with
# the opening too, so cutting them removes part of what tracks the lips rather than noise. (Our lips
# are drawn from the phone sequence, so no band is privileged; on real faces the tongue and the
# closed-mouth nasals make the picture less simple.) *Exercise 2:* the examples print lags of 0 or +1 frames:
# the sound follows the mouth by at most 40 ms, as the mouth opens just before a vowel sounds; no more,
# because the renderer uses the synthesiser's own phone times; real recordings are often off by a few frames, which is why
# the sampler's video features are taken as given and the network, not a fixed lag, learns the
# alignment. *Exercise 3:* without $1/\sqrt d$ the logits grow like $\sqrt d = 16$, the softmax
# rows become nearly one-hot, and the block attends to one video frame at a time.

# %% [markdown]
# ## In this chapter we …
#
# - looked at the rendered lip videos and measured how mouth opening follows the speech level;
# - mapped phones to visemes and saw what lips cannot distinguish;
# - met the frozen lip encoder and its 64 features per frame;
# - built the light cross-attention block, matched the library's, and saw that without knowing
#   *when* a video frame was shot it learned nothing useful;
# - built FiLM, the time-aligned conditioning of the shipped `tiny-av`;
# - asked the network whether it uses the lips: its denoising error with true, wrong and no lips.
#
# Next, [11 · AV-UDiffSE+ end to end](11_av_udiffse_plus.ipynb) puts the lips into the enhancement
# and measures whether they help.
