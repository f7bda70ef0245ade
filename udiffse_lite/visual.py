"""The visual front-end: a small lip encoder, pretrained as a lip reader, then frozen.

AV-HuBERT turns a mouth video into 768-d features per frame; it is far too big
for a CPU course. :class:`LipEncoder` is the stand-in: a 3-D convolution over
(time, height, width) that sees lip *motion*, a 2-D residual trunk per frame,
and temporal convolutions over ~0.4 s of context, giving ``p = 64`` features per
25 fps frame. It is trained on the teaching corpus to classify the viseme shown
in each video frame (labels from the engine's phone timings), then frozen: its
features are what the audio-visual prior is conditioned on.

    enc = load_lip_encoder()                     # udiffse_lite/checkpoints/lip_encoder.pt
    v = enc(frames[None])                        # (1, T_v, 64)

Notebook: 10_seeing_speech.ipynb
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_CKPT = os.path.join(os.path.dirname(__file__), "checkpoints", "lip_encoder.pt")
# the first reader, trained on the corpus' twelve faces only (`lip-encoder train --steps 1500`): the
# robust AV encoder of re-synthesis and `tiny-av-xattn` were trained on its features and keep it
V1_CKPT = os.path.join(os.path.dirname(__file__), "checkpoints", "lip_encoder_v1.pt")


@dataclass
class LipEncoderConfig:
    """Sizes of :class:`LipEncoder`.

    Notebook: 10_seeing_speech.ipynb
    """

    p: int = 64  # output feature size per video frame (the prior's cross-attention input)
    front: int = 8  # 3-D conv channels: lip motion over 5 frames
    trunk: tuple = (16, 32, 64)  # 2-D residual stages, each halves the image (22 -> 11 -> 6 -> 3)
    hidden: int = 128  # temporal model width
    kernel_t: int = 5  # temporal kernel: 5 frames = 0.2 s per layer, two layers
    n_classes: int = 13  # visemes (udiffse_lite.data.lips.VISEMES)


class _Res2d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return F.relu(self.b2(self.c2(F.relu(self.b1(self.c1(x))))) + self.skip(x))


class LipEncoder(nn.Module):
    """Mouth frames -> per-frame visual features (and viseme logits for pretraining).

    Args:
        cfg: sizes (:class:`LipEncoderConfig`).

    Shapes:
        input ``(B, T_v, 88, 88)`` uint8 (0..255) or float (0..1); output ``(B, T_v, p)`` float32.

    Notebook: 10_seeing_speech.ipynb
    """

    def __init__(self, cfg: LipEncoderConfig | None = None):
        super().__init__()
        self.config = cfg = cfg or LipEncoderConfig()
        # 88x88 is averaged down to 44x44 first: the mouth fills the crop, and a CPU must train this
        self.front = nn.Sequential(
            nn.AvgPool3d((1, 2, 2)),
            nn.Conv3d(1, cfg.front, (5, 5, 5), (1, 2, 2), (2, 2, 2), bias=False),
            nn.BatchNorm3d(cfg.front), nn.ReLU())
        chans = (cfg.front,) + tuple(cfg.trunk)
        self.trunk = nn.Sequential(*[_Res2d(a, b, 2) for a, b in zip(chans[:-1], chans[1:])])
        self.proj = nn.Linear(chans[-1], cfg.hidden)
        k = cfg.kernel_t
        self.temporal = nn.ModuleList([nn.Sequential(nn.Conv1d(cfg.hidden, cfg.hidden, k, padding=k // 2),
                                                     nn.BatchNorm1d(cfg.hidden), nn.ReLU()) for _ in range(2)])
        self.out = nn.Linear(cfg.hidden, cfg.p)
        self.head = nn.Linear(cfg.p, cfg.n_classes)

    @staticmethod
    def normalise(frames: torch.Tensor) -> torch.Tensor:
        """uint8 or 0..1 frames -> per-clip standardised float (removes lighting and skin tone)."""
        x = frames.float()
        if frames.dtype == torch.uint8:
            x = x / 255.0
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        s = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)
        return (x - m) / s

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T_v, H, W) frames -> (B, T_v, p) features."""
        if frames.ndim == 3:
            raise ValueError(f"frames must be batched (B, T_v, H, W); got {tuple(frames.shape)}: "
                             "add a batch axis with frames[None]")
        if frames.ndim != 4:
            raise ValueError(f"frames must be (B, T_v, H, W), got shape {tuple(frames.shape)}")
        B, T = frames.shape[:2]
        x = self.normalise(frames)[:, None]  # (B, 1, T, H, W)
        x = self.front(x)  # (B, C, T, 22, 22)
        x = x.transpose(1, 2).flatten(0, 1)  # (B*T, C, h, w)
        x = self.trunk(x).mean(dim=(2, 3))  # (B*T, C')
        h = self.proj(x).view(B, T, -1).transpose(1, 2)  # (B, hidden, T)
        for layer in self.temporal:
            h = h + layer(h)
        return self.out(h.transpose(1, 2))  # (B, T, p)

    def classify(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T_v, H, W) -> (B, T_v, n_classes) viseme logits (the pretraining task)."""
        return self.head(F.relu(self.forward(frames)))

    @property
    def cfg(self) -> LipEncoderConfig:
        return self.config

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# ---------------------------------------------------------------- data for pretraining
def _load_split(corpus_dir: str, split: str, limit: int | None = None, face: str | None = None,
                seed: int = 0):
    """``[(frames, visemes, art), ...]`` of a split; ``face`` re-renders every clip with that face."""
    from .data.corpus import load_metadata
    from .data.lips import render_mouth, speaker_appearance
    rows = load_metadata(corpus_dir, split)
    if limit is not None and len(rows) > limit:  # an even spread over voices and sentences
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, limit).round().astype(int)]
    clips = []
    for k, r in enumerate(rows):
        with np.load(r["lips"]) as z:
            frames, vis, art = z["frames"], z["visemes"].astype(np.int64), z["art"]
        if face is not None:
            name = random_face_name(np.random.default_rng([seed, k, 1])) if face == "random" else face
            frames = render_mouth(art, speaker_appearance(name), np.random.default_rng([seed, k]))
        clips.append((frames, vis, art))
    return clips


def random_face_name(rng: np.random.Generator) -> str:
    """A face no corpus voice has: :func:`~udiffse_lite.data.lips.speaker_appearance` of a random name.

    Notebook: 10_seeing_speech.ipynb
    """
    return f"face-{int(rng.integers(0, 2 ** 31))}"


def _batch(clips, rng: np.random.Generator, batch: int, T: int, p_new_face: float = 0.0):
    from .data.lips import render_mouth, speaker_appearance
    X, Y = [], []
    for i in rng.integers(0, len(clips), batch):
        f, y, art = clips[i]
        if len(f) <= T:
            pad = T - len(f)
            f = np.concatenate([f, np.repeat(f[-1:], pad, 0)])
            art = np.concatenate([art, np.repeat(art[-1:], pad, 0)])
            y = np.concatenate([y, np.full(pad, -100)])  # padded frames are ignored by the loss
            a = 0
        else:
            a = int(rng.integers(0, len(f) - T + 1))
        if p_new_face > 0 and rng.random() < p_new_face:  # the same lip motion on a face never rendered
            X.append(render_mouth(art[a:a + T], speaker_appearance(random_face_name(rng)), rng))
        else:
            X.append(f[a:a + T])
        Y.append(y[a:a + T])
    return torch.from_numpy(np.stack(X)), torch.from_numpy(np.stack(Y))


@torch.no_grad()
def frame_accuracy(corpus_dir: str, encoder: LipEncoder, split: str = "test_matched",
                   majority_class: int | None = None, face: str | None = None) -> dict:
    """Per-frame viseme accuracy of the lip reader on a split, next to the majority-class rate.

    Args:
        corpus_dir: the corpus.
        encoder: a trained :class:`LipEncoder`.
        split: split to score.
        majority_class: the *training* majority class (default: from ``train``).
        face: re-render every clip of the split with this face (a name for
            :func:`~udiffse_lite.data.lips.speaker_appearance`), or ``"random"`` for a new face per
            clip (fixed seeds), before reading it: how well the reader copes with faces it never
            saw. None: the corpus' frames.

    Returns:
        ``{"accuracy", "majority_rate", "majority_class", "frames"}``: the majority rate is
        the accuracy of always answering the training set's most frequent viseme.

    Notebook: 10_seeing_speech.ipynb
    """
    if majority_class is None:
        ys = np.concatenate([c[1] for c in _load_split(corpus_dir, "train", limit=400)])
        majority_class = int(np.bincount(ys).argmax())
    encoder.eval()
    correct = total = maj = 0
    for f, y, _ in _load_split(corpus_dir, split, face=face):
        pred = encoder.classify(torch.from_numpy(f)[None])[0].argmax(-1).numpy()
        correct += int((pred == y).sum())
        maj += int((y == majority_class).sum())
        total += len(y)
    return {"accuracy": correct / max(total, 1), "majority_rate": maj / max(total, 1),
            "majority_class": majority_class, "frames": total}


def train_lip_encoder(corpus_dir: str, out_path: str = DEFAULT_CKPT, steps: int = 300, batch: int = 8,
                      clip_frames: int = 16, lr: float = 2e-3, seed: int = 0,
                      cfg: LipEncoderConfig | None = None, progress: bool = True,
                      eval_splits=("test_matched", "test_mismatched"), max_utterances: int | None = 900,
                      threads: int | None = 1, p_new_face: float = 0.0) -> dict:
    """Pretrain the lip encoder as a per-frame viseme classifier and save it frozen.

    Args:
        corpus_dir: a built corpus (uses its ``train`` split; labels are the npz ``visemes``).
        out_path: checkpoint path (``.pt``); ``None`` to skip saving.
        steps: optimiser steps (AdamW, cosine learning rate).
        batch: clips per step.
        clip_frames: frames per clip (16 = 0.64 s).
        lr: peak learning rate.
        seed: seeds torch and the clip sampler.
        cfg: model sizes.
        progress: print the loss every 50 steps.
        eval_splits: splits whose frame accuracy is measured after training.
        max_utterances: training clips held in memory (an even subset of ``train``; None = all).
        threads: torch CPU threads while training (1: on a shared 2-core machine two OpenMP
            threads waiting on each other were 6x slower than one); None keeps the setting.
        p_new_face: share of training clips re-rendered, from their articulator trajectories,
            on a random face no corpus voice has (:func:`random_face_name`). The corpus has one
            face per voice (12 in ``train``), and a reader trained on those alone reads unseen
            faces' lips about 10 points worse; this augmentation is what fixes it.

    Returns:
        ``{"encoder", "accuracy": {split: frame_accuracy(...)}, "params", "seconds"}``.

    Notebook: 10_seeing_speech.ipynb
    """
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    with _threads(threads):
        return _train(corpus_dir, out_path, steps, batch, clip_frames, lr, seed, cfg, progress, eval_splits,
                      max_utterances, p_new_face)


@contextlib.contextmanager
def _threads(n: int | None):
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _train(corpus_dir, out_path, steps, batch, clip_frames, lr, seed, cfg, progress, eval_splits, max_utterances,
           p_new_face):
    if not 0.0 <= p_new_face <= 1.0:
        raise ValueError(f"p_new_face must be in [0, 1], got {p_new_face}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    clips = _load_split(corpus_dir, "train", limit=max_utterances)
    enc = LipEncoder(cfg)
    opt = torch.optim.AdamW(enc.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    t0 = time.time()
    enc.train()
    for step in range(steps):
        X, Y = _batch(clips, rng, batch, clip_frames, p_new_face)
        logits = enc.classify(X)
        loss = F.cross_entropy(logits.flatten(0, 1), Y.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress and (step % 50 == 0 or step == steps - 1):
            print(f"[lip-encoder] step {step} loss {loss.item():.3f} {time.time() - t0:.0f} s", file=sys.stderr)
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    ys = np.concatenate([c[1] for c in clips])
    maj = int(np.bincount(ys).argmax())
    acc = {s: frame_accuracy(corpus_dir, enc, s, maj) for s in eval_splits}
    for s in eval_splits:  # the same clips on faces never seen (a new face per clip)
        acc[f"{s}@new-faces"] = frame_accuracy(corpus_dir, enc, s, maj, face="random")
    res = {"encoder": enc, "accuracy": acc, "params": enc.n_params(), "seconds": round(time.time() - t0, 1)}
    if out_path:
        save_lip_encoder(enc, out_path, meta={"accuracy": acc, "steps": steps, "seed": seed, "batch": batch,
                                              "clip_frames": clip_frames, "max_utterances": max_utterances,
                                              "p_new_face": p_new_face,
                                              "corpus": os.path.basename(os.path.abspath(corpus_dir)),
                                              "seconds": res["seconds"]})
    if progress:
        print(f"[lip-encoder] {enc.n_params()} params; accuracy {json.dumps(acc)}", file=sys.stderr)
    return res


def save_lip_encoder(enc: LipEncoder, path: str, meta: dict | None = None) -> None:
    """Save config, weights (float32) and metadata.

    Notebook: 10_seeing_speech.ipynb
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    cfg = asdict(enc.cfg)
    cfg["trunk"] = list(cfg["trunk"])
    torch.save({"config": cfg, "state_dict": enc.state_dict(), "meta": meta or {}}, path)


