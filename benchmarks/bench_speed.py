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


def plot(pts, path) -> None:
    """Gain against RTF, one colour per precision; ``pts``: (precision, steps, chains, rtf, gain)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    for prec in dict.fromkeys(p[0] for p in pts):
        sel = [p for p in pts if p[0] == prec]
        ax.plot([p[3] for p in sel], [p[4] for p in sel], "o", label=prec)
        for p in sel:
            ax.annotate(f"{p[1]}x{p[2]}", (p[3], p[4]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axvline(1.0, color="k", lw=0.6, ls="--")
    ax.set(xscale="log", xlabel="real-time factor (s per s of audio)", ylabel="SI-SDR gain (dB)",
           title="UDiffSE+ speed against quality (steps x chains)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks([t for t in (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10) if min(p[3] for p in pts) / 1.5 < t < max(p[3] for p in pts) * 1.5])
    ax.legend()
    fig.savefig(path, dpi=110)


def points_from_table(path) -> list:
    """The (precision, steps, chains, rtf, gain) rows of a table this script wrote (to re-plot it)."""
    pts = []
    for line in open(path):
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(c) == 8 and c[0].isdigit():
            pts.append((c[2], int(c[0]), int(c[1]), float(c[4]), float(c[5])))
    return pts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="the corpus (required unless --replot)")
    ap.add_argument("--prior", default="tiny-ao")
    ap.add_argument("--grid", nargs="+", default=["30x4", "30x2", "10x2", "8x1", "6x1", "4x1"],
                    help="STEPSxCHAINS settings")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--snrs", nargs="+", type=float, default=[-5, 0, 5])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--bf16-min-t", type=float, default=None,
                    help="in bf16, run the network in fp32 below this t (default: the prior's, 0.2)")
    ap.add_argument("--replot", default=None, help="only re-draw the plot of a <out>.table.md this script wrote")
    args = ap.parse_args(argv)
    if args.replot:
        from pathlib import Path

        plot(points_from_table(args.replot), Path(args.replot.replace(".table.md", ".png")))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.corpus:
        ap.error("--corpus is required (python -m udiffse_lite corpus --preset small --out data/corpus)")
    mixes = validation_mixtures(args.corpus, snrs=tuple(args.snrs), seconds=args.seconds)
    prior = _load_prior(args.prior, "cpu")
    if args.bf16_min_t is not None:
        prior.bf16_min_t = args.bf16_min_t
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
        plot(pts, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
