"""Solutions to the exercises of chapter 07, measuring enhancement.

Notebook: 07_evaluation.ipynb
"""
from __future__ import annotations

import numpy as np


def sdr_plain(est: np.ndarray, ref: np.ndarray) -> float:
    """Exercise 1: the plain SDR ``10 log10(|ref|^2 / |est - ref|^2)``, which a gain change fools."""
    est, ref = np.asarray(est, np.float64), np.asarray(ref, np.float64)
    return float(10 * np.log10(np.dot(ref, ref) / np.dot(est - ref, est - ref)))


def paired_vs_unpaired(a, b, confidence: float = 0.95) -> dict:
    """Exercise 2: the half-widths of the intervals of ``mean(b) - mean(a)`` computed unpaired
    (Welch-like: the two intervals combined) and paired (the interval of ``b - a``)."""
    from ..metrics import mean_ci

    a, b = np.asarray(a, float), np.asarray(b, float)
    _, ha = mean_ci(a, confidence)
    _, hb = mean_ci(b, confidence)
    m, hp = mean_ci(b - a, confidence)
    return {"difference": m, "unpaired": float(np.hypot(ha, hb)), "paired": hp}


def mixtures_needed(sd_db: float, half_width_db: float, confidence: float = 0.95) -> int:
    """Exercise 3: how many paired mixtures make the interval of a mean difference with per-mixture
    standard deviation ``sd_db`` as narrow as ``half_width_db`` (normal approximation, then
    refined with Student's t)."""
    from scipy.stats import norm, t

    z = norm.ppf(0.5 + confidence / 2)
    n = max(2, int(np.ceil((z * sd_db / half_width_db) ** 2)))
    while t.ppf(0.5 + confidence / 2, n - 1) * sd_db / np.sqrt(n) > half_width_db:
        n += 1
    return n
