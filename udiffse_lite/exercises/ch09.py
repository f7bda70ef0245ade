"""Solutions to the exercises of chapter 09, UDiffSE+.

Notebook: 09_udiffse_plus.ipynb
"""
from __future__ import annotations

import torch


def tweedie_estimate(S: torch.Tensor, score: torch.Tensor, mu: float, sigma: float,
                     divide_mu: bool = True) -> torch.Tensor:
    """Exercise 1: Tweedie's estimate of the clean spectrogram from a noisy state.

    ``E[s | s_t] = (s_t + sigma_t^2 score(s_t)) / mu_t``. The reference code omits the
    ``/ mu_t`` (``divide_mu=False``): its estimate is then ``mu_t`` times too small, about
    4.5 times at ``t = 1``, and the NMF fitted on ``|X - S0_hat|^2`` early in the pass sees
    far too much "noise".
    """
    s0 = S + sigma ** 2 * score
    return s0 / mu if divide_mu else s0


def count_evals(method: str, n_steps: int = 30, em_iters: int = 5, corrector: bool = True) -> int:
    """Exercise 2: network evaluations per batch of chains.

    Each reverse step evaluates the prior once in the predictor and once in the corrector;
    Tweedie's estimate reuses the predictor's score. UDiffSE runs ``em_iters`` full passes,
    UDiffSE+ one.
    """
    per_pass = n_steps * (2 if corrector else 1)
    if method == "udiffse":
        return em_iters * per_pass
    if method == "udiffse+":
        return per_pass
    raise ValueError(f"method must be 'udiffse' or 'udiffse+', got {method!r}")


def nmf_update_steps(n_steps: int = 30, k: int = 2) -> list[int]:
    """Exercise 3: the reverse steps before which UDiffSE+ updates the NMF (every k-th, from 0).

    The first update (step 0) sees ``S0_hat = 0``, i.e. it fits the mixture's own power.
    """
    return [i for i in range(n_steps) if i % k == 0]
