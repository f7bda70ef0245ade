"""A noise library: procedurally generated noise types with their own train/test split,
and loaders for real noise folders (DEMAND, NTCD-TIMIT).

The unsupervised enhancers never see noise in training, but the *evaluation*
needs noise types that differ in character: stationary and coloured (white,
pink, brown, ventilation), tonal (mains hum), slowly modulated (traffic),
impulsive (clatter) and speech-like (babble). Each generator draws its
parameters from ``rng`` and from ranges that depend on the split, so the test
noises are not the training noises with another seed: e.g. mains hum is
50 Hz in ``train`` and 60 Hz in ``test``, and babble uses different voices.

All generators return float32 at 16 kHz with unit RMS (mixing sets the level).

Notebook: 06_nmf_noise_model.ipynb
"""
from __future__ import annotations

import glob
import os

import numpy as np
from scipy.signal import butter, sosfilt

from ..spectral import SR

NOISE_TYPES = ["white", "pink", "brown", "babble", "hum", "traffic", "clatter", "ventilation"]
SPLITS = ("train", "test")


def _unit(y: np.ndarray) -> np.ndarray:
    y = y - y.mean()
    return (y / max(float(np.sqrt(np.mean(y ** 2))), 1e-12)).astype(np.float32)


def coloured(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ``~ 1 / f**exponent`` (0 white, 1 pink, 2 brown).

    Notebook: 06_nmf_noise_model.ipynb
    """
    W = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    return _unit(np.fft.irfft(W / f ** (exponent / 2), n))


def _hum(n, rng, split):
    f0 = 50.0 if split == "train" else 60.0
    t = np.arange(n) / SR
    y = np.zeros(n)
    for k in range(1, 12):  # odd harmonics dominate in transformer hum
        amp = rng.uniform(0.2, 1.0) / k ** (0.5 if k % 2 else 1.2)
        y += amp * np.sin(2 * np.pi * f0 * k * (1 + rng.uniform(-1e-3, 1e-3)) * t + rng.uniform(0, 2 * np.pi))
    return y + 0.05 * coloured(n, 1.0, rng)


def _traffic(n, rng, split):
    rumble = coloured(n, 2.0, rng) + 0.3 * coloured(n, 1.0, rng)
    t = np.arange(n) / SR
    # passing vehicles: slow bumps of loudness; test traffic is denser
    env = np.full(n, 0.3)
    rate = 0.3 if split == "train" else 0.6
    for _ in range(rng.poisson(rate * n / SR) + 1):
        c, w = rng.uniform(0, n / SR), rng.uniform(0.8, 3.0)
        env += rng.uniform(0.5, 2.0) * np.exp(-((t - c) / w) ** 2)
    return rumble * env


def _clatter(n, rng, split):
    y = 0.02 * coloured(n, 0.0, rng)
    rate = 3.0 if split == "train" else 6.0  # impacts per second
    for _ in range(rng.poisson(rate * n / SR)):
        i = rng.integers(0, n)
        L = int(rng.uniform(0.02, 0.15) * SR)
        tt = np.arange(min(L, n - i)) / SR
        f = rng.uniform(800, 5000) if split == "train" else rng.uniform(400, 7000)
        ring = np.sin(2 * np.pi * f * tt) * np.exp(-tt / rng.uniform(0.005, 0.04))
        y[i:i + len(tt)] += rng.uniform(0.3, 1.0) * (ring + 0.5 * rng.standard_normal(len(tt)) * np.exp(-tt / 0.005))
    return y


def _ventilation(n, rng, split):
    lo, hi = (100, 1500) if split == "train" else (200, 3000)
    sos = butter(2, [rng.uniform(lo, lo * 2), rng.uniform(hi, hi * 1.5)], "bandpass", fs=SR, output="sos")
    y = sosfilt(sos, coloured(n, 0.5, rng))
    y = _unit(y)
    t = np.arange(n) / SR
    blade = rng.uniform(80, 160) if split == "train" else rng.uniform(170, 260)
    y += 0.3 * np.sin(2 * np.pi * blade * t) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.2, 1) * t))
    return y


def babble(n: int, speech: list[np.ndarray], rng: np.random.Generator, n_talkers: int = 6) -> np.ndarray:
    """Babble: ``n_talkers`` utterances (from voices held out of the corpus) summed with random offsets.

    Args:
        n: length in samples.
        speech: list of (L,) waveforms to draw the talkers from (looped when short).
        rng: randomness of talker choice and offsets.

    Returns:
        (n,) float32, unit RMS.

    Notebook: 06_nmf_noise_model.ipynb
    """
    if not speech:
        raise ValueError("babble needs at least one speech waveform")
    y = np.zeros(n)
    for _ in range(n_talkers):
        s = speech[rng.integers(len(speech))]
        s = s[np.abs(s) > 0] if np.any(s) else s
        reps = int(np.ceil((n + len(s)) / max(len(s), 1)))
        seg = np.tile(s, reps)
        o = rng.integers(0, len(s))
        y += _unit(seg[o:o + n]) * rng.uniform(0.6, 1.0)
    return _unit(y)


def make_noise(kind: str, n: int, rng: np.random.Generator, split: str = "train",
               speech: list[np.ndarray] | None = None) -> np.ndarray:
    """Generate ``n`` samples of one noise type.

    Args:
        kind: one of :data:`NOISE_TYPES`.
        n: length in samples at 16 kHz.
        rng: ``np.random.Generator``.
        split: ``"train"`` or ``"test"``: selects the parameter ranges.
        speech: talkers for ``babble`` (required for it, ignored otherwise).

    Returns:
        (n,) float32, zero mean, unit RMS.

    Raises:
        ValueError: unknown kind or split, or babble without speech.

    Notebook: 06_nmf_noise_model.ipynb
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n <= 0:
        raise ValueError(f"noise length must be positive, got {n}")
    if kind == "white":
        return coloured(n, 0.0, rng)
    if kind == "pink":
        return coloured(n, 1.0, rng)
    if kind == "brown":
        return coloured(n, 2.0, rng)
    if kind == "babble":
        if not speech:
            raise ValueError("babble needs `speech`: a list of waveforms from held-out voices")
        return babble(n, speech, rng)
    gen = {"hum": _hum, "traffic": _traffic, "clatter": _clatter, "ventilation": _ventilation}.get(kind)
    if gen is None:
        raise ValueError(f"unknown noise type {kind!r}: choose from {NOISE_TYPES}")
    return _unit(gen(n, rng, split))


# ---------------------------------------------------------------- real noise folders
def load_noise_folder(root: str, layout: str = "auto") -> dict[str, list[str]]:
    """Index a folder of real noise recordings by noise type.

    Layouts:
        * ``"demand"``: ``root/<TYPE>/ch01.wav ... ch16.wav`` (DEMAND, e.g. ``DKITCHEN``);
          channel 1 of each type is used.
        * ``"ntcd"``: NTCD-TIMIT's noise files ``root/<Type>.wav`` or ``root/<Type>/*.wav``
          (Babble, Cafe, Car, LR, Street, White).
        * ``"auto"``: DEMAND when subfolders hold ``ch01.wav``, otherwise NTCD.

    Args:
        root: the folder.
        layout: ``"auto" | "demand" | "ntcd"``.

    Returns:
        ``{noise_type: [wav paths]}``, types in lower case.

    Raises:
        FileNotFoundError: the folder is missing or holds no wav files.

    Notebook: 06_nmf_noise_model.ipynb
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"noise folder {root!r} does not exist")
    if layout == "auto":
        layout = "demand" if glob.glob(os.path.join(root, "*", "ch01.wav")) else "ntcd"
    out: dict[str, list[str]] = {}
    if layout == "demand":
        for p in sorted(glob.glob(os.path.join(root, "*", "ch01.wav"))):
            out.setdefault(os.path.basename(os.path.dirname(p)).lower(), []).append(p)
    elif layout == "ntcd":
        for p in sorted(glob.glob(os.path.join(root, "*.wav"))):
            out.setdefault(os.path.splitext(os.path.basename(p))[0].lower(), []).append(p)
        for p in sorted(glob.glob(os.path.join(root, "*", "*.wav"))):
            out.setdefault(os.path.basename(os.path.dirname(p)).lower(), []).append(p)
    else:
        raise ValueError(f"unknown noise layout {layout!r}: use 'auto', 'demand' or 'ntcd'")
    if not out:
        raise FileNotFoundError(f"no noise wav files under {root!r} in the {layout!r} layout")
    return out
