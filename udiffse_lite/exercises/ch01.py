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


def dynamic_range_db(S: torch.Tensor, floor_quantile: float = 0.5) -> float:
    """Spread in dB between the loudest bin and the ``floor_quantile`` quantile of ``|S|``
    (the median by default: the examples start and end with digital silence, exact zeros)."""
    mag = S.abs().flatten().double()
    lo = torch.quantile(mag, floor_quantile).clamp_min(1e-12)
    return float(20 * torch.log10(mag.max() / lo))