def load_lip_encoder(path: str = DEFAULT_CKPT) -> LipEncoder:
    """Load a frozen lip encoder (eval mode, no gradients).

    Raises:
        FileNotFoundError: no checkpoint (names the command that trains one).

    Notebook: 10_seeing_speech.ipynb
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no lip encoder at {path!r}: train one with "
                                "`python -m udiffse_lite lip-encoder train --corpus data/corpus`")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = dict(ck["config"])
    cfg["trunk"] = tuple(cfg["trunk"])
    enc = LipEncoder(LipEncoderConfig(**cfg))
    enc.load_state_dict(ck["state_dict"])
    enc.meta = ck.get("meta", {})
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc


@torch.no_grad()
def extract_features(corpus_dir: str, encoder: LipEncoder, out_dir: str, split: str | None = None,
                     threads: int | None = 1, face: str | None = None, seed: int = 0) -> int:
    """Precompute lip features for a split (or all splits) into ``<out_dir>/<split>/<id>.npy``.

    Each file is (T_v, p) float32, one row per 25 fps video frame, the layout
    :class:`udiffse_lite.data.datasets.CropDataset` reads with ``features=out_dir``.

    ``face="random"`` reads every clip re-rendered on a new face (fixed by ``seed`` and the clip's
    index; see :func:`frame_accuracy`): training features that do not tie a face to a voice.

    Returns:
        Number of files written.

    Notebook: 10_seeing_speech.ipynb
    """
    from .data.corpus import SPLITS, load_metadata
    encoder.eval()
    n = 0
    with _threads(threads):
        for sp in ([split] if split else SPLITS):
            n += _extract_split(corpus_dir, encoder, out_dir, sp, load_metadata, face, seed)
    return n


@torch.no_grad()
def _extract_split(corpus_dir, encoder, out_dir, split, load_metadata, face=None, seed=0) -> int:
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    rows = load_metadata(corpus_dir, split)
    clips = _load_split(corpus_dir, split, face=face, seed=seed) if face is not None else None
    n = 0
    for k, r in enumerate(rows):
        if clips is not None:
            f = torch.from_numpy(clips[k][0])
        else:
            with np.load(r["lips"]) as z:
                f = torch.from_numpy(z["frames"])
        v = encoder(f[None])[0].numpy().astype(np.float32)  # (T_v, p)
        tmp = os.path.join(out_dir, split, r["id"] + ".tmp.npy")
        np.save(tmp, v)
        os.replace(tmp, os.path.join(out_dir, split, r["id"] + ".npy"))  # readers never see half a file
        n += 1
    return n
