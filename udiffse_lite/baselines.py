"""Classical unsupervised baselines: the reference point for Table I.

:func:`wiener_minstats` is the textbook single-channel enhancer that also needs
no training pairs: a noise power tracker (minimum statistics: the noise floor is
the minimum of the smoothed periodogram over a sliding window of about 1.5 s,
corrected for the minimum's bias) feeding a decision-directed Wiener gain.

Notebook: 07_evaluation.ipynb, 11_av_udiffse_plus.ipynb
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import minimum_filter1d

from . import spectral


def wiener_minstats(y, sr: int = spectral.SR, window_s: float = 1.5, alpha_smooth: float = 0.85,
                    bias: float = 1.5, alpha_dd: float = 0.98, gain_floor_db: float = -15.0) -> np.ndarray:
    """Wiener filter with a minimum-statistics noise estimate and decision-directed a-priori SNR.

    Args:
        y: (L,) noisy waveform at 16 kHz.
        window_s: length of the sliding minimum (must span a pause in the speech).
        alpha_smooth: recursive smoothing of the periodogram before the minimum.
        bias: the minimum of a smoothed periodogram underestimates the mean noise power.
        alpha_dd: decision-directed smoothing (Ephraim & Malah).
        gain_floor_db: lower bound on the gain, limits musical noise.

    Returns:
        (L,) float32 enhanced waveform.

    Notebook: 07_evaluation.ipynb, 11_av_udiffse_plus.ipynb
    """
    from .samplers import check_waveform

    if sr != spectral.SR:
        raise ValueError(f"wiener_minstats expects {spectral.SR} Hz audio, got {sr}; resample first")
    y = check_waveform(y)
    Y = spectral.stft(torch.from_numpy(y)).numpy()  # (F, T) complex, uncompressed
    P = np.abs(Y) ** 2
    Ps = np.empty_like(P)
    acc = P[:, 0]
    for t in range(P.shape[1]):  # recursive smoothing along time
        acc = alpha_smooth * acc + (1 - alpha_smooth) * P[:, t]
        Ps[:, t] = acc
    win = max(1, int(window_s * spectral.SR / spectral.HOP))
    N = bias * minimum_filter1d(Ps, size=win, axis=1, mode="nearest")
    N = np.maximum(N, 1e-12)
    gmin = 10 ** (gain_floor_db / 20)
    G = np.ones_like(P)
    prev = np.zeros(P.shape[0])
    for t in range(P.shape[1]):
        post = P[:, t] / N[:, t]
        prio = alpha_dd * prev / N[:, t] + (1 - alpha_dd) * np.maximum(post - 1, 0)
        G[:, t] = np.maximum(prio / (1 + prio), gmin)
        prev = (G[:, t] ** 2) * P[:, t]
    S = torch.from_numpy(G * Y)
    return spectral.istft(S, len(y)).numpy().astype(np.float32)
