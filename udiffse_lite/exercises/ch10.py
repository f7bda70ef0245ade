"""Solutions to the exercises of chapter 10, seeing speech.

Notebook: 10_seeing_speech.ipynb
"""
from __future__ import annotations

import numpy as np

from ..data.lips import speech_envelope


def band_envelope(s: np.ndarray, sr: int = 16000, fps: float = 25.0, lo: float = 300.0,
                  hi: float = 3000.0) -> np.ndarray:
    """Exercise 1: the level in dB of the ``lo``-``hi`` Hz band per video frame: a zero-phase
    4th-order Butterworth band-pass (no delay against the video), then ``lips.speech_envelope``.

    Returns:
        (T_v,) float, as ``speech_envelope``.
    """
    from scipy.signal import butter, sosfiltfilt

    if not 0 < lo < hi < sr / 2:
        raise ValueError(f"need 0 < lo < hi < sr/2 = {sr / 2:g} Hz, got lo={lo}, hi={hi}")
    sos = butter(4, [lo, hi], btype="bandpass", fs=sr, output="sos")
    return speech_envelope(sosfiltfilt(sos, np.asarray(s, dtype=np.float64)), sr, fps)
