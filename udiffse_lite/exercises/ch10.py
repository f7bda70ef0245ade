"""Solutions to the exercises of chapter 10, seeing speech.

Notebook: 10_seeing_speech.ipynb
"""
from __future__ import annotations

import numpy as np
import torch


def speech_envelope(s: np.ndarray, sr: int = 16000, fps: float = 25.0) -> np.ndarray:
    """Exercise 1: the speech level per video frame, in dB (RMS over each frame's samples).

    Video frame ``k`` shows ``[k / fps, (k + 1) / fps)`` s, so it gets the samples of that interval.

    Returns:
        (T_v,) float, ``T_v = round(len(s) / sr * fps)``.
    """
    hop = sr / fps
    T_v = int(round(len(s) / sr * fps))
    out = np.empty(T_v)
    for k in range(T_v):
        seg = s[int(round(k * hop)):int(round((k + 1) * hop))]
        out[k] = 10 * np.log10(np.mean(seg.astype(np.float64) ** 2) + 1e-10) if len(seg) else -100.0
    return out


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 5) -> tuple[int, float]:
    """Exercise 2: the lag (in frames) that maximises the correlation of ``a[k]`` with ``b[k + lag]``.

    A positive lag means ``b`` follows ``a``: for ``a`` = mouth opening and ``b`` = speech level,
    the sound comes after the mouth has opened.

    Returns:
        ``(lag, correlation at that lag)``.
    """
    best = (0, -np.inf)
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[:len(a) - lag], b[lag:]) if lag >= 0 else (a[-lag:], b[:len(b) + lag])
        n = min(len(x), len(y))
        c = float(np.corrcoef(x[:n], y[:n])[0, 1])
        if c > best[1]:
            best = (lag, c)
    return best


def attention_map(block, h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Exercise 3: the cross-attention weights of a ``CrossAttentionBlock``, averaged over channels.

    Every (channel c, audio frame t) token of ``h`` (B, C, F_l, T) is a query whose vector is its
    frequency column; every video frame of ``v`` (B, T_v, p) is a key.

    Returns:
        (B, T, T_v): for each audio frame, how much weight each video frame receives (rows sum to 1).
    """
    B, C, Fl, T = h.shape
    tokens = h.transpose(2, 3).reshape(B, C * T, Fl)  # (B, C*T, F_l)
    q, k = block.to_q(tokens), block.to_k(v)  # (B, C*T, d), (B, T_v, d)
    w = torch.softmax(q @ k.transpose(1, 2) * block.scale, dim=-1)  # (B, C*T, T_v)
    return w.reshape(B, C, T, -1).mean(1)
