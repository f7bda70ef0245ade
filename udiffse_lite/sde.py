"""The forward SDE: an Ornstein-Uhlenbeck process with variance exploding noise (OU-VE).

    ds = -theta * s dt + g(t) dw,   g(t) = sigma_min * (sigma_max / sigma_min)**t * sqrt(2 L),

with ``L = ln(sigma_max / sigma_min)``. The drift pulls every spectrogram towards
0 (an unconditional prior, unlike SGMSE's pull towards the mixture). Its
perturbation kernel is Gaussian, ``s_t | s ~ CN(mu_t s, sigma_t**2)``, with

    mu_t      = exp(-theta t)
    sigma_t^2 = sigma_min^2 exp(-2 theta t) (exp(2 (theta + L) t) - 1) L / (theta + L),

the solution of ``d var / dt = -2 theta var + g(t)**2`` from ``var(0) = 0``.
Noise is circular complex Gaussian: real and imaginary parts each of variance
1/2, so ``E|z|**2 = 1`` and ``sigma_t**2`` is the total variance per bin.

Notebook: 02_forward_sde.ipynb
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def complex_randn(shape, generator: torch.Generator | None = None, device=None,
                  dtype=torch.complex64) -> torch.Tensor:
    """Circular complex standard normal: real and imaginary parts each N(0, 1/2).

    Notebook: 02_forward_sde.ipynb
    """
    real_dtype = torch.float64 if dtype == torch.complex128 else torch.float32
    z = torch.randn((*shape, 2), generator=generator, device=device, dtype=real_dtype)
    return torch.view_as_complex(z) / math.sqrt(2.0)


def _as_tensor(t, ref: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(t, torch.Tensor):
        return t
    dev = ref.device if ref is not None else None
    return torch.tensor(float(t), device=dev)


def expand_like(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a per-batch (B,) or scalar tensor so that it broadcasts over ``x`` (B, ...)."""
    if a.dim() == 0:
        return a
    return a.reshape(a.shape[0], *([1] * (x.dim() - 1)))


