"""NMF against a learned (diffusion) noise prior, on noise types the noise prior saw in training and
on types it never saw, the same validation mixtures for both.

    python benchmarks/noise_prior.py --corpus data/corpus --noise-prior tiny-noise \
        [--speech tiny-ao] [--snrs -5 5] [--seconds 2.5] [--zeta 2] [--lam 1.3] [--seed 0]

Speech prior with NMF noise (UDiffSE+, 30 steps x 2 chains) against the same speech prior with
the noise prior (``--coupling score``: UDiffSE+ with the noise network's score in the likelihood;
``dps``: DPS, both states from zero-mean noise; 30 steps x 2 chains), bf16, on the `valid`
split x every *test*-library noise type x SNR. "Seen" are the types of the noise prior's recipe
(``Recipe.noise_types``; the test clips are other clips of those types), "unseen" the rest.
Prints per type and per group the mean SI-SDR / PESQ-WB / ESTOI gains and the paired
difference (diffusion - NMF) as mean +- 95 % interval over the mixtures. The issue's target:
the diffusion noise prior beats NMF on seen types.

Run it alone with every core (about 10 minutes on 2 cores).

Notebook: 12_two_priors.ipynb
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from udiffse_lite import metrics
from udiffse_lite.evaluation import _load_prior, score_mixtures, validation_mixtures
from udiffse_lite.recipes import NOISE_PRIOR_TYPES


def interval(d) -> str:
    mean, half = metrics.mean_ci(d)
    return f"{mean:+.2f}" if half != half else f"{mean:+.2f} +- {half:.2f}"  # (half is nan for one value)


def seen_types(noise_prior: str) -> tuple:
    """The noise types a noise prior trained on: from its model card when it has one."""
    card = Path(noise_prior).with_name("model_card.json")
    if card.exists():
        types = json.loads(card.read_text()).get("noise_types")
        if types:
            return tuple(types)
    return NOISE_PRIOR_TYPES


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--noise-prior", default="tiny-noise", help="a name or a prior.pt")
    ap.add_argument("--speech", default="tiny-ao")
    ap.add_argument("--snrs", nargs="+", type=float, default=[-5, 5])
    ap.add_argument("--seconds", type=float, default=2.5)
    ap.add_argument("--zeta", type=float, default=None)
    ap.add_argument("--lam", type=float, default=None, help="weight of the noise score (score coupling; "
                    "default the library's TWO_PRIOR_LAM, 1.3)")
    ap.add_argument("--seed", type=int, default=0, help="which validation mixtures (0: the tuning set; 1: a "
                    "second draw to confirm a choice on)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--coupling", default="score", choices=["score", "dps"])
    ap.add_argument("--seen", nargs="+", default=None, help="the noise types the prior trained on "
                    "(default: its model card's, else the tiny-noise recipe's)")
    args = ap.parse_args(argv)
    mixes = validation_mixtures(args.corpus, snrs=tuple(args.snrs), seconds=args.seconds,
                                 seed=args.seed)
    seen = tuple(args.seen) if args.seen else seen_types(args.noise_prior)
    speech = _load_prior(args.speech, "cpu")
    noise = _load_prior(args.noise_prior, "cpu")
    kw = dict(n_steps=args.steps, n_samples=2, precision="auto")
    print(f"{len(mixes)} validation mixtures ({args.seconds} s, SNRs {args.snrs}), speech prior {args.speech}, "
          f"{args.steps} steps x 2 chains; seen types: {', '.join(seen)}\n")
    res = {"nmf": [], "diffusion": []}
    for m in mixes:
        for model in res:
            extra = {} if model == "nmf" else dict(noise_model="diffusion", noise_prior=noise, coupling=args.coupling,
                                                          zeta=args.zeta, lam=args.lam)
            r = score_mixtures(speech, [m], **kw, **extra)
            res[model].append((r["si_sdr"], r["pesq"], r["estoi"], r["rtf"]))
        print(f"{m['noise_type']:>12} {m['snr_db']:+.0f} dB: NMF {res['nmf'][-1][0]:+.2f}, "
              f"diffusion {res['diffusion'][-1][0]:+.2f} dB", flush=True)
    types = [m["noise_type"] for m in mixes]
    a = {k: np.array(v) for k, v in res.items()}
    print("\n| noise types | mixtures | NMF SI-SDR gain | diffusion SI-SDR gain | diffusion - NMF (dB, paired 95 %) "
          "| PESQ-WB gain NMF / diffusion | ESTOI gain NMF / diffusion |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    groups = [("seen: " + ", ".join(seen), [t in seen for t in types]),
              ("unseen: " + ", ".join(sorted(set(types) - set(seen))), [t not in seen for t in types])]
    groups += [(t, [tt == t for tt in types]) for t in sorted(set(types))]
    for name, mask in groups:
        mask = np.array(mask)
        if not mask.any():
            continue
        n, d = a["nmf"][mask], a["diffusion"][mask]
        print(f"| {name} | {mask.sum()} | {n[:, 0].mean():+.2f} | {d[:, 0].mean():+.2f} | "
              f"{interval(d[:, 0] - n[:, 0])} | {n[:, 1].mean():+.3f} / {d[:, 1].mean():+.3f} | "
              f"{n[:, 2].mean():+.3f} / {d[:, 2].mean():+.3f} |")
    print(f"\nreal-time factor: NMF {a['nmf'][:, 3].mean():.1f}, diffusion {a['diffusion'][:, 3].mean():.1f}")


if __name__ == "__main__":
    main()
