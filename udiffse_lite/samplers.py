"""Samplers: unconditional generation, UDiffSE (EM) and UDiffSE+ (one pass with Tweedie).

All work on compressed complex spectrograms (B, F, T) with ``B = n_samples``
parallel chains; :func:`enhance` wraps them at waveform level.

Every reverse step at diffusion time ``t`` runs an annealed-Langevin
*corrector* and a reverse-diffusion (Euler-Maruyama) *predictor*, each costing
one score evaluation. Posterior sampling adds the gradient of the
noise-perturbed pseudo-likelihood of the mixture ``X``,

    grad log CN(X; S / mu_t, diag(V + sigma_t^2 / mu_t^2))
        = (X - S / mu_t) / (mu_t * ((sigma_t / mu_t)^2 + V)),

with one of two schedules:

* ``"posterior-score"``: ``lam * grad`` is added to the prior score in every
  predictor and corrector step (equation (6) of the papers, taken literally);
* ``"reference"``: the reference codes' separate step
  ``S += lam * g(t)^2 * dt * grad`` after every ``k``-th predictor step, the
  corrector seeing the prior score alone (``lam = 1.5``).

The predictor is, by default, the *ancestral* step of the forward process' own
posterior (:meth:`~udiffse_lite.sde.OUVESDE.ancestral_step`), which agrees with
the reference codes' Euler-Maruyama step as the steps get small but, unlike it,
does not blow up below about 6 steps; the reference's separate likelihood step
is taken implicitly (a proximal step, stable at any step size) for the same
reason.

Where the reference code and the equations differ, the default is the
mathematically exact (or stable) choice and a flag gives the reference
behaviour: ``predictor="euler-maruyama"``, ``likelihood_step="explicit"``,
``reference_dt`` (constant ``dt = 1/N``), ``corrector_step="reference"``
(``(r sigma)^2`` instead of ``2 (r sigma)^2``), ``tweedie_mu=False`` (drop the
``/mu_t`` in Tweedie's formula). :meth:`SamplerConfig.reference` sets all of
them at once. Differences from the reference code that remain even then:
UDiffSE+'s first NMF update sees a Tweedie estimate of zero (the reference: the
start state); Tweedie is taken after the corrector here, after the predictor
and likelihood step there; the estimate is refreshed every step here, every
``k``-th there; and NMF updates ``H`` then ``W`` here, ``W`` then ``H`` there.

Notebook: 08_posterior_udiffse.ipynb, 09_udiffse_plus.ipynb
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .nmf import NMF
from .sde import complex_randn
from . import spectral

SCHEDULES = ("posterior-score", "reference")


PREDICTORS = ("ancestral", "euler-maruyama")
NMF_TARGETS = ("residual", "residual+var", "wiener")


@dataclass
class SamplerConfig:
    """Settings shared by the samplers.

    The defaults are the mathematically exact or stable choices, picked by measurement
    (``benchmarks/sweep_sampler.py``); :meth:`reference` gives the reference code's choices.

    Notebook: 09_udiffse_plus.ipynb
    """

    n_steps: int = 30  # reverse steps N
    n_samples: int = 2  # parallel chains b; the estimate is their mean (4 measured no better: +6.67 against +6.80 dB
    # on the validation mixtures, at twice the time; docs/speed.md)
    schedule: str = "posterior-score"  # how the likelihood enters (see module docstring)
    lam: float | None = None  # likelihood weight; None: 1.0 for posterior-score, 1.5 for reference
    k: int = 2  # the likelihood step (reference) and the NMF update (UDiffSE+) run every k-th step (k = 1 / 4
    # measured -0.08 / -0.28 dB SI-SDR, NMF rank 2 / 8 -0.01 / -0.09 dB: docs/sweep_sampler.md, session 20)
    nmf_target: str = "residual"  # what the NMF is fitted to: "residual" mean_b |X - S|^2 (the papers);
    # "residual+var" adds the posterior variance Ps V / (Ps + V) of the speech given the chains' power Ps, as the EM
    # M-step of a Gaussian model does; "wiener": E|N|^2 = |V / (Ps + V)|^2 |X|^2 + Ps V / (Ps + V) from the powers only
    # (both measured 1.9-2.3 dB worse on the validation mixtures: docs/sweep_sampler.md, session 20)
    nmf_iters: int = 1  # multiplicative IS-NMF updates per refresh of the noise model (UDiffSE+'s periodic and final
    # refits, UDiffSE's M-step); the papers' 1 (4 measured -1.1 dB: the NMF must not chase the early estimates)
    snr: float | None = None  # corrector signal-to-noise ratio r; None: 0.75 from 11 steps on, 0.6 below (measured on
    # the validation mixtures: docs/sweep_sampler.md, docs/speed.md; at 6 steps r = 0.75 gains +0.86 dB, r = 0.6 +3.60)
    corrector: bool = True  # one annealed Langevin step per reverse step
    corrector_step: str = "paper"  # "paper": eps = 2 (r sigma)^2; "reference": (r sigma)^2
    reference_dt: bool = False  # True: constant dt = 1/N as in the reference code
    tweedie_mu: bool = True  # False: the reference code's Tweedie without /mu_t
    start: str = "mixture"  # "mixture": X + sigma_1 z (reference); "scaled": mu_1 X + sigma_1 z
    output: str = "wiener"  # "wiener": the mixture through the gain E|S|^2 / (E|S|^2 + V) from the chains and the
    # final NMF (+1.4 dB SI-SDR on the validation mixtures over "mean"); "mean" of the chains (the papers)
    gain_floor: float = 0.0  # "wiener" output: the gain never falls below this (0: a plain Wiener filter); floors of
    # 0.2-0.4 measured no better PESQ-WB (+0.003) for less SI-SDR (docs/sweep_sampler.md)
    noise_floor: float = 1.0  # "wiener" output of the NMF samplers: the gain's noise power is never below this
    # times a stationary noise estimate of the mixture (:func:`stationary_noise_floor`), which the chains cannot
    # explain away as speech (0: the NMF alone). On the validation mixtures the chains claim noise as speech and the
    # final NMF sits 2.5-7 dB low where noise dominates (benchmarks/noise_oracle.py); with the floor: +7.40 against
    # +7.01 dB SI-SDR, +0.201 against +0.157 PESQ-WB (docs/sweep_sampler.md, session 21)
    noise_floor_quantile: float = 0.1  # the floor's quantile over time of each bin's 3-frame smoothed mixture power
    noise_floor_gate: tuple[float, float] | None = (0.40, 0.50)  # the floor's scale ramps from 0 to noise_floor as
    # the mixture's noise_stationarity() goes from the first to the second value (None: always noise_floor). A
    # floor read in the gaps of a noise that comes and goes (babble) cuts the voice's quiet parts: on three draws
    # of validation mixtures the gate gives babble back +0.85 / +0.66 dB and the whole set gains +0.10 / +0.08 dB
    # over the ungated floor (docs/sweep_sampler.md, session 22)
    gain_smooth: int = 3  # "wiener" output: the gain averaged over this many frames (odd; 1: frame by frame). 3
    # frames (48 ms) measured better than 1 on two draws of 16 validation mixtures: +0.019 / +0.008 PESQ-WB, +0.09 /
    # +0.20 dB SI-SDR, 11 of 16 mixtures each (docs/sweep_sampler.md, session 16)
    predictor: str = "ancestral"  # "ancestral" (stable at any step count) or "euler-maruyama" (reference)
    likelihood_step: str = "implicit"  # reference schedule: "implicit" (proximal, stable) or "explicit"
    output_noise_prior: object = "tiny-noise"  # "wiener" output of the NMF samplers: the gain's noise power is a
    # rank-4 NMF fit of a learned noise prior's Tweedie estimate of the chains' residual at output_noise_t
    # (:func:`denoised_noise_power`): the residual holds the chains' speech errors as well as the noise, and the
    # noise prior, which knows what noise looks like, removes most of them. A shipped name, a checkpoint path, a
    # loaded prior, or None (the NMF refitted on the residual itself, the papers' output). On two draws of 24
    # validation mixtures: +0.04 PESQ-WB, the same SI-SDR; brown noise +0.25 (docs/sweep_sampler.md, session 24)
    output_noise_t: float = 0.1  # the diffusion time at which the noise prior reads the residual
    guidance: float | None = 4.0  # classifier-free guidance weight w for AV priors given video (1 or None:
    # the plain conditional score). w = 4 against w = 3 on three noise draws of 16 validation mixtures (sessions
    # 15 and 23): tiny-av's true lips +0.06 / -0.02 / 0.00 dB SI-SDR, -0.012 PESQ-WB each time, while true - wrong
    # lips grows from +1.49 / +1.51 / +1.90 to +2.73 / +2.61 / +3.20 dB: the same result for a user with the right
    # video, a prior that leans on it more (docs/sweep_sampler.md, session 23; w = 3 over w = 2: docs/training.md
    # sections 12-13); costs a second half-batch per guided network call (see guidance_interval). Ignored without
    # video.
    guidance_interval: tuple[float, float] | None = None  # guidance only at diffusion times lo < t <= hi; outside
    # it the plain conditional score (w = 1, one forward per call). None: (0, 0.5) from 30 steps on, every step
    # below (:func:`guided_times`). (0, 1): every step. Ignored without video or guidance.

    @classmethod
    def reference(cls, **overrides) -> "SamplerConfig":
        """Every choice of the reference code at once: the separate likelihood step with
        ``lam = 1.5`` every ``k = 2`` steps, explicit, Euler-Maruyama predictor, constant
        ``dt = 1/N``, corrector step ``(r sigma)^2`` with ``r = 0.5``, Tweedie without ``/mu_t``, the
        chains' mean as the estimate, no classifier-free guidance, no stationary noise floor.

        Notebook: 09_udiffse_plus.ipynb
        """
        base = dict(schedule="reference", lam=1.5, k=2, predictor="euler-maruyama", likelihood_step="explicit",
                    reference_dt=True, corrector_step="reference", snr=0.5, tweedie_mu=False, start="mixture",
                    output="mean", guidance=None, noise_floor=0.0, output_noise_prior=None)
        return cls(**{**base, **overrides})

    def __post_init__(self):
        if self.predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {PREDICTORS}, got {self.predictor!r}")
        if self.likelihood_step not in ("implicit", "explicit"):
            raise ValueError(f"likelihood_step must be 'implicit' or 'explicit', got {self.likelihood_step!r}")
        if self.lam is not None and not (math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam}")
        if self.guidance is not None and not (math.isfinite(self.guidance) and self.guidance >= 0):
            raise ValueError(f"guidance must be a finite number >= 0 (1 = no guidance), got {self.guidance}")
        check_guidance_interval(self.guidance_interval)
        if self.snr is not None and not (math.isfinite(self.snr) and self.snr > 0):
            raise ValueError(f"snr must be a finite number > 0, got {self.snr}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not isinstance(self.n_steps, (int, np.integer)) or not isinstance(self.n_samples, (int, np.integer)):
            raise ValueError(f"n_steps and n_samples must be integers, got {self.n_steps!r}, {self.n_samples!r}")
        if self.n_steps < 2:
            raise ValueError(f"n_steps must be >= 2, got {self.n_steps}")
        if self.n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {self.n_samples}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if isinstance(self.nmf_iters, (bool, np.bool_)) or not isinstance(self.nmf_iters, (int, np.integer)) \
                or self.nmf_iters < 1:
            raise ValueError(f"nmf_iters must be an integer >= 1 (updates per NMF refresh), got {self.nmf_iters!r}")
        if self.nmf_target not in NMF_TARGETS:
            raise ValueError(f"nmf_target must be one of {NMF_TARGETS}, got {self.nmf_target!r}")
        if self.corrector_step not in ("paper", "reference"):
            raise ValueError(f"corrector_step must be 'paper' or 'reference', got {self.corrector_step!r}")
        if self.start not in ("mixture", "scaled"):
            raise ValueError(f"start must be 'mixture' or 'scaled', got {self.start!r}")
        if not (math.isfinite(self.noise_floor) and self.noise_floor >= 0):
            raise ValueError(f"noise_floor must be a finite number >= 0 (0: no floor), got {self.noise_floor}")
        if not (math.isfinite(self.noise_floor_quantile) and 0 < self.noise_floor_quantile < 1):
            raise ValueError(f"noise_floor_quantile must be in (0, 1), got {self.noise_floor_quantile}")
        if self.noise_floor_gate is not None:
            gate = self.noise_floor_gate
            if (not isinstance(gate, (tuple, list)) or len(gate) != 2
                    or not all(isinstance(g, numbers.Real) and not isinstance(g, bool) and math.isfinite(g) for g in gate)
                    or not 0 <= gate[0] < gate[1] <= 1):
                raise ValueError(f"noise_floor_gate must be None or two numbers 0 <= lo < hi <= 1 (the "
                                 f"noise_stationarity() over which the floor ramps in), got {gate!r}")
            self.noise_floor_gate = (float(gate[0]), float(gate[1]))
        if not (math.isfinite(self.gain_floor) and 0 <= self.gain_floor <= 1):
            raise ValueError(f"gain_floor must be a number in [0, 1] (0: no floor), got {self.gain_floor}")
        if isinstance(self.gain_smooth, (bool, np.bool_)) or not isinstance(self.gain_smooth, (int, np.integer)) \
                or self.gain_smooth < 1 or self.gain_smooth % 2 == 0:
            raise ValueError(f"gain_smooth must be an odd number of frames >= 1 (1: no smoothing), got "
                             f"{self.gain_smooth!r}")
        if self.output not in ("mean", "wiener"):
            raise ValueError(f"output must be 'mean' or 'wiener', got {self.output!r}")
        _check_output_noise_prior(self.output_noise_prior)
        if not (isinstance(self.output_noise_t, numbers.Real) and 0 < self.output_noise_t <= 1):
            raise ValueError(f"output_noise_t must be a diffusion time in (0, 1], got {self.output_noise_t!r}")

    @property
    def weight(self) -> float:
        if self.lam is not None:
            return self.lam
        return 1.0 if self.schedule == "posterior-score" else 1.5

    @property
    def corrector_snr(self) -> float:
        """The corrector's r (:func:`corrector_snr`)."""
        return corrector_snr(self.snr, self.n_steps)

    @property
    def guided_times(self) -> tuple[float, float]:
        """The diffusion times ``(lo, hi]`` where an AV prior's score is guided (:func:`guided_times`)."""
        return guided_times(self.guidance_interval, self.n_steps)


