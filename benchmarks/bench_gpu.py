"""RTF of (AV-)UDiffSE+ on an accelerator: tiers x precision x torch.compile(mode="reduce-overhead").

    python benchmarks/bench_gpu.py [--device cuda] [--seconds 4] [--steps 30] [--tiers paper tiny]

Random weights (speed does not depend on training), 4 s of audio, the package's UDiffSE+ with
its default sampler settings except guidance (``--guidance``, default 1). Each row: warm-up once, then the best of ``--repeats`` runs of
the whole ``enhance`` call (STFT, NMF, network, ISTFT), synchronised. The compiled rows report
their compile time (the first call) beside the steady RTF. The paper's A100 figures for
comparison: UDiffSE RTF 10.53, AV-UDiffSE 13.92, UDiffSE+ about 5x faster than UDiffSE.

Notebook: 09_udiffse_plus.ipynb
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

import udiffse_lite as ul
from udiffse_lite.priors import ScorePrior
from udiffse_lite.unet import ScoreUNet, UNetConfig


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_row(tier, av, precision, compiled, chains, args, device, y, video):
    torch.manual_seed(0)
    cfg = UNetConfig.tier(tier, video_dim=args.video_dim if av else 0)
    net = ScoreUNet(cfg).to(device).eval()
    n_params = sum(p.numel() for p in net.parameters()) / 1e6
    prior = ScorePrior(net)
    if compiled:
        prior.set_compiled("reduce-overhead")
    kw = dict(prior=prior, video=video if av else None, n_steps=args.steps, n_samples=chains,
              precision=precision, seed=0, guidance=args.guidance)

    def call():
        out = ul.enhance(y, 16000, **kw)
        sync(device)
        return out

    t0 = time.perf_counter()
    out = call()
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    assert np.all(np.isfinite(out)) and len(out) == len(y)
    return n_params, first, best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--tiers", nargs="+", default=["paper", "tiny"])
    ap.add_argument("--chains", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(mode='reduce-overhead')")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--video-dim", type=int, default=768)
    ap.add_argument("--guidance", type=float, default=1.0,
                    help="CFG weight of the AV rows (1: one forward per call, as the papers; the library's "
                         "default 2 runs a second half-batch)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        print(f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
        torch.backends.cudnn.benchmark = True
    else:
        print(f"# CPU, {torch.get_num_threads()} threads, torch {torch.__version__}")
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(int(args.seconds * 16000))).astype(np.float32)
    video = rng.standard_normal((int(np.ceil(args.seconds * 25)), args.video_dim)).astype(np.float32)
    print(f"# {args.seconds:g} s of audio, UDiffSE+ at {args.steps} steps, random weights; RTF = time / "
          f"{args.seconds:g} s")
    print("| tier | params (M) | video | chains | precision | compile | first call (s) | RTF |")
    print("|---|---:|---|---:|---|---|---:|---:|")
    rows = [(t, av, p, False, c) for t in args.tiers for av in (True, False) for c in args.chains
            for p in args.precisions]
    if args.compile:
        rows += [(t, True, p, True, 1) for t in args.tiers for p in args.precisions[::-1]]
    for tier, av, prec, comp, chains in rows:
        try:
            n, first, best = run_row(tier, av, prec, comp, chains, args, device, y, video)
            print(f"| {tier} | {n:.1f} | {'yes' if av else 'no'} | {chains} | {prec} | "
                  f"{'reduce-overhead' if comp else '-'} | {first:.1f} | {best / args.seconds:.3f} |", flush=True)
        except Exception as e:  # a row that fails is reported, the table goes on
            print(f"| {tier} | - | {'yes' if av else 'no'} | {chains} | {prec} | "
                  f"{'reduce-overhead' if comp else '-'} | failed: {type(e).__name__}: {str(e)[:80]} | |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
