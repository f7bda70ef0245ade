"""The DPS weight zeta against steps, where the answer is known: Gaussian speech and noise priors.

    python benchmarks/dps_gaussian.py [--zetas 0.1 0.5 1 2 5] [--steps 30 100]

For analytic Gaussian priors (speech variances log-normal across bins, a coloured noise) the
posterior mean of the speech is the Wiener filter. Prints, per (steps, zeta), the distance in dB
of the mean of 4 chains above the MMSE (ideal +0.97 dB, the 1 + 1/4 of averaging 4 posterior
samples), of the Wiener mask built from the chains, and how far the estimates are from adding up
to the mixture. The default zeta of ``DPSConfig`` was chosen from this table.

Notebook: 12_two_priors.ipynb
"""
from __future__ import annotations

import argparse
import math

import torch

from udiffse_lite.priors import GaussianPrior
from udiffse_lite.sde import complex_randn
from udiffse_lite.separation import DPSConfig, dps_sample, wiener_masks


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zetas", nargs="+", type=float, default=[0.1, 0.5, 1.0, 2.0, 5.0])
    ap.add_argument("--steps", nargs="+", type=int, default=[30, 100])
    args = ap.parse_args(argv)
    F, T = 256, 64
    g = torch.Generator().manual_seed(1)
    vs = (0.02 * torch.exp(torch.randn(F, 1, generator=g))).expand(F, T)
    vn = torch.full((F, T), vs.mean().item()) * torch.linspace(0.3, 3, F)[:, None]
    s = complex_randn((F, T), g) * vs.sqrt()
    X = s + complex_randn((F, T), g) * vn.sqrt()
    bound = (vs * vn / (vs + vn)).mean().item()

    def db(e):
        return 10 * math.log10((e - s).abs().pow(2).mean().item() / bound)

    print(f"input {db(X):+.2f} dB above the MMSE, Wiener filter {db(vs / (vs + vn) * X):+.2f} dB\n")
    print("| steps | zeta | chain mean (dB above MMSE) | Wiener mask (dB) | sum error (relative) |")
    print("|---:|---:|---:|---:|---:|")
    for steps in args.steps:
        for zeta in args.zetas:
            out = dps_sample([GaussianPrior(vs), GaussianPrior(vn)], X,
                             cfg=DPSConfig(n_steps=steps, n_samples=4, zeta=zeta, domain="complex"),
                             generator=torch.Generator().manual_seed(0))
            err = ((out.mean(1).sum(0) - X).abs().pow(2).mean() / X.abs().pow(2).mean()).item()
            print(f"| {steps} | {zeta:g} | {db(out[0].mean(0)):+.2f} | {db(wiener_masks(out)[0] * X):+.2f} "
                  f"| {err:.3f} |", flush=True)


if __name__ == "__main__":
    main()