GUIDANCE_INTERVAL_MIN_STEPS = 30  # the default preset's steps


def guided_times(interval: tuple[float, float] | None, n_steps: int) -> tuple[float, float]:
    """Where classifier-free guidance acts: ``interval`` when given, else only at t <= 0.5 from
    :data:`GUIDANCE_INTERVAL_MIN_STEPS` steps on and at every step below.

    Guiding half the steps costs a quarter fewer network evaluations (AV-UDiffSE+ at 30 steps x 2
    chains: 29 % less time on 2 CPU threads). On 16 validation mixtures (``tiny-av``, w = 4) the true
    lips score the same either way at 30, 16 and 8 steps (SI-SDR within 0.03 dB, PESQ-WB within 0.01),
    but the wrong lips do better with fewer guided steps, so the prior leans on the video less: true -
    wrong lips +2.38 / +2.55 against +2.54 / +2.72 dB at 30 steps x 2 chains (two noise draws), +2.14
    against +2.66 at 16 x 1, +0.72 against +1.59 at 8 x 1. Hence the interval only where it was measured
    to keep the gap, from the default preset's 30 steps on (docs/sweep_sampler.md, sessions 26-27; guiding
    only t > 0.3 or only t <= 0.3 loses 0.15-0.4 dB at 30 steps). Separation follows the same rule
    (:func:`~udiffse_lite.separation.separate`; six validation mixtures at w = 2 and 3: the true lips
    within 0.1 dB, true - swapped lips 0.3 dB lower, 25 % less time; docs/separation.md section 9).
    """
    if interval is not None:
        return (float(interval[0]), float(interval[1]))
    return (0.0, 0.5) if n_steps >= GUIDANCE_INTERVAL_MIN_STEPS else (0.0, 1.0)


def check_guidance_interval(interval) -> None:
    """Refuse a guidance interval that is not None or ``(lo, hi)`` with ``0 <= lo < hi <= 1``."""
    if interval is None:
        return
    gi = tuple(interval) if isinstance(interval, (tuple, list)) else ()
    if len(gi) != 2 or not all(isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)
                               for x in gi) or not 0.0 <= gi[0] < gi[1] <= 1.0:
        raise ValueError(f"guidance_interval must be (lo, hi) with 0 <= lo < hi <= 1 (guidance at diffusion "
                         f"times lo < t <= hi; (0, 1): every step; None: the default rule), got {interval!r}")


def parse_guidance_interval(text: str) -> tuple[float, float] | None:
    """``"auto"`` -> None (the rule of :func:`guided_times`), ``"LO:HI"`` -> ``(LO, HI)``, checked (the
    benchmarks' ``--guidance-interval``)."""
    try:
        gi = None if text == "auto" else tuple(float(x) for x in text.split(":"))
    except ValueError:
        gi = text
    check_guidance_interval(gi)
    return gi


def corrector_snr(snr: float | None, n_steps: int) -> float:
    """The corrector's r: ``snr`` when given, else 0.75 from 11 steps on and 0.6 below (a large
    Langevin step that many steps would average out overshoots when there are few; measured on the
    validation mixtures, docs/sweep_sampler.md)."""
    if snr is not None:
        return snr
    return 0.75 if n_steps > 10 else 0.6


@dataclass
class StepInfo:
    """What the per-step callback receives.

    Attributes:
        step: index i of the reverse step (0 .. n_steps-1) within the current pass.
        t: diffusion time of the step.
        S: (B, F, T) the chains after the step.
        S0_hat: (B, F, T) Tweedie's estimate of the clean spectrogram from the prior score
            at the start of the step.
        V: (F, T) the current noise variance (None for unconditional sampling).
        pass_index: EM iteration (UDiffSE) or 0.
    """

    step: int
    t: float
    S: torch.Tensor
    S0_hat: torch.Tensor
    V: torch.Tensor | None = None
    pass_index: int = 0


