"""Where does UDiffSE+ lose? The noise estimate, measured against oracles on the validation mixtures.

    python benchmarks/noise_oracle.py --corpus data/corpus --prior tiny-ao [--snrs -5 5] [--seed 0]
    python benchmarks/noise_oracle.py --corpus data/corpus --prior tiny-av --video --no-oracles

The same posterior sampler (package defaults, but without the stationary noise floor of session 21,
``noise_floor=0``, so that every row's output filter sees its noise model alone) runs three times per
mixture, with

- ``estimated``: the rank-K NMF estimated from the mixture alone (UDiffSE+ as ``enhance`` runs it, less the floor);
- ``NMF of the truth``: a rank-K NMF fitted (50 updates) to the *true* noise power, then held fixed:
  the best the NMF noise model could do if its estimation were perfect;
- ``true power``: the true noise power ``|N|^2`` of every bin as the variance (an oracle no method has).

The gap between the first two rows is what the *estimation* of the noise costs; the gap between the
last two what the low-rank model costs. For the estimated run it also prints how far the final noise
power ``Pn`` and speech power ``Ps`` (the two halves of the output's Wiener gain) sit from the true
ones, in the bins where the true noise dominates and in those where the speech does (dB of summed
power; 0 = right on average).

Tune nothing here: it is a diagnostic (``valid`` split only). Results: ``docs/sweep_sampler.md``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from udiffse_lite import metrics, spectral
from udiffse_lite.evaluation import _load_prior, validation_mixtures
from udiffse_lite.nmf import NMF
from udiffse_lite.samplers import (SamplerConfig, _check_video, _video_features, _wiener_gain, posterior_sample,
                                   udiffse_plus)


def _db(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    return float(10 * torch.log10(a[mask].sum() / b[mask].sum().clamp_min(1e-20)))


def run(prior, m: dict, cfg: SamplerConfig, rank: int, seed: int, video: bool = False, oracles: bool = True) -> dict:
    X, NF = spectral.normalise(spectral.to_spec(torch.from_numpy(m["x"])))
    v = _video_features(prior, _check_video(m["lips"], len(m["x"])), len(m["x"]), cfg.n_samples) if video else None
    S_true = spectral.to_spec(torch.from_numpy(m["s"])) / NF[0]
    Pn_true, Ps_true = (X - S_true).abs().pow(2), S_true.abs().pow(2)

    def gain(est):
        y = spectral.to_wave(est * NF[0], len(m["x"])).numpy()
        return metrics.si_sdr(y, m["s"]) - metrics.si_sdr(m["x"], m["s"])

    out = {}
    with torch.no_grad():
        est, info = udiffse_plus(prior, X, cfg=cfg, video=v, nmf_rank=rank, generator=torch.Generator().manual_seed(seed),
                                 return_info=True)
        out["estimated"] = gain(est)
        Pn, Ps = info["nmf"].V, info["samples"].abs().pow(2).mean(0)
        noise_dom = Pn_true > Ps_true
        out["bias"] = (float(noise_dom.float().mean()), _db(Pn, Pn_true, noise_dom), _db(Ps, Ps_true, noise_dom),
                       _db(Pn, Pn_true, ~noise_dom))
        if not oracles:
            return out
        fit = NMF(*Pn_true.shape, rank, generator=torch.Generator().manual_seed(seed))
        for _ in range(50):
            fit.update(Pn_true)
        for name, V in (("nmf_truth", fit.V), ("true_power", Pn_true.clamp_min(1e-10))):
            S = posterior_sample(prior, X, V, cfg=cfg, video=v, generator=torch.Generator().manual_seed(seed))
            out[name] = gain(X * _wiener_gain(S.abs().pow(2).mean(0), V, cfg))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--prior", default="tiny-ao", help="a prior (an AV prior runs without video)")
    ap.add_argument("--snrs", nargs="+", type=float, default=[-5, 5])
    ap.add_argument("--seconds", type=float, default=2.5)
    ap.add_argument("--seed", type=int, default=0, help="the validation draw (noise clips and offsets)")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--video", action="store_true", help="give an AV prior the mixtures' true lips (guidance as "
                    "the defaults)")
    ap.add_argument("--no-oracles", action="store_true", help="only the estimated run and its power errors")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    prior = _load_prior(args.prior, "cpu")
    if args.video and not getattr(prior, "conditional", False):
        raise SystemExit(f"--video needs an audio-visual prior (e.g. tiny-av); {args.prior} is audio-only")
    mixes = validation_mixtures(args.corpus, snrs=tuple(args.snrs), seconds=args.seconds, seed=args.seed)
    cfg = SamplerConfig(noise_floor=0.0)  # the noise models alone (the floor would sit under the estimated one only)
    t0 = time.time()
    names = ["estimated"] + ([] if args.no_oracles else ["nmf_truth", "true_power"])
    labels = {"estimated": "estimated NMF", "nmf_truth": "NMF of the truth", "true_power": "true power"}
    rows = []
    for m in mixes:
        r = run(prior, m, cfg, args.rank, 0, video=args.video, oracles=not args.no_oracles)
        rows.append((m["noise_type"], r))
        print(f"{m['noise_type']:12s} {m['snr_db']:+.0f} dB  " + "  ".join(f"{labels[k]} {r[k]:+6.2f}" for k in names),
              flush=True)
    print(f"\n{len(mixes)} `valid` mixtures (seed {args.seed}, {args.snrs} dB, {args.seconds} s), prior `{args.prior}`, "
          f"{'true lips, ' if args.video else ''}rank {args.rank}, {cfg.n_steps} steps x {cfg.n_samples} chains, "
          f"{torch.get_num_threads()} threads, {time.time() - t0:.0f} s\n")
    print("| noise | " + " | ".join(f"SI-SDR gain: {labels[k]}" for k in names) + " | noise-dominated bins | "
          "Pn - true (noise-dom.) | Ps - true (noise-dom.) | Pn - true (speech-dom.) |")
    print("|---|" + "---:|" * (len(names) + 4))
    for t in sorted({t for t, _ in rows}) + ["mean"]:
        sel = [r for tt, r in rows if t in (tt, "mean")]
        b = np.mean([r["bias"] for r in sel], axis=0)
        name = f"**{t}**" if t == "mean" else t
        print(f"| {name} | " + " | ".join(f"{np.mean([r[k] for r in sel]):+.2f}" for k in names)
              + f" | {b[0]:.0%} | {b[1]:+.1f} dB | {b[2]:+.1f} dB | {b[3]:+.1f} dB |")


if __name__ == "__main__":
    main()
