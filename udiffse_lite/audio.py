"""Audio input and output: 16 kHz mono float32, resampled on load, written atomically.

Notebook: 01_stft_domain.ipynb
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np

from .spectral import SR


def resample(y: np.ndarray, sr_in: int, sr_out: int = SR) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``) of a 1-D or (L, C) signal.

    Notebook: 01_stft_domain.ipynb
    """
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return np.asarray(y, dtype=np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(int(sr_in), int(sr_out))
    return resample_poly(y, sr_out // g, sr_in // g, axis=0).astype(np.float32)


def load_audio(path, sr: int | None = SR, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read an audio file as float32, mixed down to mono and resampled to ``sr``.

    Args:
        path: any file libsndfile reads (wav, flac, ogg, ...).
        sr: target sample rate (None keeps the file's).
        mono: mix multichannel audio down (with a warning) instead of returning (L, C).

    Returns:
        ``(y, sr)`` with y (L,) float32 (or (L, C) when ``mono=False``).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is unreadable, empty, or contains NaN/Inf.

    Notebook: 01_stft_domain.ipynb
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"audio file {path} does not exist")
    missing = _wav_missing_bytes(path)
    if missing:
        raise ValueError(f"{path} is a truncated WAV: its header announces {missing} more bytes of audio "
                         "than the file holds (an interrupted copy or download); get the complete file")
    try:
        y, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise ValueError(f"could not read {path} as audio ({e}); is it a wav/flac/ogg file?") from e
    if y.shape[0] == 0:
        raise ValueError(f"{path} contains no samples")
    if not np.isfinite(y).all():
        raise ValueError(f"{path} contains NaN or Inf samples")
    if mono:
        if y.shape[1] > 1:
            warnings.warn(f"{path} has {y.shape[1]} channels; mixing them down to mono", stacklevel=2)
        y = y.mean(axis=1)
    if sr is not None and file_sr != sr:
        y = resample(y, file_sr, sr)
        file_sr = sr
    return y.astype(np.float32), int(file_sr)


def _wav_missing_bytes(path: Path) -> int:
    """For a RIFF/WAVE file, how many bytes of its ``data`` chunk are missing (0 if complete or not
    a WAV). libsndfile silently shortens such files to what is there."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return 0
            size = path.stat().st_size
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                cid, clen = struct.unpack("<4sI", f.read(8))
                if cid == b"data":
                    if clen == 0xFFFFFFFF:  # streaming writers leave the size open
                        return 0
                    return max(0, clen - (size - pos - 8))
                pos += 8 + clen + (clen & 1)
    except OSError:
        return 0
    return 0


def save_audio(path, y, sr: int = SR, overwrite_ok: bool = True) -> Path:
    """Write a float waveform as 16-bit PCM wav, atomically (temp file then rename).

    Peaks above 1 are *not* clipped silently: the signal is scaled down and a
    warning says by how much.

    Notebook: 01_stft_domain.ipynb
    """
    import soundfile as sf

    path = Path(path)
    if path.exists() and not overwrite_ok:
        raise FileExistsError(f"{path} exists; choose another output path")
    y = np.asarray(y, dtype=np.float32)
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak > 1.0:
        warnings.warn(f"peak {peak:.2f} > 1: scaling {path.name} down by {20 * math.log10(peak):.1f} dB "
                      "to avoid clipping", stacklevel=2)
        y = y / peak
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(str(tmp), y, sr, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)
    return path