Likelihood = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def pseudo_likelihood_grad(S: torch.Tensor, X: torch.Tensor, V: torch.Tensor,
                           mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gradient of ``log CN(X; S/mu, diag(V + sigma^2/mu^2))`` with respect to ``S``.

    Args:
        S: (B, F, T) complex, current chains at diffusion time t.
        X: (F, T) or (B, F, T) complex mixture (same scale as the prior's training data).
        V: (F, T) noise variance.
        mu, sigma: the SDE's mean factor and std at t (scalars).

    Notebook: 08_posterior_udiffse.ipynb
    """
    return (X - S / mu) / (mu * ((sigma / mu) ** 2 + V))


def tweedie(prior, S: torch.Tensor, score: torch.Tensor, t, divide_mu: bool = True) -> torch.Tensor:
    """Tweedie's estimate of the clean spectrogram, ``(S + sigma_t^2 score) / mu_t``.

    ``divide_mu=False`` reproduces the reference code, which omits ``/mu_t``.

    Notebook: 05_tweedie.ipynb
    """
    sigma = prior.sde.std(t)
    s0 = S + sigma ** 2 * score
    return s0 / prior.sde.mean_factor(t) if divide_mu else s0


def posterior_tweedie(prior, S: torch.Tensor, prior_score: torch.Tensor, t, likelihood=None,
                      lam: float = 1.0) -> torch.Tensor:
    """Clean estimate that drives the ancestral predictor: Tweedie's estimate from the prior
    score, corrected by the likelihood evaluated at the *denoised* state ``mu_t S0``:

        S0_post = S0 + lam * (sigma_t^2 / mu_t) * grad(mu_t S0).

    For the pseudo-likelihood this is the per-bin Wiener combination of the prior's estimate
    and the mixture, ``S0 + lam (X - S0) sigma_t^2 / (sigma_t^2 + mu_t^2 V)``: with
    ``lam <= 1`` a convex combination, bounded whatever the step size. Tweedie's formula
    applied to the posterior score itself compares ``X`` with the *noisy* ``S / mu_t``
    instead, and at ``t = 1`` adds noise of ``sigma_1 / mu_1 = 1.7`` times the signal's scale.

    Notebook: 09_udiffse_plus.ipynb
    """
    s0 = tweedie(prior, S, prior_score, t, True)
    if likelihood is None:
        return s0
    mu, sigma = prior.sde.mean_factor(t), prior.sde.std(t)
    return s0 + lam * sigma ** 2 / mu * likelihood(mu * s0, t)


@torch.no_grad()  # sampling never needs the graph: without this, 30 steps keep every activation (GBs)
def reverse_pass(prior, S: torch.Tensor, *, cfg: SamplerConfig, video=None,
                 likelihood: Likelihood | None = None,
                 before_step: Callable[[int, torch.Tensor], None] | None = None,
                 generator: torch.Generator | None = None,
                 callback: Callable[[StepInfo], None] | None = None,
                 noise_variance: Callable[[], torch.Tensor] | None = None,
                 pass_index: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One reverse diffusion from ``t = 1`` to 0 with corrector and predictor at every step.

    Args:
        prior: object with ``.sde`` and ``.score(s_t, t, video)``.
        S: (B, F, T) complex start state.
        cfg: the sampler settings.
        likelihood: ``f(S, t) -> grad`` (None: prior sampling).
        before_step: called as ``before_step(i, S0_hat)`` before step i (UDiffSE+ updates NMF there).
        callback: called with a :class:`StepInfo` after every step.

    Returns:
        ``(S, S0_hat)``: the final chains (noise-free last step) and the last Tweedie estimate.

    Notebook: 04_reverse_sampling.ipynb
    """
    sde = prior.sde
    ts = sde.timesteps(cfg.n_steps, device=S.device)
    dts = sde.step_sizes(ts, cfg.reference_dt)
    lam = cfg.weight
    in_score = likelihood is not None and cfg.schedule == "posterior-score"
    c_eps = 2.0 if cfg.corrector_step == "paper" else 1.0
    guided = {"guidance": cfg.guidance} if cfg.guidance is not None and video is not None else {}
    g_lo, g_hi = cfg.guided_times
    S0_hat = torch.zeros_like(S)
    n = len(ts)
    for i in range(n):
        t, dt = ts[i], dts[i]
        kw = guided if g_lo < float(t) <= g_hi else {}
        if before_step is not None:
            before_step(i, S0_hat)
        sigma = sde.std(t)
        if cfg.corrector:
            sc = prior.score(S, t, video, **kw)
            if in_score:
                sc = sc + lam * likelihood(S, t)
            eps = c_eps * (cfg.corrector_snr * sigma) ** 2
            S = S + eps * sc + torch.sqrt(2 * eps) * complex_randn(S.shape, generator, S.device, S.dtype)
        prior_sc = prior.score(S, t, video, **kw)
        S0_hat = tweedie(prior, S, prior_sc, t, cfg.tweedie_mu)
        sc = prior_sc + lam * likelihood(S, t) if in_score else prior_sc
        if cfg.predictor == "ancestral":
            S, _ = sde.ancestral_step(S, posterior_tweedie(prior, S, prior_sc, t, likelihood if in_score else None,
                                                           lam), t, dt, generator, noise=i < n - 1)
        else:
            S, _ = sde.reverse_step(S, sc, t, dt, generator, noise=i < n - 1)
        if likelihood is not None and cfg.schedule == "reference" and i % cfg.k == 0:
            eta = lam * sde.g(t) ** 2 * dt
            if cfg.likelihood_step == "explicit":
                S = S + eta * likelihood(S, t)
            else:
                # the likelihood gradient is affine in S, grad = c (mu X - S) with c = -d grad / dS;
                # the implicit (proximal) step S' = S + eta grad(S') solves to S + eta grad(S) / (1 + eta c)
                g0 = likelihood(S, t)
                c = (g0 - likelihood(S + 1.0, t)).real  # the slope, per bin
                S = S + eta * g0 / (1 + eta * c)
        if callback is not None:
            callback(StepInfo(i, float(t), S, S0_hat,
                              noise_variance() if noise_variance is not None else None, pass_index))
    return S, S0_hat


def _start(prior, X: torch.Tensor, cfg: SamplerConfig, generator) -> torch.Tensor:
    """The start state: (F, T) X -> (b, F, T) chains; an already batched (N, F, T) X keeps its N."""
    sigma1 = prior.sde.std(1.0).item()
    base = X if cfg.start == "mixture" else prior.sde.mean_factor(1.0).item() * X
    if X.dim() == 2:
        base = base.expand(cfg.n_samples, *X.shape)
    return base + sigma1 * complex_randn(base.shape, generator, X.device, X.dtype)


def _check_mixture(X: torch.Tensor) -> None:
    if X.dim() != 2 or not torch.is_complex(X):
        raise ValueError(f"X must be a complex (F, T) spectrogram, got {tuple(X.shape)} {X.dtype}")
    if not torch.isfinite(torch.view_as_real(X)).all():
        raise ValueError("X contains NaN or Inf")


def prior_sample(prior, n_frames: int, *, n_freq: int = 256, video=None,
                 cfg: SamplerConfig | None = None, generator: torch.Generator | None = None,
                 callback: Callable[[StepInfo], None] | None = None, device=None) -> torch.Tensor:
    """Generate compressed spectrograms from the prior alone (predictor-corrector).

    Returns:
        (n_samples, n_freq, n_frames) complex64.

    Notebook: 04_reverse_sampling.ipynb
    """
    cfg = cfg or SamplerConfig()
    S = prior.sde.prior_sampling((cfg.n_samples, n_freq, n_frames), generator, device)
    S, _ = reverse_pass(prior, S, cfg=cfg, video=video, generator=generator, callback=callback)
    return S


def posterior_sample(prior, X: torch.Tensor, V: torch.Tensor, *, cfg: SamplerConfig | None = None,
                     video=None, likelihood: Likelihood | None = None,
                     generator: torch.Generator | None = None,
                     callback: Callable[[StepInfo], None] | None = None) -> torch.Tensor:
    """Posterior samples of clean speech given the mixture ``X`` and a *known* noise variance ``V``.

    With :class:`~udiffse_lite.priors.GaussianPrior` and the true ``V`` the mean
    of the samples approaches the Wiener filter.

    Args:
        X: (F, T) complex mixture.
        V: (F, T) or broadcastable noise variance.
        likelihood: override the pseudo-likelihood (e.g. the exact Gaussian one).

    Returns:
        (n_samples, F, T) complex64 posterior samples.

    Notebook: 08_posterior_udiffse.ipynb
    """
    cfg = cfg or SamplerConfig()
    _check_mixture(X)
    sde = prior.sde
    if likelihood is None:
        def likelihood(S, t):
            return pseudo_likelihood_grad(S, X, V, sde.mean_factor(t), sde.std(t))
    S = _start(prior, X, cfg, generator)
    S, _ = reverse_pass(prior, S, cfg=cfg, video=video, likelihood=likelihood, generator=generator,
                        callback=callback, noise_variance=lambda: V)
    return S


def udiffse(prior, X: torch.Tensor, *, cfg: SamplerConfig | None = None, video=None,
            em_iters: int = 5, nmf_rank: int = 4, generator: torch.Generator | None = None,
            callback: Callable[[StepInfo], None] | None = None, return_info: bool = False):
    """UDiffSE (Nortier, Sadeghi, Serizel 2024): EM with full posterior reverse passes.

    E-step: one full ``n_steps`` posterior reverse pass with the current noise
    variance ``V = W H`` (the first iteration without the likelihood term);
    M-step: one IS-NMF update on ``mean_b |X - S|^2``. Costs
    ``em_iters * n_steps * 2`` score evaluations.

    Args:
        X: (F, T) complex, normalised compressed mixture.

    Returns:
        (F, T) complex estimate (mean of the chains of the last E-step); with
        ``return_info`` also a dict with the NMF and the samples.

    Notebook: 08_posterior_udiffse.ipynb
    """
    cfg = cfg or SamplerConfig()
    _check_mixture(X)
    if em_iters < 1:
        raise ValueError(f"em_iters must be >= 1, got {em_iters}")
    sde = prior.sde
    nmf = NMF(X.shape[0], X.shape[1], nmf_rank, generator=_cpu_gen(generator), device=X.device)

    def likelihood(S, t):
        return pseudo_likelihood_grad(S, X, nmf.V, sde.mean_factor(t), sde.std(t))

    S = None
    for it in range(em_iters):
        S = _start(prior, X, cfg, generator)
        S, _ = reverse_pass(prior, S, cfg=cfg, video=video, likelihood=likelihood if it > 0 else None,
                            generator=generator, callback=callback, noise_variance=lambda: nmf.V,
                            pass_index=it)
        if it < em_iters - 1:
            _refit(nmf, X, S, cfg)
    est = _estimate(X, S, nmf, cfg)
    return (est, {"nmf": nmf, "samples": S}) if return_info else est


def udiffse_plus(prior, X: torch.Tensor, *, cfg: SamplerConfig | None = None, video=None,
                 nmf_rank: int = 4, generator: torch.Generator | None = None,
                 callback: Callable[[StepInfo], None] | None = None, return_info: bool = False):
    """UDiffSE+ (Ayilo et al. 2024): one posterior pass; every k-th step the NMF is
    updated on ``mean_b |X - S0_hat|^2`` with Tweedie's clean estimate ``S0_hat``.

    Costs ``n_steps * 2`` score evaluations (Tweedie reuses the predictor's score).

    Returns:
        (F, T) complex estimate (mean of the chains); with ``return_info`` also a dict.

    Notebook: 09_udiffse_plus.ipynb
    """
    cfg = cfg or SamplerConfig()
    _check_mixture(X)
    sde = prior.sde
    nmf = NMF(X.shape[0], X.shape[1], nmf_rank, generator=_cpu_gen(generator), device=X.device)

    def likelihood(S, t):
        return pseudo_likelihood_grad(S, X, nmf.V, sde.mean_factor(t), sde.std(t))

    def before_step(i, S0_hat):
        if i % cfg.k == 0:
            _refit(nmf, X, S0_hat, cfg)

    S = _start(prior, X, cfg, generator)
    S, _ = reverse_pass(prior, S, cfg=cfg, video=video, likelihood=likelihood, before_step=before_step,
                        generator=generator, callback=callback, noise_variance=lambda: nmf.V)
    est = _estimate(X, S, nmf, cfg)
    return (est, {"nmf": nmf, "samples": S}) if return_info else est


def diffusion_noise_likelihood(noise_prior, X: torch.Tensor) -> Likelihood:
    """The pseudo-likelihood of UDiffSE with a *diffusion* prior over the noise instead of NMF.

    Given the speech state ``S_t = mu_t S + sigma_t z``, the mixture ``X = S + N`` makes
    ``mu_t X - S_t = mu_t N - sigma_t z`` a diffused noise state at the same ``t`` (``-z`` is as
    Gaussian as ``z``), so ``log p(X | S_t) = log p_N,t(mu_t X - S_t) + const`` and

        grad_S log p(X | S_t) = -score_N(mu_t X - S_t, t).

    With the Gaussian noise model ``CN(0, V)`` this is exactly :func:`pseudo_likelihood_grad`;
    a noise prior's network replaces that Gaussian's score. In the predictor the likelihood is
    evaluated at ``mu_t S0`` (:func:`posterior_tweedie`), where it becomes
    ``X - (the noise network's estimate of the residual X - S0)``: the Wiener combination again.

    Notebook: 09_udiffse_plus.ipynb
    """
    sde = noise_prior.sde

    def likelihood(S, t):
        return -noise_prior.score(sde.mean_factor(t) * X - S, t)

    return likelihood


# enhance(noise_model="diffusion")'s likelihood weight: a learned noise prior claims part of the speech
# as noise (docs/separation.md section 7); weighting its score by 1.3 keeps the speech. On the 12 seen-type
# validation mixtures (session 10, 30 x 2, bf16): lam 0.5 / 0.7 / 1 / 1.15 / 1.3 / 1.6 / 2 / 2.5 gave
# -3.87 / +1.31 / +6.46 / +8.22 / +8.86 / +7.89 / +6.23 / +4.07 dB (NMF +9.07); docs/separation.md section 8
TWO_PRIOR_LAM = 1.3
# multiplicative updates of the rank-4 NMF that smooths the final residual power (noise_power="nmf")
NOISE_POWER_NMF_ITERS = 20


def udiffse_plus_two_priors(prior, X: torch.Tensor, noise_prior, *, cfg: SamplerConfig | None = None, video=None,
                            generator: torch.Generator | None = None,
                            callback: Callable[[StepInfo], None] | None = None, noise_power: str = "nmf",
                            nmf_rank: int = 4) -> torch.Tensor:
    """UDiffSE+ with a diffusion noise prior in the likelihood (:func:`diffusion_noise_likelihood`):
    the same predictor-corrector pass, no NMF, no backward pass; 4 network evaluations per step
    (speech and noise, predictor and corrector). The output is the mixture through the Wiener gain
    of the chains' speech power against their residual's power: with ``noise_power="nmf"``
    (default) that power smoothed by a rank-``nmf_rank`` NMF fit, as UDiffSE+'s own output refits
    its NMF on the chains' residual (the sampler itself uses no NMF; +1.0 dB over the raw residual
    at lam 1, +0.7 at lam 1.3 on the validation mixtures, ``docs/separation.md`` section 8).

    Returns:
        (F, T) complex estimate.

    Notebook: 09_udiffse_plus.ipynb
    """
    cfg = cfg or SamplerConfig()
    _check_mixture(X)
    if cfg.schedule != "posterior-score":
        raise ValueError("a diffusion noise prior enters through the posterior score: use schedule='posterior-score'")
    if noise_prior.sde != prior.sde:
        raise ValueError("the noise prior and the speech prior must share the SDE")
    if noise_power not in ("nmf", "residual"):
        raise ValueError(f"noise_power must be 'nmf' or 'residual', got {noise_power!r}")
    S = _start(prior, X, cfg, generator)
    S, _ = reverse_pass(prior, S, cfg=cfg, video=video, likelihood=diffusion_noise_likelihood(noise_prior, X),
                        generator=generator, callback=callback)
    if cfg.output == "mean":
        return S.mean(0)
    Ps, Pn = S.abs().pow(2).mean(0), (X - S).abs().pow(2).mean(0)
    if noise_power == "nmf":
        Pn = _nmf_smooth(Pn, nmf_rank)
    return X * _wiener_gain(Ps, Pn, cfg)


def udiffse_plus_batch(prior, X: torch.Tensor, *, cfg: SamplerConfig | None = None, video=None,
                       nmf_rank: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """UDiffSE+ on U recordings of the same length at once: the ``U * b`` chains share every
    network evaluation (one batch), each recording keeps its own NMF and likelihood.

    Args:
        X: (U, F, T) complex, each mixture normalised on its own (:func:`spectral.normalise`).
        video: None or (U, T_v, p) video features, one row per recording.

    Returns:
        (U, F, T) complex estimates: per recording, what :func:`udiffse_plus` computes (with other
        random draws, so they agree up to sampling noise).

    Notebook: 09_udiffse_plus.ipynb
    """
    cfg = cfg or SamplerConfig()
    if X.dim() != 3 or not torch.is_complex(X):
        raise ValueError(f"X must be complex (U, F, T) mixtures, got {tuple(X.shape)} {X.dtype}")
    if not torch.isfinite(torch.view_as_real(X)).all():
        raise ValueError("X contains NaN or Inf")
    U, F, T = X.shape
    B = cfg.n_samples
    sde = prior.sde
    nmf = NMF(F, T, nmf_rank, generator=_cpu_gen(generator), device=X.device, batch=U)
    Xr = X.repeat_interleave(B, 0)  # (U*B, F, T): recording u owns chains u*B .. u*B + B-1

    def per_recording(P):  # (U*B, F, T) -> (U, F, T): the mean over each recording's chains
        return P.reshape(U, B, F, T).mean(1)

    def likelihood(S, t):
        return pseudo_likelihood_grad(S, Xr, nmf.V.repeat_interleave(B, 0), sde.mean_factor(t), sde.std(t))

    def before_step(i, S0_hat):
        if i % cfg.k == 0:
            _refit(nmf, Xr, S0_hat, cfg, per_recording)

    S = _start(prior, Xr, cfg, generator)  # (U*B, F, T)
    v = None if video is None else torch.as_tensor(video).repeat_interleave(B, 0)
    S, _ = reverse_pass(prior, S, cfg=cfg, video=v, likelihood=likelihood, before_step=before_step,
                        generator=generator)
    if cfg.output == "mean":
        return per_recording(S)
    Ps = per_recording(S.abs().pow(2))  # (U, F, T)
    return X * _wiener_gain(Ps, _output_noise(_final_noise_power(nmf, Xr, S, cfg, per_recording), X, cfg), cfg)


def _estimate(X: torch.Tensor, S: torch.Tensor, nmf: NMF, cfg: SamplerConfig) -> torch.Tensor:
    """The final estimate from the chains ``S`` (B, F, T): their mean, or a Wiener filter of the
    mixture whose speech power is the chains' ``mean |S|^2`` and whose noise power is the chains'
    residual as ``cfg.output_noise_prior`` reads it (:func:`denoised_noise_power`), or with
    ``output_noise_prior=None`` the NMF variance refitted on that residual (the posterior-mean
    estimate of the VAE-NMF methods; it keeps the mixture's phase and cannot add what the mixture
    lacks); :func:`_output_noise`'s stationary floor under either.

    Notebook: 09_udiffse_plus.ipynb
    """
    if cfg.output == "mean":
        return S.mean(0)
    Ps = S.abs().pow(2).mean(0)  # (F, T)
    return X * _wiener_gain(Ps, _output_noise(_final_noise_power(nmf, X, S, cfg), X, cfg), cfg)


def _final_noise_power(nmf: NMF, X: torch.Tensor, S: torch.Tensor, cfg: SamplerConfig, reduce=None) -> torch.Tensor:
    """The output gain's noise power before the floor: the NMF refitted on the chains' residual (kept in
    ``nmf``, which ``return_info`` hands out), or that residual as ``cfg.output_noise_prior`` reads it."""
    _refit(nmf, X, S, cfg, reduce)
    if cfg.output_noise_prior is None:
        return nmf.V
    return denoised_noise_power(_output_noise_prior(cfg.output_noise_prior, X.device), X, S, cfg.output_noise_t,
                                nmf.W.shape[-1], reduce)


def _check_output_noise_prior(spec) -> None:
    """Refuse a bad ``SamplerConfig.output_noise_prior`` when the config is made, not after the chains."""
    if spec is None or (hasattr(spec, "score") and hasattr(spec, "sde")):
        if getattr(spec, "conditional", False):
            raise ValueError("output_noise_prior is audio-visual; a noise prior is unconditional "
                             "(load_pretrained('tiny-noise'))")
        return
    if isinstance(spec, (str, PathLike)):
        from .priors import PRETRAINED

        if str(spec) in PRETRAINED or Path(spec).is_file():
            return
        raise ValueError(f"output_noise_prior {str(spec)!r} is neither a shipped prior ({sorted(PRETRAINED)}) nor a "
                         "checkpoint file; pass 'tiny-noise', a prior.pt path, a loaded prior, or None (NMF output)")
    raise ValueError(f"output_noise_prior must be a prior name, a checkpoint path, a prior or None, got {type(spec)}")


_OUTPUT_NOISE_PRIORS: dict = {}  # (name, device) -> loaded noise prior, so that each process loads it once


def _output_noise_prior(spec, device):
    """The noise prior that ``spec`` (``SamplerConfig.output_noise_prior``) names, loaded once per device."""
    if hasattr(spec, "score"):
        return spec
    key = (str(spec), str(device))
    if key not in _OUTPUT_NOISE_PRIORS:
        from .priors import PRETRAINED, ScorePrior, load_pretrained

        net = load_pretrained(str(spec)) if str(spec) in PRETRAINED else ScorePrior.from_checkpoint(spec)
        if getattr(net, "conditional", False):
            raise ValueError(f"output_noise_prior {str(spec)!r} is audio-visual; a noise prior is unconditional")
        _OUTPUT_NOISE_PRIORS[key] = net.to(device).eval()
    return _OUTPUT_NOISE_PRIORS[key]


@torch.no_grad()
def denoised_residual(noise_prior, X: torch.Tensor, S: torch.Tensor, t: float = 0.1) -> torch.Tensor:
    """The noise prior's Tweedie estimate ``N0_b`` of each chain's residual ``X - S_b`` read as its
    diffused state ``mu_t (X - S_b)`` at time ``t`` (:func:`denoised_noise_power`); (B, F, T) complex.

    Notebook: 09_udiffse_plus.ipynb
    """
    tt = torch.full((S.shape[0],), float(t), device=S.device)
    xt = noise_prior.sde.mean_factor(torch.tensor(float(t))) * (X - S)
    return tweedie(noise_prior, xt, noise_prior.score(xt, tt), float(t))


@torch.no_grad()
def denoised_noise_power(noise_prior, X: torch.Tensor, S: torch.Tensor, t: float = 0.1, rank: int = 4,
                         reduce=None, iters: int | None = None) -> torch.Tensor:
    """The noise power of UDiffSE+'s output filter, read from the chains' residual by a noise prior.

    The residual ``R_b = X - S_b`` of each chain is the noise *plus* the chain's speech error, and an
    NMF fitted to ``|R|^2`` keeps both: where the noise is weak (brown noise above 1 kHz) it over-
    estimates it by 2-5 dB and the filter cuts the voice (docs/sweep_sampler.md, session 23). Taking
    ``R`` as a state of the noise prior's diffusion at time ``t`` (``mu_t R``), Tweedie's estimate

        N0_b = (mu_t R_b + sigma_t^2 score_N(mu_t R_b, t)) / mu_t

    keeps what the noise prior explains as noise and shrinks the rest; its chain-mean power,
    smoothed by a rank-``rank`` NMF (``iters`` updates from a fixed start: :data:`NOISE_POWER_NMF_ITERS`),
    is the output's noise power. For a Gaussian noise prior ``CN(0, v)`` the estimate is the Wiener
    shrinkage ``N0 = mu_t^2 v R / (mu_t^2 v + sigma_t^2)`` (tested).

    Args:
        X: (F, T) or (U * B, F, T) mixture; S: (B, F, T) or (U * B, F, T) chains.
        reduce: averages over each recording's chains (default: dim 0, one recording).

    Returns:
        (F, T) or (U, F, T) noise power.

    Notebook: 09_udiffse_plus.ipynb
    """
    reduce = reduce or (lambda P: P.mean(0))
    return _nmf_smooth(reduce(denoised_residual(noise_prior, X, S, t).abs().pow(2)).float(), rank, iters)


def _nmf_smooth(P: torch.Tensor, rank: int, iters: int | None = None) -> torch.Tensor:
    """A power (F, T), or (U, F, T) one per recording, smoothed by a rank-``rank`` NMF fitted from a fixed
    start (``iters`` updates, default :data:`NOISE_POWER_NMF_ITERS`)."""
    batch = {} if P.dim() == 2 else {"batch": P.shape[0]}
    nmf = NMF(P.shape[-2], P.shape[-1], rank, generator=torch.Generator().manual_seed(0), device=P.device, **batch)
    for _ in range(NOISE_POWER_NMF_ITERS if iters is None else iters):
        nmf.update(P)
    return nmf.V


def _smoothed_power_quantiles(X: torch.Tensor, quantiles) -> list[torch.Tensor]:
    """Quantiles over time of each bin's 3-frame mean of ``|X|^2`` (torch.quantile's linear interpolation, by
    one sort, at any size; torch.quantile refuses more than 2^24 elements): one (..., F, 1) tensor per quantile."""
    P = X.abs().pow(2)
    lead = P.shape[:-1]
    P = torch.nn.functional.avg_pool1d(P.reshape(-1, 1, P.shape[-1]), 3, 1, 1, count_include_pad=False)
    P = P.reshape(*lead, -1).sort(dim=-1).values
    out = []
    for q in quantiles:
        pos = q * (P.shape[-1] - 1)
        lo, frac = int(pos), pos - int(pos)
        hi = min(lo + 1, P.shape[-1] - 1)
        out.append(P[..., lo:lo + 1] * (1 - frac) + P[..., hi:hi + 1] * frac)
    return out


def stationary_noise_floor(X: torch.Tensor, quantile: float = 0.1) -> torch.Tensor:
    """A stationary estimate of the noise power from the mixture alone: in each frequency bin, the
    ``quantile`` over time of ``|X|^2`` averaged over 3 frames.

    Speech leaves gaps in every bin, so a low quantile of the mixture's power reads the noise that
    is always there (hum, ventilation, the floor of traffic) and not the speech. For a stationary
    Gaussian noise of power ``v`` (the 3-frame mean of ``|X|^2`` is then Gamma(3, v/3)) the 0.1
    quantile is ``0.367 v``; a non-stationary noise's floor sits lower still.

    Args:
        X: (..., F, T) complex mixture.

    Returns:
        (..., F, 1) power, to broadcast over the frames.

    Notebook: 09_udiffse_plus.ipynb
    """
    return _smoothed_power_quantiles(X, [quantile])[0]


def noise_stationarity(X: torch.Tensor) -> torch.Tensor:
    """How steady the mixture's quiet part is: the median over frequency bins of the ratio of the 0.05 to
    the 0.25 quantile over time of each bin's 3-frame mean ``|X|^2``.

    The low quantiles of a bin are read in the gaps of the speech, so the ratio describes the noise more
    than the voice. A stationary Gaussian noise gives the Gamma(3) quantiles' ratio, 0.47 (0.64-0.69 for its
    magnitude, which is what the compressed spectrogram's ``|X|^2`` holds); a noise whose level comes and
    goes, such as babble, gives less. On 72 validation mixtures (-5 to +5 dB, 2.5 s) babble read 0.35-0.42
    and the corpus' seven other noise types 0.47-0.65, brown at +5 dB the lowest (docs/sweep_sampler.md,
    session 22).

    Args:
        X: (..., F, T) complex spectrogram.

    Returns:
        (..., 1, 1) ratio in [0, 1], one per recording.

    Notebook: 09_udiffse_plus.ipynb
    """
    return _stationarity(*_smoothed_power_quantiles(X, [0.05, 0.25]))


def _stationarity(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """:func:`noise_stationarity` from the two (..., F, 1) quantiles."""
    return (lo / hi.clamp_min(torch.finfo(hi.dtype).tiny)).median(dim=-2, keepdim=True).values


def _gated(cfg: "SamplerConfig", stationarity: torch.Tensor | None) -> torch.Tensor | float:
    """``cfg.noise_floor`` times the gate's ramp at ``stationarity`` (no gate: the scale alone)."""
    if cfg.noise_floor_gate is None:
        return cfg.noise_floor
    lo, hi = cfg.noise_floor_gate
    return cfg.noise_floor * ((stationarity - lo) / (hi - lo)).clamp(0, 1)


def noise_floor_scale(X: torch.Tensor, cfg: "SamplerConfig") -> torch.Tensor | float:
    """The scale of the stationary floor in the output gain: ``cfg.noise_floor``, times a ramp from 0 to 1
    as :func:`noise_stationarity` goes from ``cfg.noise_floor_gate[0]`` to ``[1]`` (no gate: the scale
    alone). (..., 1, 1) per recording, or a float when there is no gate.

    Notebook: 09_udiffse_plus.ipynb
    """
    return _gated(cfg, None if cfg.noise_floor_gate is None else noise_stationarity(X))


def _output_noise(V: torch.Tensor, X: torch.Tensor, cfg: SamplerConfig) -> torch.Tensor:
    """The output gain's noise power: the NMF's ``V``, never below :func:`noise_floor_scale` times the
    mixture's stationary noise floor (:func:`stationary_noise_floor`; ``cfg.noise_floor = 0``: ``V``
    unchanged). The floor and the gate's quantiles come from one sort."""
    if cfg.noise_floor == 0:
        return V
    floor, lo, hi = _smoothed_power_quantiles(X, [cfg.noise_floor_quantile, 0.05, 0.25])
    scale = _gated(cfg, None if cfg.noise_floor_gate is None else _stationarity(lo, hi))
    return torch.maximum(V, scale * floor)


def _refit(nmf: NMF, X: torch.Tensor, S: torch.Tensor, cfg: SamplerConfig, reduce=None) -> None:
    """Refresh the noise model from the mixture ``X`` and the chains' clean estimates ``S`` (B, F, T):
    ``cfg.nmf_iters`` warm-started updates on the power ``cfg.nmf_target`` names, computed once with the
    current variance ``V``; ``reduce`` averages over each recording's chains (default: dim 0)."""
    reduce = reduce or (lambda P: P.mean(0))
    if cfg.nmf_target == "residual":
        P = reduce((X - S).abs().pow(2))
    else:
        V = nmf.V
        Ps = reduce(S.abs().pow(2))
        post = Ps * V / (Ps + V).clamp_min(1e-12)  # the speech's posterior variance in a Gaussian model
        if cfg.nmf_target == "residual+var":
            P = reduce((X - S).abs().pow(2)) + post
        else:  # "wiener": E|N|^2 from the powers alone
            P = (V / (Ps + V).clamp_min(1e-12)) ** 2 * reduce(X.abs().pow(2).expand_as(S)) + post
    for _ in range(cfg.nmf_iters):
        nmf.update(P)


def _wiener_gain(Ps: torch.Tensor, Pn: torch.Tensor, cfg: SamplerConfig) -> torch.Tensor:
    """``Ps / (Ps + Pn)`` on (..., F, T) powers, averaged over ``cfg.gain_smooth`` frames centred on
    each frame (fewer at the edges: a gain that is constant in time is unchanged), then never below
    ``cfg.gain_floor`` (a floor keeps a little of the mixture where the filter would cut it; measured
    no better PESQ-WB on the tiny priors, docs/sweep_sampler.md). The smoothing tames frame-to-frame
    jumps of the gain (musical noise) that two chains leave."""
    return smooth_frames(Ps / (Ps + Pn).clamp_min(1e-12), cfg.gain_smooth).clamp_min(cfg.gain_floor)


def smooth_frames(G: torch.Tensor, n: int) -> torch.Tensor:
    """(..., T) averaged over the ``n`` (odd) frames centred on each frame, fewer at the edges
    (``n = 1``: unchanged)."""
    if n == 1:
        return G
    flat = G.reshape(-1, 1, G.shape[-1])
    return torch.nn.functional.avg_pool1d(flat, n, 1, n // 2, count_include_pad=False).reshape(G.shape)


def _cpu_gen(generator: torch.Generator | None) -> torch.Generator | None:
    """NMF initialises on the CPU; derive a CPU generator from a possibly-CUDA one."""
    if generator is None or generator.device.type == "cpu":
        return generator
    return torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator,
                                                           device=generator.device)))


# ------------------------------------------------------------------ waveform level
METHODS = {"udiffse": udiffse, "udiffse+": udiffse_plus}


SR_RANGE = (4000, 384000)  # sample rates enhance accepts (telephone speech to studio rates)


def check_sample_rate(sr) -> int:
    """A sample rate as a positive ``int`` in :data:`SR_RANGE`, or a ValueError that says why.

    Notebook: 01_stft_domain.ipynb
    """
    if isinstance(sr, (bool, np.bool_)) or not isinstance(sr, (int, np.integer, float, np.floating)):
        raise ValueError(f"sr must be the sample rate in Hz as an integer (e.g. 16000), got {sr!r} "
                         f"({type(sr).__name__})")
    if isinstance(sr, (float, np.floating)) and not (math.isfinite(sr) and float(sr).is_integer()):
        raise ValueError(f"sr must be a whole number of Hz, got {sr!r}")
    sr = int(sr)
    if not SR_RANGE[0] <= sr <= SR_RANGE[1]:
        raise ValueError(f"sr={sr} Hz is outside {SR_RANGE[0]}..{SR_RANGE[1]} Hz; pass the recording's "
                         "real sample rate (load_audio returns it)")
    return sr


def check_waveform(y, name: str = "audio", min_samples: int = spectral.N_FFT) -> np.ndarray:
    """Validate a mono waveform: 1-D, real, finite, at least one STFT frame long.

    Integer PCM (int16, int32, uint8) is scaled to [-1, 1) as soundfile would read it;
    bool and complex arrays are refused.

    Notebook: 01_stft_domain.ipynb
    """
    y = np.asarray(y.detach().cpu() if torch.is_tensor(y) else y)
    if y.dtype == np.bool_ or np.iscomplexobj(y) or not (np.issubdtype(y.dtype, np.number)):
        raise ValueError(f"{name} must be a real float (or integer PCM) waveform, got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.integer):
        info = np.iinfo(y.dtype)
        if info.min == 0:  # unsigned PCM (8-bit wav) is centred on the mid value
            y = (y.astype(np.float64) - (info.max + 1) / 2) / ((info.max + 1) / 2)
        else:
            y = y.astype(np.float64) / (info.max + 1)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise ValueError(f"{name} must be mono (1-D), got shape {y.shape}; mix the channels down first, "
                         "e.g. y.mean(axis=1), or load it with udiffse_lite.load_audio (which does)")
    if y.size < min_samples:
        raise ValueError(f"{name} has {y.size} samples, shorter than one STFT frame ({min_samples} "
                         "samples at its rate, 32 ms); pass a longer recording")
    if not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or Inf values; clean or re-decode the file")
    return y.astype(np.float32)


def _resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from scipy.signal import resample_poly
    g = math.gcd(int(sr_in), int(sr_out))
    return resample_poly(y, sr_out // g, sr_in // g).astype(np.float32)


def _check_video(video, n_samples: int):
    if video is None:
        return None
    v = torch.as_tensor(np.asarray(video) if not torch.is_tensor(video) else video)
    if v.dim() not in (2, 3):
        raise ValueError(f"video must be features (T_v, p) or lip frames (T_v, H, W), got {tuple(v.shape)}")
    if v.is_complex() or v.dtype == torch.bool:
        raise ValueError(f"video must be real numbers (features or 0..255 / 0..1 lip frames), got {v.dtype}")
    if v.numel() == 0:
        raise ValueError("video is empty; pass the lips or features of this recording, or video=None")
    if not torch.isfinite(v.float()).all():
        raise ValueError("video contains NaN or Inf; re-extract the lip frames or features "
                         "(or pass video=None for audio-only enhancement)")
    expected = spectral.expected_video_frames(n_samples)
    if abs(v.shape[0] - expected) > 0.1 * expected + 1:
        raise ValueError(f"video has {v.shape[0]} frames but the audio ({n_samples / spectral.SR:.2f} s) "
                         f"needs about {expected} at {spectral.VIDEO_FPS} fps: more than 10 % apart. "
                         "Check that video and audio belong together and the video is 25 fps")
    return v.float()


def _video_features(prior, video, n_audio: int, n_samples: int, device=None):
    """The prior's video features for ``n_audio`` samples of audio: the video (checked frames or
    features) padded with its last frame or trimmed to the audio's length, then encoded."""
    if video is None or not hasattr(prior, "features"):
        return video
    need = spectral.expected_video_frames(n_audio)
    if video.shape[0] < need:  # a few frames more or fewer than the audio: pad/trim to match
        video = torch.cat([video, video[-1:].expand(need - video.shape[0], *video.shape[1:])])
    return prior.features(video[:need].to(device) if device is not None else video[:need], n_samples)


def _enhance_chunk(prior, y: np.ndarray, video, method, cfg, em_iters, nmf_rank, generator, callback):
    dev = next(iter(prior.parameters())).device if hasattr(prior, "parameters") else torch.device("cpu")
    Xc = spectral.to_spec(torch.from_numpy(y).to(dev))  # (F, T) complex
    X, NF = spectral.normalise(Xc)
    v = _video_features(prior, video, len(y), cfg.n_samples, dev)
    if callable(method):  # a diffusion noise prior (enhance(noise_model="diffusion"))
        with torch.no_grad():
            S = method(prior, X, cfg=cfg, video=v, generator=generator, nf=float(NF.reshape(-1)[0]))
    else:
        kwargs = dict(cfg=cfg, video=v, nmf_rank=nmf_rank, generator=generator, callback=callback)
        if method == "udiffse":
            kwargs["em_iters"] = em_iters
        with torch.no_grad():
            S = METHODS[method](prior, X, **kwargs)
    out = spectral.to_wave(S * NF[0], len(y)).cpu().numpy()
    if not np.isfinite(out).all():
        raise FloatingPointError("the sampler produced NaN/Inf (non-finite prior weights or settings); "
                                 "nothing was written. Check the checkpoint and lam/guidance")
    return out


# Named settings of enhance(preset=...): sampler fields, plus n_steps / n_samples / precision.
PRESETS: dict[str, dict] = {
    "default": {},
    # every choice of the reference code (SamplerConfig.reference), at the caller's steps and chains
    "reference": {k: v for k, v in vars(SamplerConfig.reference()).items() if k not in ("n_steps", "n_samples")},
    # real time on a 2-core CPU with the tiny priors (docs/speed.md): 16 steps, one chain, bf16 where it is
    # faster (not on a channels-last CPU), no guidance. On the 24 validation mixtures (quiet, 2 threads, session 8):
    # +4.71 dB, 85 % of the default's +5.53, RTF 0.67 (docs/speed.md); 10 steps keep 66 % (+3.66 dB)
    "fast": {"n_steps": 16, "n_samples": 1, "precision": "auto", "guidance": 1.0},
    # more steps or chains measured no better on the tiny priors (50 x 2: +6.73 dB, 30 x 4: +6.67, default +6.80):
    # "best" is the default until a stronger prior makes them pay (docs/speed.md)
    "best": {},
}


def enhance(y, sr: int, *, prior, method: str = "udiffse+", video=None, n_steps: int | None = None,
            n_samples: int | None = None, em_iters: int = 5, nmf_rank: int = 4, lam: float | None = None,
            schedule: str | None = None, seed: int | None = 0, chunk_seconds: float = 20.0,
            overlap_seconds: float = 1.0, callback=None, progress: bool = False,
            guidance: float | None = None, precision: str | None = None, preset: str = "default",
            noise_model: str = "nmf", noise_prior=None, zeta: float | None = None, coupling: str = "score",
            **sampler_options) -> np.ndarray:
    """Enhance a noisy waveform with UDiffSE or UDiffSE+ (NMF noise), or with two diffusion priors.

    Args:
        y: (L,) float waveform (numpy or torch), any sample rate ``sr`` (resampled to 16 kHz
            and back).
        prior: a prior (``load_pretrained("tiny-av")`` or ``ScorePrior.from_checkpoint``).
        method: ``"udiffse+"`` (one pass, 60 network evaluations) or ``"udiffse"`` (EM).
        video: lip frames (T_v, 88, 88) or features (T_v, p) at 25 fps, or None.
        n_steps, n_samples, em_iters, nmf_rank, lam, schedule: see :class:`SamplerConfig`.
        seed: seed of the sampler's random generator (same seed, same output).
        chunk_seconds: longer inputs are enhanced in overlapping chunks with linear cross-fades.
        sampler_options: further :class:`SamplerConfig` fields (``reference_dt`` ...).
        guidance: classifier-free guidance weight for AV priors with video (None: the preset's, 4 for
            ``"default"`` and ``"best"``, 1 for ``"fast"``; 1: the plain conditional score). From 30
            steps on it acts only at t <= 0.5 (``guidance_interval=(lo, hi)`` in ``sampler_options``
            chooses; :func:`guided_times`).
        precision: ``"fp32"``, ``"bf16"`` or ``"auto"`` for the network (None keeps the prior's).
        preset: named settings (:data:`PRESETS`): ``"default"`` (30 steps, 2 chains),
            ``"reference"`` (the reference code's choices), ``"fast"`` (16 steps, 1 chain: real time
            on a 2-core CPU), ``"best"`` (for now the default); arguments given explicitly win.
        noise_model: ``"nmf"`` (the papers' UDiffSE/UDiffSE+) or ``"diffusion"``: a second
            diffusion prior over noise, both sources sampled together with the DPS likelihood
            (DAVSS-NM; see ``coupling``); the output is the speech's Wiener mask applied to the
            mixture. ``method`` and the NMF settings do not apply then.
        noise_prior: the noise prior for ``noise_model="diffusion"``: a prior or a shipped name
            (default: the shipped ``"tiny-noise"``, six noise types; ``make noise-prior`` trains one).
        coupling: how the two priors meet, for ``noise_model="diffusion"``: ``"score"`` (default:
            UDiffSE+ with the noise network's score in the pseudo-likelihood,
            :func:`udiffse_plus_two_priors`; one state, no backward pass; ``lam`` defaults to
            :data:`TWO_PRIOR_LAM` = 1.3 there, measured on the validation mixtures, since a learned
            noise prior claims part of the speech at 1) or ``"dps"`` (the paper's:
            both states sampled, coupled by the DPS gradient; measured worse here, see
            ``docs/separation.md``).
        zeta: the DPS weight (default :class:`~udiffse_lite.separation.DPSConfig`'s); ``coupling="dps"`` only.

    Returns:
        (L,) float32 numpy array at ``sr``, the same length as ``y``.

    Raises:
        ValueError: any bad input, before any work (rate, dtype, shape, video, chunking, settings).

    Notebook: 09_udiffse_plus.ipynb
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    if not (hasattr(prior, "sde") and hasattr(prior, "score")):
        raise ValueError(f"prior must have .sde and .score (e.g. load_pretrained('tiny-ao')), got {type(prior)}")
    sr_in = check_sample_rate(sr)
    y = check_waveform(y, "noisy audio", min_samples=math.ceil(spectral.N_FFT * sr_in / spectral.SR))
    L_in = len(y)
    for name, val in (("chunk_seconds", chunk_seconds), ("overlap_seconds", overlap_seconds)):
        if isinstance(val, bool) or not isinstance(val, (int, float, np.integer, np.floating)) \
                or not math.isfinite(val):
            raise ValueError(f"{name} must be a finite number of seconds, got {val!r}")
    if chunk_seconds < 1.0:
        raise ValueError(f"chunk_seconds must be >= 1 s (the prior needs context), got {chunk_seconds}")
    if not 0 < overlap_seconds < chunk_seconds:
        raise ValueError(f"overlap_seconds must lie in (0, chunk_seconds={chunk_seconds}) so that chunks "
                         f"cross-fade, got {overlap_seconds}")
    if not isinstance(em_iters, (int, np.integer)) or em_iters < 1:
        raise ValueError(f"em_iters must be a positive integer, got {em_iters!r}")
    if not isinstance(nmf_rank, (int, np.integer)) or nmf_rank < 1:
        raise ValueError(f"nmf_rank must be a positive integer, got {nmf_rank!r}")
    cfg, precision = _settings(preset, n_steps, n_samples, precision,
                               dict(lam=lam, schedule=schedule, guidance=guidance, **sampler_options))
    if noise_model not in ("nmf", "diffusion"):
        raise ValueError(f"noise_model must be 'nmf' or 'diffusion', got {noise_model!r}")
    if coupling not in ("score", "dps"):
        raise ValueError(f"coupling must be 'score' or 'dps', got {coupling!r}")
    if noise_model == "diffusion":
        if coupling == "score" and zeta is not None:
            raise ValueError("zeta is the weight of the DPS coupling: pass coupling='dps' with it, or drop it")
        if coupling == "dps" and lam is not None:
            raise ValueError("lam weights the score coupling's noise likelihood; DPS is weighted by zeta: "
                             "drop lam or use coupling='score'")
        if coupling == "score" and cfg.schedule != "posterior-score":
            raise ValueError(f"a diffusion noise prior enters through the posterior score; schedule={cfg.schedule!r} "
                             "(preset 'reference'?) needs the NMF noise model, or use coupling='dps'")
        method = _two_prior_method(prior, noise_prior, zeta, coupling)
    elif noise_prior is not None or zeta is not None:
        raise ValueError("noise_prior and zeta apply to noise_model='diffusion'; drop them or set it")
    if video is not None and getattr(prior, "conditional", None) is False:
        raise ValueError("video was given but this prior is audio-only; load an audio-visual prior "
                         "(load_pretrained('tiny-av')) or pass video=None")
    if sr_in != spectral.SR:
        warnings.warn(f"resampling the input from {sr_in} Hz to {spectral.SR} Hz (the priors' rate); "
                      "the output is resampled back", stacklevel=2)
        y = _resample(y, sr_in, spectral.SR)
    v = _check_video(video, len(y))
    old_precision = getattr(prior, "precision", None)
    if precision is not None:
        if not hasattr(prior, "set_precision"):
            raise ValueError(f"precision={precision!r} needs a network prior (ScorePrior)")
        prior.set_precision(precision)  # for this call only: restored below
    noise_net = getattr(method, "noise_prior", None)  # noise_model="diffusion": the same precision
    old_noise_precision = getattr(noise_net, "precision", None)
    if precision is not None and hasattr(noise_net, "set_precision"):
        noise_net.set_precision(precision)
    try:
        return _enhance_impl(prior, y, v, method, cfg, em_iters, nmf_rank, seed, chunk_seconds,
                             overlap_seconds, callback, progress, L_in, sr_in)
    finally:
        if precision is not None:
            prior.precision = old_precision
            if hasattr(noise_net, "set_precision"):
                noise_net.precision = old_noise_precision


def _two_prior_method(prior, noise_prior, zeta, coupling="dps"):
    """The sampler of ``enhance(noise_model="diffusion")``: speech and noise priors coupled through
    the posterior score (``"score"``) or by DPS (``"dps"``)."""
    from .separation import DPSConfig, dps_sample, wiener_masks

    if noise_prior is None or isinstance(noise_prior, str):
        from .priors import load_pretrained

        noise_prior = load_pretrained(noise_prior or "tiny-noise")
    if not (hasattr(noise_prior, "sde") and hasattr(noise_prior, "score")):
        raise ValueError(f"noise_prior must be a prior (load_pretrained('tiny-noise')), got {type(noise_prior)}")
    if getattr(noise_prior, "conditional", False):
        raise ValueError("noise_prior is audio-visual; a noise prior is unconditional")
    if noise_prior.sde != prior.sde:
        raise ValueError("the noise prior and the speech prior must share the SDE")
    extra = {} if zeta is None else {"zeta": zeta}
    DPSConfig(**extra)  # refuse a bad zeta before any work

    def run(prior, X, *, cfg, video, generator, nf):
        if coupling == "score":
            if cfg.lam is None:  # the learned noise prior's calibrated weight (TWO_PRIOR_LAM), not the exact 1
                cfg = replace(cfg, lam=TWO_PRIOR_LAM)
            return udiffse_plus_two_priors(prior, X, noise_prior, cfg=cfg, video=video, generator=generator)
        dcfg = DPSConfig(n_steps=cfg.n_steps, n_samples=cfg.n_samples, guidance=cfg.guidance,
                         guidance_interval=cfg.guidance_interval, **extra)
        states = dps_sample([prior, noise_prior], X, videos=[video, None], cfg=dcfg, nf=nf, generator=generator)
        return wiener_masks(states)[0] * X

    run.noise_prior = noise_prior
    return run


def _settings(preset: str, n_steps, n_samples, precision, options: dict) -> tuple[SamplerConfig, str | None]:
    """The sampler settings of a preset, with the arguments given explicitly winning."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    pre = dict(PRESETS[preset])
    n_steps = n_steps if n_steps is not None else pre.get("n_steps", 30)
    n_samples = n_samples if n_samples is not None else pre.get("n_samples", 4)
    precision = precision if precision is not None else pre.get("precision")
    fields = {k: v for k, v in pre.items() if k not in ("n_steps", "n_samples", "precision")}
    given = {k: v for k, v in options.items() if v is not None}
    return SamplerConfig(n_steps=n_steps, n_samples=n_samples, **{**fields, **given}), precision


def _enhance_impl(prior, y, v, method, cfg, em_iters, nmf_rank, seed, chunk_seconds, overlap_seconds,
                  callback, progress, L_in, sr_in):
    dev = next(iter(prior.parameters())).device if hasattr(prior, "parameters") else torch.device("cpu")
    generator = None
    if seed is not None:
        generator = torch.Generator(device=dev).manual_seed(seed)
    chunk = int(chunk_seconds * spectral.SR)
    hop_len = chunk - int(overlap_seconds * spectral.SR)
    if len(y) <= chunk:
        out = _enhance_chunk(prior, y, v, method, cfg, em_iters, nmf_rank, generator, callback)
    else:
        out = _enhance_long(prior, y, v, method, cfg, em_iters, nmf_rank, generator, callback,
                            chunk, hop_len, progress)
    if sr_in != spectral.SR:
        out = _resample(out, spectral.SR, sr_in)
        out = np.pad(out, (0, max(0, L_in - len(out))))[:L_in]
    return out.astype(np.float32)


def _enhance_long(prior, y, v, method, cfg, em_iters, nmf_rank, generator, callback, chunk, hop_len,
                  progress):
    """Overlapping chunks, linearly cross-faded; each chunk gets its own NMF and normalisation."""
    from tqdm.auto import tqdm

    L = len(y)
    starts = list(range(0, max(L - chunk, 0) + 1, hop_len))
    if starts[-1] + chunk < L:
        starts.append(L - chunk)
    out = np.zeros(L, np.float32)
    weight = np.zeros(L, np.float32)
    overlap = chunk - hop_len
    for a in tqdm(starts, desc="enhancing chunks", disable=not progress):
        b = min(a + chunk, L)
        seg_v = None
        if v is not None:
            va = int(a / spectral.SR * spectral.VIDEO_FPS)
            vb = max(va + 1, int(math.ceil(b / spectral.SR * spectral.VIDEO_FPS)))
            seg_v = v[va:vb]
        seg = _enhance_chunk(prior, y[a:b], seg_v, method, cfg, em_iters, nmf_rank, generator, callback)
        w = np.ones(b - a, np.float32)
        ramp = np.linspace(0, 1, overlap + 2, dtype=np.float32)[1:-1]
        if a > 0:
            w[:overlap] = ramp
        if b < L:
            w[-overlap:] = ramp[::-1]
        out[a:b] += w * seg
        weight[a:b] += w
    return out / np.maximum(weight, 1e-8)


def enhance_batch(ys, sr, *, prior, videos=None, batch_size: int = 8, n_steps: int | None = None,
                  n_samples: int | None = None, seed: int | None = 0, guidance: float | None = None,
                  precision: str | None = None, preset: str = "default", chunk_seconds: float = 20.0,
                  progress: bool = False, **sampler_options) -> list[np.ndarray]:
    """Enhance many recordings with UDiffSE+, several at once.

    Recordings are sorted by length and taken ``batch_size`` at a time; each group is padded
    (by repeating each recording) to its longest member and sampled together by :func:`udiffse_plus_batch`
    (``batch_size * n_samples`` chains per network evaluation, one NMF per recording), then
    cropped back. Recordings longer than ``chunk_seconds`` go through :func:`enhance` one by one.
    On a CPU the gain comes from fewer, larger network calls; on a GPU it is larger.

    Args:
        ys: list of (L_i,) float waveforms.
        sr: their sample rate (one int for all, or one per recording).
        videos: None, or one lip-frame / feature array per recording (an AV prior).
        batch_size: recordings per group.
        other arguments: as :func:`enhance`.

    Returns:
        List of (L_i,) float32 arrays, in the order of ``ys``.

    Raises:
        ValueError: any bad input, before any work.

    Notebook: 09_udiffse_plus.ipynb
    """
    from tqdm.auto import tqdm

    if not isinstance(ys, (list, tuple)) or not ys:
        raise ValueError("ys must be a non-empty list of waveforms")
    if not (hasattr(prior, "sde") and hasattr(prior, "score")):
        raise ValueError(f"prior must have .sde and .score (e.g. load_pretrained('tiny-ao')), got {type(prior)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    rates = list(sr) if isinstance(sr, (list, tuple)) else [sr] * len(ys)
    if len(rates) != len(ys):
        raise ValueError(f"got {len(rates)} sample rates for {len(ys)} recordings")
    rates = [check_sample_rate(r) for r in rates]
    ys = [check_waveform(y, f"recording {i}", min_samples=math.ceil(spectral.N_FFT * r / spectral.SR))
          for i, (y, r) in enumerate(zip(ys, rates))]
    if videos is not None:
        if not isinstance(videos, (list, tuple)) or len(videos) != len(ys):
            raise ValueError(f"videos must be a list with one entry per recording ({len(ys)}), got "
                             f"{type(videos).__name__} of length {len(videos) if hasattr(videos, '__len__') else '?'}")
        if getattr(prior, "conditional", None) is False:
            raise ValueError("videos were given but this prior is audio-only; load an audio-visual prior")
        if any(v is None for v in videos):
            raise ValueError("give a video for every recording or for none (videos=None)")
    cfg, precision = _settings(preset, n_steps, n_samples, precision,
                               dict(guidance=guidance, **sampler_options))
    ys16 = [y if r == spectral.SR else _resample(y, r, spectral.SR) for y, r in zip(ys, rates)]
    vs = [None] * len(ys) if videos is None else [_check_video(v, len(y)) for v, y in zip(videos, ys16)]
    chunk = int(chunk_seconds * spectral.SR)
    outs: list = [None] * len(ys)
    long = [i for i, y in enumerate(ys16) if len(y) > chunk]
    short = sorted((i for i, y in enumerate(ys16) if len(y) <= chunk), key=lambda i: len(ys16[i]))
    groups = [short[a:a + batch_size] for a in range(0, len(short), batch_size)]
    old_precision = getattr(prior, "precision", None)
    if precision is not None:
        if not hasattr(prior, "set_precision"):
            raise ValueError(f"precision={precision!r} needs a network prior (ScorePrior)")
        prior.set_precision(precision)
    try:
        dev = next(iter(prior.parameters())).device if hasattr(prior, "parameters") else torch.device("cpu")
        generator = torch.Generator(device=dev).manual_seed(seed) if seed is not None else None
        for group in tqdm(groups, desc="enhancing batches", disable=not progress):
            n = max(len(ys16[i]) for i in group)
            Xs, NFs = [], []
            for i in group:
                # padded by repeating the recording, not with silence: IS-NMF weighs every frame
                # equally, so silent frames would pull the noise model towards a flat floor
                y_pad = np.pad(ys16[i], (0, n - len(ys16[i])), mode="wrap")
                X, NF = spectral.normalise(spectral.to_spec(torch.from_numpy(y_pad).to(dev)))
                Xs.append(X)
                NFs.append(NF)
            v = None
            if videos is not None:
                v = torch.stack([_video_features(prior, vs[i], n, 1, dev)[0] for i in group])  # (U, T_v, p)
            with torch.no_grad():
                S = udiffse_plus_batch(prior, torch.stack(Xs), cfg=cfg, video=v, generator=generator)
            for j, i in enumerate(group):
                out = spectral.to_wave(S[j] * NFs[j][0], n).cpu().numpy()[:len(ys16[i])]
                if not np.isfinite(out).all():
                    raise FloatingPointError("the sampler produced NaN/Inf (non-finite prior weights or "
                                             "settings); check the checkpoint and guidance")
                outs[i] = out
        for i in long:
            outs[i] = enhance(ys16[i], spectral.SR, prior=prior, video=videos[i] if videos else None,
                              n_steps=cfg.n_steps, n_samples=cfg.n_samples, seed=seed, guidance=guidance,
                              chunk_seconds=chunk_seconds, **{k: v for k, v in vars(cfg).items()
                                                              if k not in ("n_steps", "n_samples", "guidance")})
    finally:
        if precision is not None:
            prior.precision = old_precision
    result = []
    for i, out in enumerate(outs):
        if rates[i] != spectral.SR:
            out = _resample(out, spectral.SR, rates[i])
            out = np.pad(out, (0, max(0, len(ys[i]) - len(out))))[:len(ys[i])]
        result.append(np.asarray(out, np.float32))
    return result
