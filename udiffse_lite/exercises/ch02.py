"""Chapter 02 (the forward SDE): solutions.

Notebook: 02_forward_sde.ipynb
"""
from __future__ import annotations

import math


def variance_by_ode(sde, t: float, n_steps: int = 10000) -> float:
    """``sigma_t^2`` by integrating ``d var / dt = -2 theta var + g(t)^2`` from ``var(0) = 0``
    with the explicit midpoint rule (no closed form used)."""
    var, h = 0.0, t / n_steps
    for k in range(n_steps):
        tk = k * h
        g2 = float(sde.g(tk)) ** 2
        mid = var + 0.5 * h * (-2 * sde.theta * var + g2)
        g2m = float(sde.g(tk + 0.5 * h)) ** 2
        var = var + h * (-2 * sde.theta * mid + g2m)
    return var


def time_of_unit_snr(sde, signal_power: float, tol: float = 1e-6) -> float:
    """The diffusion time t at which ``mu_t^2 * signal_power == sigma_t^2`` (bisection on [0, 1]).

    Returns 1.0 if the signal still dominates at t = 1.
    """
    def f(t):
        return float(sde.mean_factor(t)) ** 2 * signal_power - float(sde.std(t)) ** 2

    lo, hi = 1e-6, 1.0
    if f(hi) > 0:
        return 1.0
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def mean_factor(theta: float, t: float) -> float:
    """``mu_t = exp(-theta t)``, the solution of ``dm/dt = -theta m``, ``m(0) = 1``."""
    return math.exp(-theta * t)
