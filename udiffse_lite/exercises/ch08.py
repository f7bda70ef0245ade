"""Solutions to the exercises of chapter 08, posterior sampling and UDiffSE.

Notebook: 08_posterior_udiffse.ipynb
"""
from __future__ import annotations

import math

import torch


def wiener_bound(vs: torch.Tensor, V: torch.Tensor, n_samples: int) -> float:
    """Exercise 1: the mean squared error of the mean of ``b`` exact posterior samples.

    For ``s ~ CN(0, vs)`` and ``x = s + n``, ``n ~ CN(0, V)``, the posterior is Gaussian with
    mean ``vs / (vs + V) x`` (the Wiener filter) and variance ``MMSE = vs V / (vs + V)``.
    Averaging ``b`` independent posterior samples leaves ``MMSE / b`` of posterior spread on
    top of the Wiener filter's own error: ``MMSE (1 + 1/b)`` per bin.

    Returns:
        The bound averaged over bins (a float; ``n_samples=inf`` gives the Wiener filter's MMSE).
    """
    mmse = (vs * V / (vs + V)).mean().item()
    return mmse * (1 + 1 / n_samples) if math.isfinite(n_samples) else mmse


def pseudo_likelihood_grad_autograd(S: torch.Tensor, X: torch.Tensor, V: torch.Tensor,
                                    mu: float, sigma: float) -> torch.Tensor:
    """Exercise 2: the pseudo-likelihood gradient by automatic differentiation.

    ``log CN(X; S/mu, V + sigma^2/mu^2) = -|X - S/mu|^2 / (V + sigma^2/mu^2) + const``.
    For a real function of a complex tensor, ``torch.autograd`` returns ``2 dL/d conj(S)``;
    the score convention of the package (``-s/v`` for ``CN(0, v)``) is ``dL/d conj(S)``,
    hence the ``/ 2``.
    """
    S = S.detach().clone().requires_grad_(True)
    var = V + sigma ** 2 / mu ** 2
    logp = -((X - S / mu).abs() ** 2 / var).sum()
    (grad,) = torch.autograd.grad(logp, S)
    return grad / 2


def exact_gaussian_likelihood(vs: torch.Tensor, V: torch.Tensor, X: torch.Tensor, sde):
    """Exercise 3: the *exact* ``grad log p(X | S_t)`` when the prior is ``CN(0, vs)``.

    ``s | s_t`` is Gaussian with mean ``A s_t``, ``A = mu vs / (mu^2 vs + sigma^2)`` and
    variance ``c = vs sigma^2 / (mu^2 vs + sigma^2)``, so ``X | s_t ~ CN(A s_t, c + V)`` and
    ``grad = A (X - A s_t) / (c + V)``.

    Returns:
        A function ``f(S, t) -> grad`` to pass as ``likelihood=`` to ``posterior_sample``.
    """
    def grad(S, t):
        mu, sig = sde.mean_factor(t), sde.std(t)
        A = mu * vs / (mu ** 2 * vs + sig ** 2)
        c = vs * sig ** 2 / (mu ** 2 * vs + sig ** 2)
        return A * (X - A * S) / (c + V)
    return grad
