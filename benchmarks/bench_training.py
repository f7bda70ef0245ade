"""Training throughput of a score prior on this machine: fp32, bf16 autocast, channels-last, torch.compile.

    python benchmarks/bench_training.py --tier tiny [--threads N] [--steps 20] [--compile]

Prints one markdown row per variant: seconds per optimiser step (8 crops x 128 frames, the
tiny recipes' batch), steps/s, speed-up over fp32, and the loss after the timed steps from
the same initial weights and the same batches (so a variant that breaks training shows up as
a different loss, not only as a different speed). Synthetic crops are used: a step's cost
does not depend on what the audio says. Run it alone on a quiet machine.

Notebook: 03_score_matching.ipynb
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from udiffse_lite.recipes import RECIPES, build_net
from udiffse_lite.sde import OUVESDE
from udiffse_lite.spectral import normalise, to_spec
from udiffse_lite.training import dsm_loss, step_generator


def batches(n: int, batch: int, frames: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        y = torch.randn(batch, (frames - 1) * 128, generator=g) * torch.linspace(0.01, 0.3, batch)[:, None]
        out.append(normalise(to_spec(y))[0])
    return out


def run(net, data, *, bf16: bool, channels_last: bool, compile_: bool, warmup: int = 3):
    net = copy.deepcopy(net)
    sde = OUVESDE()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    model = net
    t_compile = 0.0
    if compile_:
        model = torch.compile(net)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4)

    def step(k, S):
        g = step_generator(0, k)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = dsm_loss(model, sde, S, None, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return float(loss)

    t0 = time.perf_counter()
    for k in range(warmup):  # the first steps pay allocation (and compilation)
        step(k, data[k])
    t_compile = time.perf_counter() - t0
    losses = []
    t0 = time.perf_counter()
    for k, S in enumerate(data[warmup:], start=warmup):
        losses.append(step(k, S))
    dt = (time.perf_counter() - t0) / (len(data) - warmup)
    tail = losses[-max(1, len(losses) // 3):]
    return dt, sum(tail) / len(tail), t_compile


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tier", default="tiny")
    ap.add_argument("--recipe", default="tiny-ao")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = RECIPES[args.recipe]
    net = build_net(recipe, 64 if recipe.audio_visual else 0, seed=0)
    tc = recipe.train
    data = batches(args.steps + 3, tc.batch_size, tc.crop_frames)
    variants = [("fp32", False, False, False), ("bf16 autocast", True, False, False),
                ("fp32 channels-last", False, True, False), ("bf16 + channels-last", True, True, False)]
    if args.compile:
        variants += [("fp32 torch.compile", False, False, True), ("bf16 torch.compile", True, False, True)]
    print(f"tier {args.tier} ({sum(p.numel() for p in net.parameters()) / 1e6:.2f} M params), batch "
          f"{tc.batch_size} x {tc.crop_frames} frames, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("\n| variant | s/step | steps/s | speed-up | loss (last third) | first steps (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    base = None
    for name, bf16, cl, comp in variants:
        try:
            dt, loss, tc0 = run(net, data, bf16=bf16, channels_last=cl, compile_=comp)
        except Exception as e:  # torch.compile needs a C++ toolchain; report instead of dying
            print(f"| {name} | failed: {type(e).__name__}: {str(e).splitlines()[0][:60]} | | | | |")
            continue
        base = base or dt
        print(f"| {name} | {dt:.3f} | {1 / dt:.2f} | {base / dt:.2f}x | {loss:.4f} | {tc0:.1f} |", flush=True)


if __name__ == "__main__":
    main()
