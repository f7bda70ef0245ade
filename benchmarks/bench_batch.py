"""Many files: one by one (`enhance`) against batched (`enhance_batch`), in files per minute.

    python benchmarks/bench_batch.py [--corpus data/corpus] [--files 8] [--seconds 3] [--presets default fast]

The files are validation mixtures (the `valid` split x every test noise at 0 dB, cut to
``--seconds``; or the built-in examples when no corpus is given). Each row times the whole list
after one warm-up call, with every core, and reports the mean SI-SDR gain so that a faster row
is seen not to be a worse one. Prints a markdown table (for docs/speed.md).

Notebook: 09_udiffse_plus.ipynb
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import udiffse_lite as ul
from udiffse_lite.metrics import si_sdr


def mixtures(corpus: str | None, n: int, seconds: float) -> list[dict]:
    if corpus:
        from udiffse_lite.evaluation import validation_mixtures

        return validation_mixtures(corpus, snrs=(0,), seconds=seconds)[:n]
    from udiffse_lite.examples import list_examples, noisy_example

    out = []
    for name in list_examples():
        for noise, snr in (("white", 0), ("ventilation", 5)):
            m = noisy_example(name, noise=noise, snr_db=snr)
            L = int(seconds * 16000)
            out.append({"x": m["x"][:L], "s": m["s"][:L]})
    return out[:n]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--presets", nargs="+", default=["default", "fast"])
    ap.add_argument("--batches", nargs="+", type=int, default=[4, 8])
    args = ap.parse_args(argv)
    torch.set_num_threads(torch.get_num_threads())
    prior = ul.load_pretrained("tiny-ao")
    mixes = mixtures(args.corpus, args.files, args.seconds)
    ys = [m["x"] for m in mixes]
    audio_s = sum(len(y) for y in ys) / 16000
    print(f"{len(ys)} files, {audio_s:.0f} s of audio, {torch.get_num_threads()} threads, tiny-ao\n")
    print("| preset | mode | time (s) | files per minute | speed-up | mean SI-SDR gain (dB) |")
    print("|---|---|---:|---:|---:|---:|")
    for preset in args.presets:
        ul.enhance(ys[0][:16000], 16000, prior=prior, preset=preset)  # warm-up
        t0 = time.perf_counter()
        one = [ul.enhance(y, 16000, prior=prior, preset=preset, seed=i) for i, y in enumerate(ys)]
        base = time.perf_counter() - t0
        rows = [("one by one", base, one)]
        for b in args.batches:
            t0 = time.perf_counter()
            outs = ul.enhance_batch(ys, 16000, prior=prior, preset=preset, batch_size=b)
            rows.append((f"batches of {b}", time.perf_counter() - t0, outs))
        for mode, dt, outs in rows:
            gain = np.mean([si_sdr(o, m["s"]) - si_sdr(m["x"], m["s"]) for o, m in zip(outs, mixes)])
            print(f"| {preset} | {mode} | {dt:.1f} | {60 * len(ys) / dt:.1f} | {base / dt:.2f}x | {gain:+.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
