"""How much of a sampler's time is the network, and how much is its own work?

For each network tier: parameters, one forward pass (a batch of ``n_samples``
chains of ``seconds`` of audio), the sampler's number of network evaluations,
its wall time, and the overhead ratio

    sampler time / (evaluations x forward time),

which is 1.0 when NMF, the likelihood, Tweedie and the SDE updates cost nothing.
The isolated forward is timed at one t, best of ``repeats``; the network's time *inside*
the sampler (every forward timed as it runs) gives a second ratio, sampler time /
network time in the sampler, that does not depend on how the isolated forward was timed.
Weights are random (speed does not depend on training). Prints a markdown table.

    python benchmarks/bench_samplers.py --tiers tiny colab --seconds 2 --methods udiffse+ udiffse
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from udiffse_lite.priors import ScorePrior
from udiffse_lite.samplers import SamplerConfig, udiffse, udiffse_plus
from udiffse_lite.unet import ScoreUNet, UNetConfig


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats=3):
    fn()  # warm-up
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def bench(tier: str, seconds: float, n_samples: int, methods, device, video_dim: int, repeats: int,
          precision: str = "fp32", channels_last: bool = False):
    cfg = UNetConfig.tier(tier, video_dim=video_dim)
    prior = ScorePrior(ScoreUNet(cfg)).to(device).eval().set_precision(precision)
    prior.set_channels_last(channels_last)
    n_params = sum(p.numel() for p in prior.net.parameters())
    T = int(seconds * 16000) // 128 + 1
    g = torch.Generator(device=device).manual_seed(0)
    X = torch.randn(256, T, dtype=torch.complex64, device=device, generator=g) * 0.1
    S = X.expand(n_samples, -1, -1).contiguous()
    v = torch.randn(n_samples, int(seconds * 25), video_dim, device=device) if video_dim else None
    rows = []
    with torch.no_grad():
        fwd = timed(lambda: prior.score(S, 0.5, v), device, repeats)
        for m in methods:
            scfg = SamplerConfig(n_samples=n_samples)
            fn = {"udiffse+": lambda: udiffse_plus(prior, X, cfg=scfg, video=v, generator=g),
                  "udiffse": lambda: udiffse(prior, X, cfg=scfg, video=v, generator=g)}[m]
            prior.n_evals = 0
            fn()
            evals = prior.n_evals
            net_time = [0.0]
            forward = prior.net.forward

            def timed_forward(*args, **kw):
                _sync(device)
                t0 = time.perf_counter()
                out = forward(*args, **kw)
                _sync(device)
                net_time[0] += time.perf_counter() - t0
                return out

            prior.net.forward = timed_forward
            net_time[0] = 0.0
            t0 = time.perf_counter()
            fn()
            _sync(device)
            wall = time.perf_counter() - t0
            del prior.net.forward
            rows.append(dict(tier=tier + ("-av" if video_dim else "") + (" (NHWC)" if channels_last else ""), params=n_params, forward=fwd, precision=precision,
                             method=m, evals=evals, wall=wall, ratio=wall / (evals * fwd),
                             net=net_time[0], inner=wall / net_time[0], rtf=wall / seconds))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiers", nargs="+", default=["tiny"])
    ap.add_argument("--methods", nargs="+", default=["udiffse+", "udiffse"])
    ap.add_argument("--seconds", type=float, default=2.04)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--video-dim", type=int, default=0, help="> 0 benchmarks the cross-attention variant")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--channels-last", action="store_true",
                    help="NHWC convolutions, as load_pretrained sets them on a CPU")
    ap.add_argument("--precisions", nargs="+", default=["fp32"], help="fp32 and/or bf16 (autocast)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    hw = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"# Sampler overhead: {a.samples} chains x {a.seconds} s of audio, {hw}, torch {torch.__version__}\n")
    print("| tier | precision | params (M) | forward (ms) | method | evaluations | sampler (s) | overhead ratio | "
          "network in sampler (s) | sampler / network | RTF |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for tier in a.tiers:
        for prec in a.precisions:
            for r in bench(tier, a.seconds, a.samples, a.methods, device, a.video_dim, a.repeats, prec,
                           a.channels_last):
                print(f"| {r['tier']} | {r['precision']} | {r['params'] / 1e6:.2f} | {1e3 * r['forward']:.0f} | "
                      f"{r['method']} | {r['evals']} | {r['wall']:.2f} | {r['ratio']:.3f} | "
                      f"{r['net']:.2f} | {r['inner']:.3f} | {r['rtf']:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
