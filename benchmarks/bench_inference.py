"""Inference speed of the tiny score network: eager, channels-last and torch.compile, fp32 and bf16.

    python benchmarks/bench_inference.py [--tier tiny] [--batch 4] [--seconds 2.04] [--no-compile]

Times one forward pass (what the samplers call 60 times per UDiffSE+ run) after warm-up, with
every core, and reports torch.compile's compile time next to its speed, so an option is only
adopted where it measurably helps. Random weights (speed does not depend on training).

Notebook: 09_udiffse_plus.ipynb
"""
from __future__ import annotations

import argparse
import time

import torch

from udiffse_lite.unet import ScoreUNet, UNetConfig


def timed(fn, repeats: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tier", default="tiny")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=2.04)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    net = ScoreUNet(UNetConfig.tier(args.tier)).eval()
    T = (int(args.seconds * 16000) // 128 + 8) // 8 * 8
    x, t = torch.randn(args.batch, 2, 256, T), torch.full((args.batch,), 0.5)
    print(f"{args.tier} network, batch {args.batch} x {T} frames, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}\n")
    print("| variant | compile time (s) | forward (ms) | speed-up |")
    print("|---|---:|---:|---:|")
    base = None
    variants = [("fp32", False, False), ("bf16", True, False), ("fp32 channels-last", False, True),
                ("bf16 channels-last", True, True)]
    if not args.no_compile:
        variants += [("fp32 torch.compile", False, "compile"), ("bf16 torch.compile", True, "compile")]
    for name, bf16, mode in variants:
        model, xin, t_compile = net, x, 0.0
        if mode is True:
            model = net.to(memory_format=torch.channels_last)
            xin = x.contiguous(memory_format=torch.channels_last)
        elif mode == "compile":
            model = torch.compile(net)

        def fwd():
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return model(xin, t)
        if mode == "compile":
            t0 = time.perf_counter()
            try:
                fwd()
            except Exception as e:  # no C++ toolchain, unsupported op...
                print(f"| {name} | failed: {type(e).__name__}: {str(e)[:80]} | | |")
                continue
            t_compile = time.perf_counter() - t0
        dt = timed(fwd)
        base = base or dt
        print(f"| {name} | {t_compile:.1f} | {1e3 * dt:.0f} | {base / dt:.2f}x |", flush=True)
        net.to(memory_format=torch.contiguous_format)


if __name__ == "__main__":
    main()
