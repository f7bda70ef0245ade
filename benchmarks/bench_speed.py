"""Speed against quality: steps x chains x precision on the validation mixtures, for the presets.

    python benchmarks/bench_speed.py --corpus data/corpus [--prior tiny-ao] [--threads N]
        [--grid 30x4 10x2 6x1 4x1] [--precisions fp32 bf16] [--out docs/speed]

For every (steps, chains, precision): the mean SI-SDR / PESQ-WB / ESTOI gain over the input on
the `valid` split x every test-noise type x {-5, 0, 5} dB, and the real-time factor (wall time per
second of audio, after a warm-up, model loading excluded). Prints a markdown table; ``--out``
writes ``<out>.md`` and a plot of gain against RTF (``<out>.png``). Run it alone on a quiet machine.

Notebook: 09_udiffse_plus.ipynb
"""
from __future__ import annotations

import argparse
import datetime
import platform
import subprocess

import torch

from udiffse_lite.evaluation import _load_prior, score_mixtures, validation_mixtures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--prior", default="tiny-ao")
    ap.add_argument("--grid", nargs="+", default=["30x4", "30x2", "10x2", "8x1", "6x1", "4x1"],
                    help="STEPSxCHAINS settings")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--snrs", nargs="+", type=float, default=[-5, 0, 5])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    mixes = validation_mixtures(args.corpus, snrs=tuple(args.snrs), seconds=args.seconds)
    prior = _load_prior(args.prior, "cpu")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    head = [f"Measured by `python benchmarks/bench_speed.py {' '.join(argv or __import__('sys').argv[1:])}`; "
            f"commit `{commit}`; {platform.machine()} CPU, {torch.get_num_threads()} torch threads; "
            f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; {len(mixes)} validation mixtures of {args.seconds} s; "
            f"prior `{args.prior}`; UDiffSE+.", "",
            "| steps | chains | precision | network evaluations | RTF | SI-SDR gain (dB) | PESQ-WB gain | ESTOI gain |",
            "|---:|---:|---|---:|---:|---:|---:|---:|"]
    print("\n".join(head), flush=True)
    rows, pts = [], []
    score_mixtures(prior, mixes[:1], n_steps=4, n_samples=1, pesq=False)  # warm-up
    for prec in args.precisions:
        for g in args.grid:
            n_steps, n_samples = map(int, g.split("x"))
            r = score_mixtures(prior, mixes, n_steps=n_steps, n_samples=n_samples, precision=prec)
            line = (f"| {n_steps} | {n_samples} | {prec} | {2 * n_steps} | {r['rtf']:.2f} | {r['si_sdr']:+.2f} | "
                    f"{r['pesq']:+.3f} | {r['estoi']:+.3f} |")
            print(line, flush=True)
            rows.append(line)
            pts.append((prec, n_steps, n_samples, r["rtf"], r["si_sdr"]))
    prior.set_precision("fp32")
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        out.with_suffix(".table.md").write_text("\n".join(head + rows) + f"\n\n![gain against RTF]({out.stem}.png)\n")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
        for prec in args.precisions:
            sel = [p for p in pts if p[0] == prec]
            ax.plot([p[3] for p in sel], [p[4] for p in sel], "o", label=prec)
            for p in sel:
                ax.annotate(f"{p[1]}x{p[2]}", (p[3], p[4]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.axvline(1.0, color="k", lw=0.6, ls="--")
        ax.set(xscale="log", xlabel="real-time factor (s per s of audio)", ylabel="SI-SDR gain (dB)",
               title="UDiffSE+ speed against quality (steps x chains)")
        ax.legend()
        fig.savefig(out.with_suffix(".png"), dpi=110)


if __name__ == "__main__":
    main()
