"""Do the noise-robust AV features carry the pitch contour? A linear (ridge) probe from the encoder's
features (25 fps) to the log f0 of the clean speech, on voiced frames.

    python benchmarks/features_f0.py --corpus data/corpus [--train 150] [--valid 40]

f0 by a plain normalised-autocorrelation tracker on the clean speech (1,024-sample windows at the
feature rate, 70-400 Hz, voiced where the peak exceeds 0.5). Fitted on ``--train`` utterances of
`train`, scored on ``--valid`` of `valid` (other voices). Prints R^2 of the probe, of each voice's
own mean log f0 (an oracle that knows the speaker and nothing else), and the probe's R^2 *within*
voices (after removing each voice's mean): the part of the contour (intonation) the features carry.
A re-synthesiser can only draw harmonics from features that carry the contour.

Notebook: none yet (the re-synthesis chapter of issue 11)
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from udiffse_lite import spectral
from udiffse_lite.data.corpus import load_metadata
from udiffse_lite.data.datasets import load_wav
from udiffse_lite.resynthesis import _lip_features
from udiffse_lite.robust_features import load_robust_encoder


def f0_track(x, sr=16000, hop=640, win=1024, fmin=70, fmax=400, threshold=0.5):
    """f0 (Hz) per ``hop`` samples by the normalised autocorrelation peak; NaN where unvoiced or silent."""
    out = []
    for c in range(0, len(x) - win, hop):
        seg = x[c:c + win] - x[c:c + win].mean()
        if np.sqrt(np.mean(seg ** 2)) < 1e-3:
            out.append(np.nan)
            continue
        ac = np.correlate(seg, seg, "full")[win - 1:]
        ac = ac / (ac[0] + 1e-12)
        lo, hi = sr // fmax, sr // fmin
        k = lo + int(np.argmax(ac[lo:hi]))
        out.append(sr / k if ac[k] > threshold else np.nan)
    return np.array(out)


def frames(corpus, split, n, enc):
    X, Y, V = [], [], []
    for r in load_metadata(corpus, split)[:n]:
        s = load_wav(r["wav"]).astype(np.float32)
        nv = spectral.expected_video_frames(len(s))
        f = enc.features(s, _lip_features(np.load(r["lips"])["frames"][:nv], nv))
        f = f.numpy() if torch.is_tensor(f) else np.asarray(f)
        f0 = f0_track(s)
        m = min(len(f0), len(f))
        ok = np.isfinite(f0[:m])
        X.append(f[:m][ok])
        Y.append(np.log(f0[:m][ok]))
        V += [r["voice"]] * int(ok.sum())
    return np.concatenate(X), np.concatenate(Y), np.array(V)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--train", type=int, default=150)
    ap.add_argument("--valid", type=int, default=40)
    ap.add_argument("--ridge", type=float, default=1.0)
    args = ap.parse_args(argv)
    enc = load_robust_encoder()
    Xtr, Ytr, _ = frames(args.corpus, "train", args.train, enc)
    Xva, Yva, Vva = frames(args.corpus, "valid", args.valid, enc)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    A = np.c_[(Xtr - mu) / sd, np.ones(len(Xtr))]
    w = np.linalg.solve(A.T @ A + args.ridge * np.eye(A.shape[1]), A.T @ Ytr)
    P = np.c_[(Xva - mu) / sd, np.ones(len(Xva))] @ w
    B = np.array([Yva[Vva == v].mean() for v in Vva])  # each voice's own mean (oracle)

    def r2(pred, y):
        return 1 - np.mean((pred - y) ** 2) / np.var(y)

    print(f"voiced frames: train {len(Ytr)}, valid {len(Yva)} ({len(set(Vva))} voices); f0 sd {np.std(np.exp(Yva)):.0f} Hz\n")
    print("| predictor of log f0 | R^2 | median abs error (Hz) |")
    print("|---|---:|---:|")
    for name, pred in (("ridge probe on the features", P), ("each voice's mean (oracle)", B)):
        print(f"| {name} | {r2(pred, Yva):.2f} | {np.median(np.abs(np.exp(pred) - np.exp(Yva))):.1f} |")
    print(f"| the probe within voices (contour only) | {r2(P - B, Yva - B):.2f} | - |")


if __name__ == "__main__":
    main()
