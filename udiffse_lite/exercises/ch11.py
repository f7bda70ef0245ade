"""Solutions to the exercises of chapter 11, AV-UDiffSE+ end to end.

Notebook: 11_av_udiffse_plus.ipynb
"""
from __future__ import annotations

import math

import numpy as np


def mix_at_snr(s: np.ndarray, n: np.ndarray, snr_db: float) -> np.ndarray:
    """Exercise 1: ``s + g n`` with ``g`` chosen so that ``10 log10(P_s / P_{g n}) = snr_db``.

    (The built-in ``noisy_example`` measures the speech power on *active* frames only, as
    ITU-T P.56 does. Pauses dilute the global speech power, so for speech with pauses this
    global version adds *less* noise at the same nominal SNR: an easier mixture.)
    """
    s = np.asarray(s, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)[: len(s)]
    if len(n) < len(s):
        raise ValueError(f"noise ({len(n)} samples) is shorter than the speech ({len(s)})")
    g = math.sqrt(np.mean(s ** 2) / (np.mean(n ** 2) * 10 ** (snr_db / 10)))
    return (s + g * n).astype(np.float32)
