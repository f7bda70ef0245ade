"""Solutions to the exercises of chapter 11, AV-UDiffSE+ end to end.

Notebook: 11_av_udiffse_plus.ipynb
"""
from __future__ import annotations

import math

import numpy as np

from ..metrics import mean_ci


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


def paired_gain(a: list[float], b: list[float]) -> tuple[float, float]:
    """Exercise 2: mean and 95 % half-width of ``b - a`` over the same utterances.

    Pairing removes what the utterances have in common (how hard each one is), so a small
    but consistent audio-visual gain can be significant where two unpaired intervals overlap.
    """
    if len(a) != len(b):
        raise ValueError("paired_gain needs the same utterances in both lists")
    return mean_ci(np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64))


def table_markdown(rows: dict[str, dict[str, list[float]]], digits: dict[str, int] | None = None) -> str:
    """Exercise 3: a markdown table ``system | metric ...`` with ``mean ± 95 % half-width`` cells.

    Args:
        rows: ``{system: {metric: [one value per utterance]}}``, every system with the same metrics.
        digits: decimals per metric (default 2).
    """
    digits = digits or {}
    metrics = list(next(iter(rows.values())))
    out = ["| system | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for name, vals in rows.items():
        cells = []
        for m in metrics:
            mean, half = mean_ci(vals[m])
            d = digits.get(m, 2)
            cells.append(f"{mean:.{d}f}" + ("" if math.isnan(half) else f" ± {half:.{d}f}"))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)
