"""Mixing speech and noise at a target SNR measured on the *active* speech.

SNR over the whole file would count the pauses as speech and make a sentence
with long silences look cleaner than it sounds. We measure the speech power
only on frames where speech is active (frames within 40 dB of the loudest one),
the noise power over the whole segment, and never clip: when the mixture would
exceed full scale, speech, noise and mixture are scaled down together and the
gain is recorded.

Notebook: 10_noise_and_mixtures.ipynb
"""
from __future__ import annotations

import numpy as np

SNR_PRESETS = {
    "matched": (-5, 0, 5),  # the UDiffSE papers' matched test conditions
    "wide": (-10, -5, 0, 5, 10),  # a wider sweep for the course's plots
    "mismatched": (-5, 5),  # the papers' mismatched (other corpus / noise) conditions
}
PEAK = 0.99  # largest allowed absolute sample of a mixture


def _check(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a mono 1-D waveform, got shape {y.shape}")
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError(f"{name} is empty or holds NaN/inf: check the file it came from")
    if not np.any(y):
        raise ValueError(f"{name} is all zeros (silent): it cannot be mixed at an SNR")
    return y


def active_power(s: np.ndarray, sr: int = 16000, frame_s: float = 0.02,
                 floor_db: float = 40.0) -> tuple[float, float]:
    """Mean power of the active frames of a signal.

    Args:
        s: (L,) waveform.
        sr: sample rate (Hz).
        frame_s: frame length in seconds (non-overlapping frames).
        floor_db: frames more than this many dB below the loudest frame are inactive.

    Returns:
        ``(power, active_fraction)``.

    Notebook: 10_noise_and_mixtures.ipynb
    """
    s = _check(s, "speech")
    L = max(int(frame_s * sr), 1)
    k = max(len(s) // L, 1)
    p = np.mean(s[: k * L].reshape(k, -1) ** 2, axis=1) if len(s) >= L else np.array([np.mean(s ** 2)])
    act = p >= p.max() * 10 ** (-floor_db / 10)
    return float(p[act].mean()), float(act.mean())


def mix(s: np.ndarray, n: np.ndarray, snr_db: float, rng: np.random.Generator | None = None,
        offset: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Add noise to speech at an SNR measured on the active speech, without clipping.

    A segment of ``len(s)`` samples is taken from ``n`` at a random offset (``n``
    is looped when shorter than ``s``), scaled so that
    ``10 log10(P_active(s) / P(n_seg)) = snr_db``, and added. If the mixture's peak
    exceeds 0.99 all three signals are multiplied by the same gain < 1.

    Args:
        s: (L,) clean speech.
        n: (M,) noise.
        snr_db: target SNR in dB.
        rng: draws the offset (default: a fixed generator, offset 0 if ``M == L``).
        offset: start of the noise segment (overrides ``rng``).

    Returns:
        ``(x, s_scaled, n_scaled, info)``: float32 arrays of length L with
        ``x = s_scaled + n_scaled``, and ``info = {"snr_db", "gain", "offset",
        "active_fraction", "speech_power", "noise_power"}`` (powers before the gain).

    Raises:
        ValueError: silent, empty, non-finite or multi-channel inputs.

    Notebook: 10_noise_and_mixtures.ipynb
    """
    s = _check(s, "speech")
    n = _check(n, "noise")
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be a finite number of dB, got {snr_db}")
    L = len(s)
    if len(n) < L:
        n = np.tile(n, int(np.ceil(L / len(n))) + 1)
    if offset is None:
        rng = rng if rng is not None else np.random.default_rng(0)
        offset = int(rng.integers(0, len(n) - L + 1))
    if not 0 <= offset <= len(n) - L:
        raise ValueError(f"offset {offset} outside 0..{len(n) - L}")
    seg = n[offset:offset + L]
    ps, frac = active_power(s)
    pn = float(np.mean(seg ** 2))
    if pn <= 0:
        raise ValueError("the chosen noise segment is silent: use another offset or noise file")
    ns = seg * np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
    x = s + ns
    peak = float(np.abs(x).max())
    gain = min(1.0, PEAK / peak) if peak > 0 else 1.0
    info = {"snr_db": float(snr_db), "gain": gain, "offset": offset, "active_fraction": frac,
            "speech_power": ps, "noise_power": float(np.mean(ns ** 2))}
    return ((x * gain).astype(np.float32), (s * gain).astype(np.float32),
            (ns * gain).astype(np.float32), info)


def snr_active(s: np.ndarray, n: np.ndarray) -> float:
    """The SNR (dB) as :func:`mix` defines it: active speech power over noise power.

    Notebook: 10_noise_and_mixtures.ipynb
    """
    ps, _ = active_power(s)
    return float(10 * np.log10(ps / np.mean(_check(n, "noise") ** 2)))
