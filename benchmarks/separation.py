"""Two speakers in noise, separated by their lips: true lips against swapped lips and no lips.

    python benchmarks/separation.py --corpus data/corpus [--prior tiny-av] [--noise nmf|tiny-noise]
        [--n 8] [--snr 5] [--sir 0] [--seconds 2.5] [--guidance 1 3] [--guidance-interval auto 0:1]
        [--split valid] [--coupling score|dps]

``ul.separate`` (``--coupling score``, the default, or ``dps``; 30 steps x 2 chains, bf16) on ``make_separation_mixtures`` of the split.
Output ``k`` is scored against speaker ``k``: with **true** lips output ``k`` was given speaker
``k``'s lips; with **swapped** lips it was given the other speaker's, so a separator whose outputs
follow the lips puts the other speaker there and scores far below; with **no** lips nothing fixes
the order and the row is scored with the better of the two permutations (an upper bound). The
issue's target: true - swapped >= 3 dB SI-SDR improvement per speaker. Each guidance weight other
than 1 runs once per ``--guidance-interval`` (auto: guidance only at t <= 0.5 from 30 steps on, the
rule of ``samplers.guided_times``; 0:1 every step).

Run it alone with every core (several minutes on 2 cores).

Notebook: 12_two_priors.ipynb
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from udiffse_lite import metrics
from udiffse_lite.data.mix import make_separation_mixtures
from udiffse_lite.evaluation import _lips, _load_prior
from udiffse_lite.samplers import guided_times, parse_guidance_interval
from udiffse_lite.spectral import expected_video_frames
from udiffse_lite.separation import separate


def interval(d) -> str:
    mean, half = metrics.mean_ci(d)
    return f"{mean:+.2f}" if half != half else f"{mean:+.2f} +- {half:.2f}"  # (half is nan for one value)


def improvements(outs, m) -> list[float]:
    return [metrics.si_sdr(o, s) - metrics.si_sdr(m["x"], s) for o, s in zip(outs, m["sources"])]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--prior", default="tiny-av")
    ap.add_argument("--noise", default="nmf", help="'nmf' or a noise prior (name or prior.pt)")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--snr", type=float, default=5.0)
    ap.add_argument("--sir", type=float, default=0.0)
    ap.add_argument("--seconds", type=float, default=2.5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--guidance", nargs="+", type=float, default=[1.0])
    ap.add_argument("--guidance-interval", nargs="+", default=["auto"], metavar="LO:HI",
                    help="guidance only at diffusion times LO < t <= HI (auto: the package's rule)")
    ap.add_argument("--coupling", default="score", choices=["score", "dps"])
    ap.add_argument("--lam", type=float, default=None, help="the noise model's likelihood weight (score coupling)")
    args = ap.parse_args(argv)
    try:  # checked before the first (minutes-long) row
        intervals = [parse_guidance_interval(g) for g in args.guidance_interval]
    except ValueError as e:
        ap.error(f"--guidance-interval takes auto or LO:HI pairs such as 0:1 or 0:0.5 ({e})")
    mixes = make_separation_mixtures(args.corpus, args.split, n=args.n, snr_db=args.snr, sir_db=args.sir,
                                     seconds=args.seconds)
    prior = _load_prior(args.prior, "cpu")
    noise = args.noise if args.noise == "nmf" else _load_prior(args.noise, "cpu")
    print(f"{len(mixes)} two-speaker mixtures of {args.split} ({args.seconds} s, SNR {args.snr:g} dB, SIR "
          f"{args.sir:g} dB), prior {args.prior}, noise {args.noise}, {args.steps} steps x 2 chains\n")
    rows = []
    runs = [(w, gi) for w in args.guidance for gi in (intervals if w != 1.0 else [None])]
    for w, gi in runs:
        g = None if w == 1.0 else w
        per = {"true": [], "swapped": [], "none (best order)": []}
        wall, dur = 0.0, 0.0  # the true-lips runs of this row
        for m in mixes:
            n_v = expected_video_frames(len(m["x"]))  # the mixture is cut from the start of both utterances
            l1, l2 = (_lips({"lips": p})[:n_v] for p in m["lips"])
            kw = dict(prior=prior, noise_prior=noise, n_steps=args.steps, n_samples=2, guidance=g,
                      precision="auto", coupling=args.coupling, lam=args.lam, guidance_interval=gi)
            t0 = time.perf_counter()
            per["true"] += improvements(separate(m["x"], 16000, lips=[l1, l2], **kw), m)
            wall += time.perf_counter() - t0
            dur += len(m["x"]) / 16000
            per["swapped"] += improvements(separate(m["x"], 16000, lips=[l2, l1], **kw), m)
            if (w, gi) == runs[0]:
                o = separate(m["x"], 16000, lips=[None, None], **kw)
                a, b = improvements(o, m), improvements(o[::-1], m)
                per["none (best order)"] += a if sum(a) >= sum(b) else b
            print(f"{m['id']}: true {np.mean(per['true'][-2:]):+.2f}, swapped {np.mean(per['swapped'][-2:]):+.2f} dB",
                  flush=True)
        rows.append((w, gi, per, wall / max(dur, 1e-9)))
    print("\n| guidance | guided t | lips | SI-SDR improvement per speaker (dB, mean +- 95 %) | RTF (true lips) |")
    print("|---:|---:|---|---:|---:|")
    for w, gi, per, rtf in rows:
        lo, hi = guided_times(gi, args.steps)
        where = "-" if w == 1.0 else f"{lo:g}-{hi:g}"
        for k, v in per.items():
            if v:
                print(f"| {w:g} | {where} | {k} | {interval(v)} | {f'{rtf:.1f}' if k == 'true' else ''} |")
        gap = np.array(per["true"]) - np.array(per["swapped"])
        print(f"| {w:g} | {where} | **true - swapped** | **{interval(gap)}** | |")
    first = {}  # per weight, the first interval's rows: the others are compared with it, paired per mixture
    for w, gi, per, _ in rows:
        if w == 1.0:
            continue
        if w not in first:
            first[w] = (gi, per)
            continue
        gi0, per0 = first[w]
        mix = lambda v: np.array(v).reshape(-1, 2).mean(1)  # noqa: E731 (the two speakers of a mixture)
        d_true = mix(per["true"]) - mix(per0["true"])
        d_gap = d_true - (mix(per["swapped"]) - mix(per0["swapped"]))
        lo, hi = guided_times(gi, args.steps)
        lo0, hi0 = guided_times(gi0, args.steps)
        print(f"guidance {w:g}, guided t {lo:g}-{hi:g} minus {lo0:g}-{hi0:g} (paired per mixture): true lips "
              f"{interval(d_true)} dB, true - swapped {interval(d_gap)} dB")


if __name__ == "__main__":
    main()
