"""Does an audio-visual prior look? Its denoising error with the true, another utterance's and no lips.

    python benchmarks/video_gain.py --corpus data/corpus --prior runs/tiny-av/prior.pt [--prior ...]

For fixed validation crops, noise draws and diffusion times t, the clean-data error of the
network's one-step (Tweedie) estimate, ``mean |s0_hat - s0|^2`` with ``s0_hat = (s_t - sigma_t
z_hat) / mu_t``, is computed three times: with the true lips, with another crop's lips (the batch
rolled by one) and with the null video. A prior that uses the lips has a smaller error with the
true lips than with the wrong ones, most of all at large t, where the noisy spectrogram says
little. This needs no sampling (seconds per prior), so it can follow a training run; whether the
gain reaches enhancement is measured by ``learning_curve.py --video both``.

Prints a markdown table: per t, the error with the true lips and the relative change with the
wrong lips and with none (positive = the true lips help).

Notebook: 10_seeing_speech.ipynb
"""
from __future__ import annotations

import argparse

from udiffse_lite.evaluation import _load_prior, lip_denoising_errors
from udiffse_lite.priors import ScorePrior
from udiffse_lite.training import TrainConfig, Trainer, step_generator

TIMES = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def measure(prior: ScorePrior, corpus: str, features: str, n_crops: int = 64, batch: int = 16, seed: int = 0,
            split: str = "valid"):
    from udiffse_lite.data.datasets import CropDataset

    ds = CropDataset(corpus, split=split, features=features, seed=seed)
    tr = Trainer(prior.net, ds, TrainConfig(batch_size=batch, crop_frames=128, amp="none"), device="cpu")
    sums = {t: {"true": 0.0, "wrong": 0.0, "none": 0.0} for t in TIMES}
    n, k = min(n_crops, len(ds)), 0
    for i in range(0, n - batch + 1, batch):
        audio, video = tr._load([(j, 0) for j in range(i, i + batch)], ds)
        S, v = tr.make_batch(audio, video, step_generator(seed, i, 77), augment=False)
        for t, r in lip_denoising_errors(prior, S, v, TIMES, seed=seed + i).items():
            for name, e in r.items():
                sums[t][name] += e
        k += 1
    return {t: {name: e / max(k, 1) for name, e in r.items()} for t, r in sums.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--features", default=None, help="lip-feature folder (default: <corpus>/features/lips)")
    ap.add_argument("--prior", action="append", required=True, help="AV prior file(s) (prior.pt or a name)")
    ap.add_argument("--crops", type=int, default=64)
    ap.add_argument("--split", default="valid", help="valid (tuning) or train (does the video pathway memorise?)")
    args = ap.parse_args(argv)
    features = args.features or f"{args.corpus}/features/lips"
    print("| prior | t | clean error, true lips | wrong lips vs true | no video vs true |")
    print("|---|---:|---:|---:|---:|")
    for path in args.prior:
        prior = _load_prior(path, "cpu")
        if not prior.conditional:
            raise SystemExit(f"{path} is an audio-only prior; this benchmark needs an audio-visual one")
        res = measure(prior, args.corpus, features, args.crops, split=args.split)
        for t, r in res.items():
            print(f"| {path} | {t:.1f} | {r['true']:.4f} | {100 * (r['wrong'] / r['true'] - 1):+.1f} % "
                  f"| {100 * (r['none'] / r['true'] - 1):+.1f} % |", flush=True)


if __name__ == "__main__":
    main()
