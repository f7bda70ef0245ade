"""Sampler settings chosen by measurement, on the *validation* mixtures (never the test splits).

    python benchmarks/sweep_sampler.py --corpus data/corpus --prior tiny-ao [--av-prior tiny-av] \
        [--seconds 3] [--per-condition 1] [--out docs/sweep_sampler.md]

Starts from the package defaults and changes one knob at a time (lambda, corrector snr,
n_steps, n_samples, k, NMF rank, NMF updates per refresh, start state, predictor, the reference preset; guidance with
an AV prior), printing a markdown table of mean SI-SDR / PESQ-WB / ESTOI *gains* over the input
on the `valid` split x every test-noise type x {-5, 0, 5} dB, and how much each knob moves the
SI-SDR gain (max - min over its values). Run it alone: it uses every core.

Notebook: 09_udiffse_plus.ipynb
"""
from __future__ import annotations

import argparse
import datetime
import platform
import subprocess

import torch

from udiffse_lite.evaluation import _load_prior, score_mixtures, validation_mixtures
from udiffse_lite.samplers import SamplerConfig

KNOBS = {
    "lam": [0.5, 1.0, 1.5, 2.0],
    "snr": [0.25, 0.5, 0.75],
    "n_steps": [4, 6, 10, 30],
    "n_samples": [1, 2, 4],
    "k": [1, 2, 4],
    "nmf_rank": [2, 4, 8],
    "nmf_iters": [1, 2, 4],
    "nmf_target": ["residual", "residual+var", "wiener"],
    "start": ["mixture", "scaled"],
    "predictor": ["ancestral", "euler-maruyama"],
    "output": ["mean", "wiener"],
    "gain_floor": [0.0, 0.1, 0.2, 0.3],
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--prior", default="tiny-ao")
    ap.add_argument("--av-prior", default=None, help="also sweep guidance with this AV prior")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--snrs", nargs="+", type=float, default=[-5, 0, 5])
    ap.add_argument("--values", nargs="*", default=[], help="override a knob's values: knob=v1,v2")
    ap.add_argument("--per-condition", type=int, default=1)
    ap.add_argument("--knobs", nargs="*", default=None, help=f"subset of {sorted(KNOBS)} (+ 'reference', 'guidance')")
    ap.add_argument("--base", nargs="*", default=[], help="base settings as key=value (e.g. n_samples=2)")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    mixes = validation_mixtures(args.corpus, snrs=tuple(args.snrs), seconds=args.seconds,
                                per_condition=args.per_condition)
    for kv in args.values:
        k, vs = kv.split("=")
        KNOBS[k] = [type(KNOBS[k][0])(v) for v in vs.split(",")] if k in KNOBS else vs.split(",")
    base = dict(n_steps=30, n_samples=2, precision=args.precision)
    for kv in args.base:
        k, v = kv.split("=")
        base[k] = int(v) if k in ("n_steps", "n_samples", "k", "nmf_rank", "nmf_iters") else _number_or_text(v)
    prior = _load_prior(args.prior, "cpu")
    lines = ["# Sampler sweep on the validation mixtures\n",
             f"- command: `python benchmarks/sweep_sampler.py {' '.join(argv or __import__('sys').argv[1:])}`",
             f"- commit: `{_commit()}`; {platform.machine()} CPU, {torch.get_num_threads()} threads; "
             f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
             f"- mixtures: {len(mixes)} (`valid` x {len({m['noise_type'] for m in mixes})} test-noise types x "
             f"{args.snrs} dB, {args.seconds} s each); base: {base}; prior `{args.prior}`\n",
             "| knob | value | SI-SDR gain (dB) | PESQ-WB gain | ESTOI gain | RTF |", "|---|---|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    spread = {}
    knobs = args.knobs or list(KNOBS) + ["reference"] + (["guidance"] if args.av_prior else [])
    done: dict = {}  # the base setting recurs in every knob's list: run each distinct setting once

    def scored(**kw):
        key = tuple(sorted((k, str(v)) for k, v in kw.items()))
        if key not in done:
            done[key] = score_mixtures(prior, mixes, **kw)
        return done[key]

    def row(knob, value, res):
        line = (f"| {knob} | {value} | {res['si_sdr']:+.2f} | {res['pesq']:+.3f} | {res['estoi']:+.3f} | "
                f"{res['rtf']:.1f} |")
        print(line, flush=True)
        lines.append(line)

    for knob in knobs:
        vals = []
        if knob == "reference":
            kw = {**base, **{k: v for k, v in vars(SamplerConfig.reference()).items()
                             if k not in ("n_steps", "n_samples")}}
            res = score_mixtures(prior, mixes, **kw)
            row("preset", "reference", res)
            continue
        if knob == "guidance":
            av = _load_prior(args.av_prior, "cpu")
            for w in [None, 1.5, 2.0, 3.0]:
                res = score_mixtures(av, mixes, video="true", guidance=w, **base)
                row("guidance (true lips)", w or 1.0, res)
                vals.append(res["si_sdr"])
            res = score_mixtures(av, mixes, video="none", **base)
            row("AV prior, no video", "-", res)
            spread[knob] = max(vals) - min(vals)
            continue
        for v in KNOBS[knob]:
            res = scored(**{**base, knob: v})
            row(knob, v, res)
            vals.append(res["si_sdr"])
        spread[knob] = max(vals) - min(vals)
    lines += ["", "How much each knob moves the mean SI-SDR gain (max - min over its values):", "",
              "| knob | spread (dB) |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in sorted(spread.items(), key=lambda kv: -kv[1])]
    print("\n".join(lines[-len(spread) - 4:]))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


def _number_or_text(v: str):
    try:
        return float(v)
    except ValueError:
        return v


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
