"""Chapter 01 (speech in the STFT domain): solutions.

Notebook: 01_stft_domain.ipynb
"""
from __future__ import annotations

import torch


def n_frames(n_samples: int, hop: int = 128) -> int:
    """Number of centred STFT frames of a waveform: ``1 + n_samples // hop``."""
    return 1 + n_samples // hop


def compress_with(c: torch.Tensor, alpha: float, beta: float = 0.15) -> torch.Tensor:
    """Amplitude compression ``beta |c|^alpha e^{i angle c}`` for any exponent (0 where c = 0)."""
    mag = c.abs()
    return torch.where(mag > 0, beta * mag.pow(alpha) * c / mag.clamp_min(1e-30), torch.zeros_like(c))
