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

import torch

from udiffse_lite.evaluation import _load_prior
from udiffse_lite.priors import ScorePrior
from udiffse_lite.spectral import crop_frames, pad_frames
from udiffse_lite.training import TrainConfig, Trainer, step_generator

TIMES = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


@torch.no_grad()
def clean_error(prior: ScorePrior, S: torch.Tensor, v, t: float, g: torch.Generator, null: bool = False):
    """Per-crop mean |s0_hat - s0|^2 at diffusion time t (the same z for a given generator state)."""
    sde, net = prior.sde, prior.net
    tt = torch.full((S.shape[0],), t)
    s_t, z = sde.perturb(S, tt, g)
    x, T = pad_frames(torch.stack([s_t.real, s_t.imag], 1), net.downsample_factor)
    out = crop_frames(net(x, tt, None if null else v), T).float()
    z_hat = torch.complex(out[:, 0], out[:, 1])
    s0 = (s_t - sde.std(tt)[:, None, None] * z_hat) / sde.mean_factor(tt)[:, None, None]
    return (s0 - S).abs().pow(2).mean(dim=(1, 2))


def measure(prior: ScorePrior, corpus: str, features: str, n_crops: int = 64, batch: int = 16, seed: int = 0,
            split: str = "valid"):
    from udiffse_lite.data.datasets import CropDataset

    ds = CropDataset(corpus, split=split, features=features, seed=seed)
    tr = Trainer(prior.net, ds, TrainConfig(batch_size=batch, crop_frames=128, amp="none"), device="cpu")
    rows = {t: {"true": [], "wrong": [], "none": []} for t in TIMES}
    n = min(n_crops, len(ds))
    for i in range(0, n - batch + 1, batch):
        audio, video = tr._load([(j, 0) for j in range(i, i + batch)], ds)
        S, v = tr.make_batch(audio, video, step_generator(seed, i, 77), augment=False)
        wrong = torch.roll(v, 1, dims=0)
        for t in TIMES:
            for name, vv, null in (("true", v, False), ("wrong", wrong, False), ("none", None, True)):
                g = step_generator(seed, i, int(t * 1000))  # the same noise for the three videos
                rows[t][name].append(clean_error(prior, S, vv, t, g, null))
    return {t: {k: float(torch.cat(vals).mean()) for k, vals in r.items()} for t, r in rows.items()}


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
