"""Chapter 05 (Tweedie's formula): solutions.

Notebook: 05_tweedie.ipynb
"""
from __future__ import annotations

import torch


def gaussian_posterior_mean(s_t: torch.Tensor, t, sde, variance) -> torch.Tensor:
    """``E[s | s_t] = mu_t vs s_t / (mu_t^2 vs + sigma_t^2)`` for ``s ~ CN(0, vs)``, ``vs = sigma_s^2`` (a Wiener gain)."""
    mu, sig = sde.mean_factor(t), sde.std(t)
    return mu * variance * s_t / (mu ** 2 * variance + sig ** 2)


def gaussian_posterior_variance(t, sde, variance) -> torch.Tensor:
    """``Var[s | s_t] = vs sigma_t^2 / (mu_t^2 vs + sigma_t^2)``: the error Tweedie cannot remove."""
    mu, sig = sde.mean_factor(t), sde.std(t)
    return variance * sig ** 2 / (mu ** 2 * variance + sig ** 2)


def error_db(estimate: torch.Tensor, target: torch.Tensor) -> float:
    """``10 log10(sum |estimate - target|^2 / sum |target|^2)`` in dB (lower is better)."""
    num = (estimate - target).abs().pow(2).sum()
    den = target.abs().pow(2).sum().clamp_min(1e-20)
    return float(10 * torch.log10(num / den))
