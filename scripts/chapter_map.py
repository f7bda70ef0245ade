"""Draw the chapter map of the course (book/_static/chapter_map.svg).

    python scripts/chapter_map.py [--out book/_static/chapter_map.svg]

Boxes are the chapters, grouped by part; an arrow A -> B means B builds on what A taught
(every chapter still runs on its own: it loads what it needs from the package). Chapter 10 also
builds on 03 (it conditions 03's network); that arrow is left out to keep the figure readable.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

# (number, short title, column, row); columns are the book's parts
CHAPTERS = [
    ("00", "Setup", 0, 0), ("01", "Speech in the\nSTFT domain", 0, 1), ("02", "The forward SDE", 0, 2),
    ("03", "Score matching", 0, 3), ("04", "Reverse sampling", 0, 4), ("05", "Tweedie's formula", 0, 5),
    ("06", "NMF noise model", 1, 1), ("07", "Measuring\nenhancement", 1, 2), ("08", "Posterior sampling:\nUDiffSE", 1, 3),
    ("09", "UDiffSE+", 1, 4),
    ("10", "Seeing speech", 2, 2), ("11", "Audio-visual\nUDiffSE+", 2, 4),
    ("12", "Two priors:\nnoise and talkers", 3, 2), ("13", "Re-synthesis", 3, 4),
]
EDGES = [("00", "01"), ("01", "02"), ("02", "03"), ("03", "04"), ("04", "05"), ("01", "06"), ("06", "07"),
         ("07", "08"), ("04", "08"), ("05", "09"), ("08", "09"), ("10", "11"), ("09", "11"), ("11", "12"), ("11", "13")]
PARTS = ["Foundations", "Unsupervised enhancement", "Seeing speech", "Beyond"]
COLOURS = ["#dbe9f6", "#fde3c8", "#d9f0d3", "#e8dcf2"]


def draw(out: str) -> None:
    plt.rcParams["svg.hashsalt"] = "udiffse_lite"  # the same file on every run
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: small, and searchable in the book
    fig, ax = plt.subplots(figsize=(11.8, 5.6))
    pos = {}
    for num, title, col, row in CHAPTERS:
        x, y = 0.5 + 3.2 * col, 5.5 - row
        pos[num] = (x, y)
        ax.add_patch(FancyBboxPatch((x - 1.2, y - 0.34), 2.4, 0.68, boxstyle="round,pad=0.04",
                                    fc=COLOURS[col], ec="0.3", lw=1))
        ax.text(x, y, f"{num}  {title}", ha="center", va="center", fontsize=9)
    for a, b in EDGES:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        if xa == xb:
            start, end = (xa, ya - 0.38), (xb, yb + 0.38)
        else:
            start, end = (xa + 1.24, ya), (xb - 1.24, yb)
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="0.35", lw=1,
                                                              shrinkA=0, shrinkB=0, connectionstyle="arc3,rad=0.05"))
    for col, name in enumerate(PARTS):
        ax.text(0.5 + 3.2 * col, 6.15, name, ha="center", fontsize=10, weight="bold")
    ax.set_xlim(-0.9, 11.4)
    ax.set_ylim(-0.1, 6.4)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, metadata={"Date": None})
    print(f"wrote {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="book/_static/chapter_map.svg")
    draw(ap.parse_args().out)
