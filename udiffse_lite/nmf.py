"""The NMF noise model: ``n ~ CN(0, diag(vec(W H)))``.

The noise power spectrogram is modelled as a low-rank product ``V = W H`` of
non-negative spectral patterns ``W`` (F x K) and activations ``H`` (K x T).
Maximum likelihood under the complex Gaussian model is the same as minimising
the Itakura-Saito divergence

    D_IS(P | V) = sum_ft  P/V - log(P/V) - 1

between the observed power ``P`` and the model ``V``, which the multiplicative
updates of Fevotte, Bertin and Durrieu (2009) do, one warm-started step per
call inside the samplers (the M-step of UDiffSE, the periodic update of UDiffSE+).

Notebook: 06_nmf_noise_model.ipynb
"""
from __future__ import annotations

import torch

EPS = 1e-10  # floor on W, H and V: IS divergence is undefined at 0


def is_divergence(P: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Itakura-Saito divergence ``sum P/V - log(P/V) - 1`` (scalar).

    Notebook: 06_nmf_noise_model.ipynb
    """
    r = P.clamp_min(EPS) / V.clamp_min(EPS)
    return (r - torch.log(r) - 1).sum()


class NMF:
    """Rank-K non-negative factorisation ``V = W H`` fitted with IS multiplicative updates.

    Args:
        n_freq: number of frequency bins F.
        n_frames: number of frames T.
        rank: number of components K (the papers use 4).
        generator: random source for the uniform initialisation.
        exponent: 1.0 gives the classic heuristic updates (the reference codes');
            0.5 gives the majorisation-minimisation updates of Fevotte & Idier
            (2011), whose divergence provably never increases.
        batch: None, or U independent factorisations fitted side by side (``W`` (U, F, K),
            ``H`` (U, K, T)): the batched enhancement of many recordings.

    Attributes:
        W: (F, K) spectral patterns, columns summing to 1 after each update ((U, F, K) batched).
        H: (K, T) activations carrying the scale ((U, K, T) batched).

    Notebook: 06_nmf_noise_model.ipynb
    """

    def __init__(self, n_freq: int, n_frames: int, rank: int = 4,
                 generator: torch.Generator | None = None, device=None,
                 dtype=torch.float32, exponent: float = 1.0, batch: int | None = None):
        if rank < 1:
            raise ValueError(f"NMF rank must be >= 1, got {rank}")
        lead = () if batch is None else (batch,)
        self.W = torch.rand(*lead, n_freq, rank, generator=generator, dtype=dtype).clamp_min(EPS).to(device)
        self.H = torch.rand(*lead, rank, n_frames, generator=generator, dtype=dtype).clamp_min(EPS).to(device)
        self.exponent = exponent

    @property
    def V(self) -> torch.Tensor:
        """(F, T) (or (U, F, T)) the modelled noise variance ``W H``."""
        return (self.W @ self.H).clamp_min(EPS)

    def update(self, P: torch.Tensor) -> torch.Tensor:
        """One IS multiplicative update of ``H`` then ``W`` on the power ``P``, then normalise.

        Args:
            P: (F, T) non-negative power spectrogram (e.g. ``mean_b |X - S|**2``); (U, F, T) batched.

        Returns:
            The new (F, T) variance ``W H``.
        """
        want = (*self.W.shape[:-1], self.H.shape[-1])
        if tuple(P.shape) != want:
            raise ValueError(f"power has shape {tuple(P.shape)}, NMF expects {want}")
        P = P.to(self.W.dtype).clamp_min(EPS)
        g = self.exponent
        V = self.V
        self.H = self.H * ((self.W.mT @ (P * V ** -2)) / (self.W.mT @ V ** -1)) ** g
        self.H = self.H.clamp_min(EPS)
        V = self.V
        self.W = self.W * (((P * V ** -2) @ self.H.mT) / (V ** -1 @ self.H.mT)) ** g
        self.W = self.W.clamp_min(EPS)
        self.normalise()
        return self.V

    def normalise(self) -> None:
        """Columns of ``W`` sum to 1; the scale moves into the rows of ``H`` (``W H`` unchanged)."""
        scale = self.W.sum(dim=-2, keepdim=True)  # (1, K) or (U, 1, K)
        self.W = self.W / scale
        self.H = self.H * scale.mT
