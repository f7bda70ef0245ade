"""Solutions to the exercises of chapter 08, posterior sampling and UDiffSE.

Notebook: 08_posterior_udiffse.ipynb
"""
from __future__ import annotations

import torch


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
