"""Chapter 03 (score matching): solutions.

Notebook: 03_score_matching.ipynb
"""
from __future__ import annotations

import torch


def gaussian_dsm_floor(sde, variance, t) -> torch.Tensor:
    """Smallest denoising score-matching loss any network can reach at time t when
    clean speech is ``CN(0, variance)``: ``mu_t^2 v / (mu_t^2 v + sigma_t^2)``, per bin.

    The best network predicts ``E[z | s_t] = sigma_t s_t / (mu_t^2 v + sigma_t^2)``; what is
    left of ``E|z|^2 = 1`` is the posterior variance of ``z``.
    """
    mu2 = sde.mean_factor(t) ** 2
    sig2 = sde.std(t) ** 2
    v = torch.as_tensor(variance)
    return mu2 * v / (mu2 * v + sig2)


def dsm_loss_at(score_fn, sde, s: torch.Tensor, t: float, generator=None) -> torch.Tensor:
    """Monte Carlo DSM loss ``mean |sigma_t score(s_t, t) + z|^2`` at one time t.

    Args:
        score_fn: ``score_fn(s_t, t) -> score`` (e.g. ``prior.score``).
        s: (B, F, T) complex clean spectrograms.
    """
    s_t, z = sde.perturb(s, t, generator)
    return (sde.std(t) * score_fn(s_t, t) + z).abs().pow(2).mean()
