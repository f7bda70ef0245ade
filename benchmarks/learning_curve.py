"""Learning curve by enhancement, not by loss: every snapshot of a run on the validation mixtures.

    python benchmarks/learning_curve.py --corpus data/corpus --run runs/tiny-ao [--run runs/tiny-av --video true]
        [--init udiffse_lite/checkpoints/tiny-ao.pt] [--seconds 3] [--out docs/training.md]

A run made with ``snapshot_every`` holds ``prior_step{k}.pt`` files (the EMA prior at step k).
Each is scored with UDiffSE+ (30 steps, 2 chains, bf16) on the `valid` split x every test-noise
type x {-5, 0, 5} dB: mean SI-SDR, PESQ-WB and ESTOI gains over the input, next to the run's
validation loss at that step. AV runs are scored with the true lips and with another utterance's
lips (``--video both``), the test of whether the prior looks. Prints markdown; ``--out`` also
writes it with a figure (``<out stem>.png``).

Notebook: 03_score_matching.ipynb
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from udiffse_lite.evaluation import _load_prior, score_mixtures, validation_mixtures


def snapshots(run: Path) -> list[tuple[int, Path]]:
    found = []
    for p in run.glob("prior_step*.pt"):
        m = re.match(r"prior_step(\d+)\.pt$", p.name)
        if m:
            found.append((int(m.group(1)), p))
    if (run / "prior.pt").exists():
        found.append((int(torch.load(run / "prior.pt", weights_only=True)["meta"].get("steps", 10**9)),
                      run / "prior.pt"))
    return sorted(dict(found).items())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--run", action="append", required=True, help="run folder(s) with prior_step*.pt")
    ap.add_argument("--init", action="append", default=[], help="extra checkpoints to score (step 0 rows)")
    ap.add_argument("--video", default="both", choices=["none", "true", "wrong", "both"],
                    help="for AV priors: true lips, another utterance's lips, or both")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--every", type=int, default=1, help="score every k-th snapshot")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    mixes = validation_mixtures(args.corpus, seconds=args.seconds)
    kw = dict(n_steps=30, n_samples=args.samples, precision="auto")
    header = ["| run | step | val loss | video | SI-SDR gain (dB) | PESQ-WB gain | ESTOI gain |",
              "|---|---:|---:|---|---:|---:|---:|"]
    print("\n".join(header), flush=True)
    rows, curve = [], {}
    items = [(Path(p).stem, 0, Path(p)) for p in args.init]
    for run in map(Path, args.run):
        snaps = snapshots(run)
        items += [(run.name, k, p) for i, (k, p) in enumerate(snaps) if i % args.every == 0 or i == len(snaps) - 1]
    for name, step, path in items:
        prior = _load_prior(str(path), "cpu")
        val = prior.meta.get("val_loss")
        modes = ["none"] if not prior.conditional else (["true", "wrong"] if args.video == "both" else [args.video])
        for mode in modes:
            r = score_mixtures(prior, mixes, video=mode, **kw)
            line = (f"| {name} | {step} | {val if val is None else f'{val:.4f}'} | {mode} | {r['si_sdr']:+.2f} | "
                    f"{r['pesq']:+.3f} | {r['estoi']:+.3f} |")
            print(line, flush=True)
            rows.append(line)
            curve.setdefault((name, mode), []).append((step, r["si_sdr"], r["pesq"], r["estoi"]))
    if args.out:
        out = Path(args.out)
        text = [f"Scored by `python benchmarks/learning_curve.py {' '.join(argv or __import__('sys').argv[1:])}` "
                f"on {len(mixes)} validation mixtures ({args.seconds} s each; UDiffSE+, 30 steps, "
                f"{args.samples} chains, bf16).", "", *header, *rows, "", f"![learning curve]({out.stem}.png)"]
        out.with_suffix(".table.md").write_text("\n".join(text) + "\n")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), layout="constrained")
        for (name, mode), pts in curve.items():
            pts = sorted(pts)
            for ax, j, lab in zip(axes, (1, 2, 3), ("SI-SDR gain (dB)", "PESQ-WB gain", "ESTOI gain")):
                ax.plot([p[0] for p in pts], [p[j] for p in pts], "o-", label=f"{name} ({mode} video)")
                ax.set_xlabel("training step")
                ax.set_ylabel(lab)
                ax.axhline(0, color="k", lw=0.5)
        axes[0].legend(fontsize=7)
        fig.savefig(out.with_suffix(".png"), dpi=110)
        print(f"wrote {out.with_suffix('.table.md')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
