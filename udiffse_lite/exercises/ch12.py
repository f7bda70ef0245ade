"""Solutions to the exercises of chapter 12, two priors.

Notebook: 12_two_priors.ipynb
"""
from __future__ import annotations

import math

import torch

from ..priors import GaussianPrior
from ..sde import complex_randn
from ..separation import DPSConfig, dps_sample, reconstruction


def gaussian_sources(F: int = 256, T: int = 64, seed: int = 1):
    """A speech-like source (log-normal variance per bin) and a coloured noise, both Gaussian.

    Returns:
        ``(variances, sources, mixture)``: two (F, T) variances, two complex sources, their sum.
    """
    g = torch.Generator().manual_seed(seed)
    v_s = (0.02 * torch.exp(torch.randn(F, 1, generator=g))).expand(F, T)
    v_n = torch.full((F, T), 0.02) * torch.linspace(0.3, 3, F)[:, None]
    s = [complex_randn((F, T), g) * v.sqrt() for v in (v_s, v_n)]
    return [v_s, v_n], s, s[0] + s[1]


def db_above_mmse(estimate: torch.Tensor, truth: torch.Tensor, variances, j: int) -> float:
    """Error of ``estimate`` of source ``j`` in dB above the MMSE of the Gaussian posterior."""
    v = variances[j]
    mmse = (v * (sum(variances) - v) / sum(variances)).sum()
    return float(10 * math.log10((estimate - truth).abs().pow(2).sum() / mmse))


def zeta_sweep(zetas=(0.5, 2.0, 8.0), n_steps: int = 30, n_samples: int = 4) -> dict:
    """Exercise 1: the chain mean of the speech source, in dB above the MMSE, for each ``zeta``
    (complex domain, Gaussian priors: the ideal is ``10 log10(1 + 1/n_samples)``)."""
    var, s, X = gaussian_sources()
    out = {}
    for z in zetas:
        states = dps_sample([GaussianPrior(v) for v in var], X,
                            cfg=DPSConfig(n_steps=n_steps, n_samples=n_samples, zeta=z, domain="complex"),
                            generator=torch.Generator().manual_seed(0))
        out[z] = db_above_mmse(states[0].mean(0), s[0], var, 0)
    return out


def phase_blindness(seed: int = 0) -> dict:
    """Exercise 2: rotate the phase of *both* true sources by one common angle: the complex
    reconstruction error grows from 0, the magnitude one stays 0 (the sum's magnitude is unchanged).
    Each domain gets the mixture its sources add up to: the compressed-domain sum for
    ``"complex"``, the compressed linear sum for ``"magnitude"``.

    Returns:
        ``{domain: (error of the true sources, error of the rotated ones)}``.
    """
    from .. import spectral

    _, s, X = gaussian_sources(seed=seed)
    mixtures = {"complex": X, "magnitude": spectral.compress(spectral.decompress(s[0]) + spectral.decompress(s[1]))}
    rot = torch.polar(torch.tensor(1.0), torch.tensor(1.0))  # e^{i}: one radian
    out = {}
    for domain, Xd in mixtures.items():
        exact = float(reconstruction([e[None] for e in s], Xd, domain)[0])
        rotated = float(reconstruction([(e * rot)[None] for e in s], Xd, domain)[0])
        out[domain] = (exact, rotated)
    return out
