"""Chapter 04 (reverse SDE and predictor-corrector sampling): solutions.

Notebook: 04_reverse_sampling.ipynb
"""
from __future__ import annotations

import torch


def probability_flow_step(sde, s: torch.Tensor, score: torch.Tensor, t, dt) -> torch.Tensor:
    """One Euler step of the probability-flow ODE ``ds = [f - g^2/2 score] dt`` backwards
    in time (from t to t - dt): deterministic, no noise."""
    g2 = sde.g(t) ** 2
    return s - (sde.drift(s, t) - 0.5 * g2 * score) * dt


def ode_sample(prior, shape, n_steps: int = 30, generator=None) -> torch.Tensor:
    """Sample by integrating the probability-flow ODE from ``sigma_1 z`` at t = 1 to 0."""
    sde = prior.sde
    S = sde.prior_sampling(shape, generator)
    ts = sde.timesteps(n_steps)
    dts = sde.step_sizes(ts)
    for t, dt in zip(ts, dts):
        S = probability_flow_step(sde, S, prior.score(S, t), t, dt)
    return S
