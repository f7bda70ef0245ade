"""Chapter 00 (setup): solutions.

Notebook: 00_setup.ipynb
"""
from __future__ import annotations

import numpy as np


def snr_db(s, n) -> float:
    """Global signal-to-noise ratio ``10 log10(sum s^2 / sum n^2)`` in dB.

    Args:
        s: (L,) clean speech.
        n: (L,) noise, the same length (the mixture is ``s + n``).
    """
    s = np.asarray(s, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    return float(10 * np.log10(np.sum(s ** 2) / max(np.sum(n ** 2), 1e-20)))
