"""Solutions to the exercises of chapter 06, the NMF noise model.

Notebook: 06_nmf_noise_model.ipynb
"""
from __future__ import annotations

import torch

from ..nmf import EPS, NMF


def is_divergence(P: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Exercise 1: the Itakura-Saito divergence ``sum P/V - log(P/V) - 1``, from scratch.

    It is scale invariant, ``D(a P | a V) = D(P | V)``: a quiet bin weighs as much as a loud one.

    Args:
        P: (F, T) observed power; V: (F, T) modelled variance (both positive).

    Returns:
        A scalar tensor.
    """
    r = P.clamp_min(EPS) / V.clamp_min(EPS)
    return (r - torch.log(r) - 1).sum()


def mu_step(P: torch.Tensor, W: torch.Tensor, H: torch.Tensor, exponent: float = 1.0
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 2: one IS multiplicative update of ``H`` then ``W``, then column normalisation.

    The gradient of ``D_IS(P | W H)`` with respect to ``H`` is ``W^T (V^-1 - P V^-2)``:
    a positive part ``W^T V^-1`` and a negative part ``W^T (P V^-2)``. Multiplying by
    their ratio keeps ``H`` non-negative and stops where the gradient vanishes.

    Returns:
        The new ``(W, H)``, with the columns of ``W`` summing to 1 (the same as
        :meth:`udiffse_lite.nmf.NMF.update`).
    """
    P = P.clamp_min(EPS)
    V = (W @ H).clamp_min(EPS)
    H = (H * ((W.T @ (P / V ** 2)) / (W.T @ (1 / V))) ** exponent).clamp_min(EPS)
    V = (W @ H).clamp_min(EPS)
    W = (W * (((P / V ** 2) @ H.T) / ((1 / V) @ H.T)) ** exponent).clamp_min(EPS)
    scale = W.sum(0, keepdim=True)  # (1, K)
    return W / scale, H * scale.T


def divergence_per_rank(P: torch.Tensor, ranks=(1, 2, 4, 8), n_iter: int = 50, seed: int = 0
                        ) -> dict[int, float]:
    """Exercise 3: the IS divergence per time-frequency bin left after ``n_iter`` updates, per rank.

    Uses the majorisation-minimisation exponent 0.5, whose divergence never increases.

    Returns:
        ``{rank: D_IS / (F T)}``.
    """
    out = {}
    for K in ranks:
        m = NMF(*P.shape, rank=K, generator=torch.Generator().manual_seed(seed), exponent=0.5)
        for _ in range(n_iter):
            m.update(P)
        out[K] = (is_divergence(P, m.V) / P.numel()).item()
    return out
