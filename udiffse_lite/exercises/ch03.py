"""Chapter 03 (score matching): solutions.

Notebook: 03_score_matching.ipynb
"""
from __future__ import annotations

import torch


def optimal_noise_prediction(s_t: torch.Tensor, t, sde, variance) -> torch.Tensor:
    """Exercise 1: the best network output ``E[z | s_t] = sigma_t s_t / (mu_t^2 vs + sigma_t^2)``
    when clean speech is ``CN(0, vs)``; its DSM loss is ``GaussianPrior.dsm_floor``."""
    mu, sig = sde.mean_factor(t), sde.std(t)
    return sig * s_t / (mu ** 2 * torch.as_tensor(variance) + sig ** 2)