@dataclass
class OUVESDE:
    """OU-VE SDE with the defaults of SGMSE and the UDiffSE reference code.

    Attributes:
        theta: stiffness of the pull towards 0.
        sigma_min: noise scale at t = 0.
        sigma_max: noise scale at t = 1.
        N: number of reverse steps used by the samplers.
        t_eps: smallest diffusion time (the reverse process stops there).

    Notebook: 02_forward_sde.ipynb
    """

    theta: float = 1.5  # stiffness: mu_1 = exp(-1.5) ~ 0.22 keeps a trace of the signal at t = 1
    sigma_min: float = 0.05  # the noise floor at t = 0
    sigma_max: float = 0.5  # the noise scale at t = 1 (compressed spectrograms have |S| <~ 1)
    N: int = 30  # reverse steps
    t_eps: float = 0.03  # the reverse process stops here: sigma_0.03 ~ 0.019

    def __post_init__(self):
        if not (self.sigma_max > self.sigma_min > 0):
            raise ValueError(f"need sigma_max > sigma_min > 0, got {self.sigma_max}, {self.sigma_min}")
        if not (0 < self.t_eps < 1):
            raise ValueError(f"t_eps must lie in (0, 1), got {self.t_eps}")

    @property
    def L(self) -> float:
        """``ln(sigma_max / sigma_min)``."""
        return math.log(self.sigma_max / self.sigma_min)

    def mean_factor(self, t) -> torch.Tensor:
        """``mu_t = exp(-theta t)``: E[s_t | s] = mu_t s."""
        return torch.exp(-self.theta * _as_tensor(t))

    def std(self, t) -> torch.Tensor:
        """``sigma_t``: the standard deviation of ``s_t | s`` (total, complex)."""
        t = _as_tensor(t)
        th, L = self.theta, self.L
        var = (self.sigma_min ** 2 * torch.exp(-2 * th * t)
               * (torch.exp(2 * (th + L) * t) - 1) * L / (th + L))
        return torch.sqrt(var)

    def g(self, t) -> torch.Tensor:
        """Diffusion coefficient ``g(t)``."""
        t = _as_tensor(t)
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t * math.sqrt(2 * self.L)

    def drift(self, s: torch.Tensor, t) -> torch.Tensor:
        """Forward drift ``f(s, t) = -theta s``."""
        return -self.theta * s

    def marginal(self, s: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of ``s_t | s``; ``t`` is a scalar or a (B,) tensor."""
        t = _as_tensor(t, s)
        return expand_like(self.mean_factor(t), s) * s, expand_like(self.std(t), s)

    def perturb(self, s: torch.Tensor, t, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample ``s_t = mu_t s + sigma_t z``; returns ``(s_t, z)`` (z is the regression target).

        Args:
            s: (B, F, T) complex clean spectrogram.
            t: scalar or (B,) diffusion times.
        """
        mean, std = self.marginal(s, t)
        z = complex_randn(s.shape, generator, s.device, s.dtype)
        return mean + std * z, z

    def prior_sampling(self, shape, generator: torch.Generator | None = None, device=None,
                       dtype=torch.complex64) -> torch.Tensor:
        """Sample from the t = 1 marginal of a zero-mean signal: ``sigma_1 z``."""
        return self.std(1.0).item() * complex_randn(shape, generator, device, dtype)

    def timesteps(self, n_steps: int | None = None, device=None) -> torch.Tensor:
        """The reverse-time grid ``linspace(1, t_eps, n_steps)`` (float32)."""
        n = n_steps or self.N
        return torch.linspace(1.0, self.t_eps, n, device=device)

    def step_sizes(self, ts: torch.Tensor, reference_dt: bool = False) -> torch.Tensor:
        """The step ``dt_i`` taken from ``ts[i]``.

        Exact (default): ``dt_i = ts[i] - ts[i+1]`` and the last step goes from
        ``t_eps`` to 0, so the steps integrate the reverse SDE over [0, 1].
        ``reference_dt=True``: the reference codes' constant ``dt = 1 / N`` on a
        grid spaced ``(1 - t_eps) / (N - 1)``.
        """
        if reference_dt:
            return torch.full_like(ts, 1.0 / len(ts))
        nxt = torch.cat([ts[1:], ts.new_zeros(1)])
        return ts - nxt

    def reverse_step(self, s: torch.Tensor, score: torch.Tensor, t, dt,
                     generator: torch.Generator | None = None, noise: bool = True
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Euler-Maruyama step of the reverse SDE from ``t`` to ``t - dt``.

        ``s <- s - (f - g^2 score) dt + g sqrt(dt) z``. Returns ``(s_new, s_mean)``
        where ``s_mean`` omits the noise (what the last step returns).
        """
        g = expand_like(self.g(_as_tensor(t, s)), s)
        dt = expand_like(_as_tensor(dt, s), s)
        mean = s - (self.drift(s, t) - g ** 2 * score) * dt
        if not noise:
            return mean, mean
        z = complex_randn(s.shape, generator, s.device, s.dtype)
        return mean + g * torch.sqrt(dt) * z, mean

    def ancestral_step(self, s: torch.Tensor, s0_hat: torch.Tensor, t, dt,
                       generator: torch.Generator | None = None, noise: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step from ``t`` to ``tau = max(t - dt, 0)`` by the forward process' own posterior.

        Both transitions of OU-VE are Gaussian: ``s_t = a s_tau + b z`` with
        ``a = mu_t / mu_tau``, ``b^2 = sigma_t^2 - a^2 sigma_tau^2``. Given ``s_t`` and a
        clean estimate ``s0_hat`` (Tweedie's, from the score at ``t``), ``s_tau`` is drawn from
        ``q(s_tau | s_t, s_0 = s0_hat)``, whose mean and variance are

            mean = (b^2 mu_tau s0_hat + a sigma_tau^2 s_t) / sigma_t^2,
            var  = sigma_tau^2 b^2 / sigma_t^2

        (DDPM's ancestral sampler, written for this SDE). As ``dt -> 0`` it agrees with the
        Euler-Maruyama step of the reverse SDE to first order; unlike it, it never
        overshoots: Euler-Maruyama multiplies the noise part of ``s`` by ``1 - g^2 dt / sigma_t^2``
        (about ``1 - 7.6 dt`` here), which flips sign and grows once ``dt > 0.26``, i.e. below
        about 6 steps. At ``tau = 0`` the step returns ``s0_hat`` itself.

        Notebook: 04_reverse_sampling.ipynb
        """
        t = _as_tensor(t, s)
        tau = torch.clamp(t - _as_tensor(dt, s), min=0.0)
        mu_t, mu_tau = self.mean_factor(t), self.mean_factor(tau)
        var_t = self.std(t) ** 2
        var_tau = torch.where(tau > 0, self.std(tau) ** 2, torch.zeros_like(tau))
        a = mu_t / mu_tau
        b2 = torch.clamp(var_t - a ** 2 * var_tau, min=0.0)
        c0 = expand_like(b2 * mu_tau / var_t, s)
        c1 = expand_like(a * var_tau / var_t, s)
        mean = c0 * s0_hat + c1 * s
        if not noise:
            return mean, mean
        std = expand_like(torch.sqrt(var_tau * b2 / var_t), s)
        z = complex_randn(s.shape, generator, s.device, s.dtype)
        return mean + std * z, mean
