"""A small phone recogniser and the phone error rate: the course's stand-in for a word error rate.

Re-synthesis (AV2Wav) is judged by whether the *words* survive, which the papers measure with an
ASR system's word error rate. Nothing that large runs here, so the course trains a small
recogniser on the clean corpus instead: the network of :mod:`udiffse_lite.robust_features`,
audio only, clean audio only, predicting the phone of every 40 ms video frame from the corpus'
phone timings. The phone error rate (PER) of a waveform is the edit distance between the
recogniser's frame labels and the reference frame labels, both with repeats merged, divided by
the reference length. Both sides are read at 25 frames per second, so a phone shorter than a
frame can drop out of both; the clean speech's own PER is the floor, not 0.

    rec = load_phone_recognizer()
    per = phone_error_rate(rec, y, row)      # row: the corpus metadata of the utterance

Notebook: none yet (the re-synthesis chapter of issue 11)
"""
from __future__ import annotations

import os

import numpy as np
import torch

from .robust_features import (RobustAVConfig, RobustAVEncoder, RobustTrainConfig, load_module, phone_labels,
                              save_module, train_robust_encoder)
from .spectral import SR

DEFAULT_CKPT = os.path.join(os.path.dirname(__file__), "checkpoints", "phone_recognizer.pt")
FORMAT = "udiffse_lite/phone_recognizer/1"
TRAIN_CMD = "python -m udiffse_lite phones train --corpus data/corpus"


def edit_distance(a, b) -> int:
    """Levenshtein distance between two sequences (substitutions, insertions, deletions cost 1)."""
    a, b = list(a), list(b)
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def collapse(labels) -> list:
    """Merge runs of the same label: ``[3, 3, 5, 5, 3] -> [3, 5, 3]``."""
    out = []
    for x in labels:
        if not out or out[-1] != x:
            out.append(x)
    return out


def train_phone_recognizer(corpus: str, out_path: str = DEFAULT_CKPT, steps: int = 2000, limit: int | None = None,
                           progress: bool = True) -> tuple[RobustAVEncoder, dict]:
    """Train the recogniser: clean audio only, phone and cluster heads, no noise, no video.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    cfg = RobustTrainConfig(steps=steps, p_audio_only=1.0, p_video_only=0.0, p_noisy=0.0, consistency=0.0)
    rec, rep = train_robust_encoder(corpus, out_path=None, config=cfg, limit=limit, progress=progress)
    if out_path:
        save_module(rec, out_path, FORMAT, {**rep, "what": "phone recogniser: clean audio only"})
    return rec, rep


def load_phone_recognizer(path: str = DEFAULT_CKPT) -> RobustAVEncoder:
    """Load the recogniser (eval mode, no gradients).

    Raises:
        FileNotFoundError: with the command that trains one.
    """
    return load_module(path, FORMAT, lambda c: RobustAVEncoder(RobustAVConfig(**c)), "phone recogniser", TRAIN_CMD)


def reference_labels(rec: RobustAVEncoder, row: dict, n_video: int) -> np.ndarray:
    """The reference phone of each 40 ms frame of ``row`` (-100 where the timings say nothing)."""
    if "phones" not in row or "phoneset" not in row:
        raise ValueError("the row needs the corpus' phone timings ('phones', 'phoneset'): pass a row of "
                         "udiffse_lite.data.load_metadata(corpus, split)")
    index = {p: i for i, p in enumerate(rec.config.phones)}
    return phone_labels(row, n_video, index)


@torch.no_grad()
def recognise(rec: RobustAVEncoder, y, sr: int = SR) -> np.ndarray:
    """The recogniser's phone index for every 40 ms frame of ``y`` (L,) at 16 kHz."""
    h = rec.features(np.asarray(y, dtype=np.float32), None, sr=sr)
    return rec.phone_head(h).argmax(-1).numpy()


def phone_error_rate(rec: RobustAVEncoder, y, row: dict, sr: int = SR) -> float:
    """PER of waveform ``y`` against the phone timings of ``row``: edit distance of the merged frame
    labels over the reference length, on the frames the timings cover. Can exceed 1.

    Raises:
        ValueError: a row without phone timings, or timings that cover no frame.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    hyp = recognise(rec, y, sr)
    ref = reference_labels(rec, row, len(hyp))
    keep = ref >= 0
    if not keep.any():
        raise ValueError(f"the phone timings of {row.get('id', 'this row')} cover none of the {len(hyp)} frames")
    r = collapse(ref[keep])
    return edit_distance(collapse(hyp[keep]), r) / len(r)


def add_cli(subparsers) -> None:
    import argparse

    p = subparsers.add_parser("phones", help="train / evaluate the phone recogniser (the PER of re-synthesis)",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("action", choices=["train", "evaluate"])
    p.add_argument("--corpus", default="data/corpus")
    p.add_argument("--out", default=DEFAULT_CKPT, help="checkpoint to write (train) or read (evaluate)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--split", default="valid")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    from .data.corpus import load_metadata
    from .data.datasets import load_wav
    from .data.mix import _noise_library, mix

    if not os.path.isdir(args.corpus):
        raise FileNotFoundError(f"corpus {args.corpus} not found: build it with "
                                f"`python -m udiffse_lite corpus --preset small --out {args.corpus}`")
    if args.action == "train":
        _, rep = train_phone_recognizer(args.corpus, args.out, steps=args.steps)
        print(f"wrote {args.out}: {rep['steps']} steps in {rep['minutes']:.1f} min, loss {rep['final_loss']:.3f}")
    rec = load_phone_recognizer(args.out)
    lib, types = _noise_library(args.corpus, "test", None)
    rng = np.random.default_rng(0)
    rows = load_metadata(args.corpus, args.split)
    res: dict = {"clean": []}
    for i, row in enumerate(rows):
        s = load_wav(row["wav"])
        res["clean"].append(phone_error_rate(rec, s, row))
        clip = [c for c in lib if c["type"] == types[i % len(types)]][0]
        n = load_wav(os.path.join(args.corpus, clip["wav"]))
        for snr in (-5, 0, 5):
            x, *_ = mix(s, n, snr, rng)
            res.setdefault(f"noisy {snr:+d} dB", []).append(phone_error_rate(rec, x, row))
    print(f"phone error rate on {len(rows)} {args.split} utterances (one test noise each, cycling types):")
    for k, v in res.items():
        print(f"  {k:>14}: {np.mean(v):.3f}")
    return 0
