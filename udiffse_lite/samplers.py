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

Where the reference code and the equations differ, the default is the
mathematically exact choice and a flag gives the reference behaviour:
``reference_dt`` (constant ``dt = 1/N``), ``corrector_step="reference"``
(``(r sigma)^2`` instead of ``2 (r sigma)^2``), ``tweedie_mu=False`` (drop the
``/mu_t`` in Tweedie's formula).

Notebook: 07_posterior_udiffse.ipynb, 08_udiffse_plus.ipynb
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from .nmf import NMF
from .sde import complex_randn
from . import spectral

SCHEDULES = ("posterior-score", "reference")


@dataclass
class SamplerConfig:
    """Settings shared by the samplers (defaults follow the reference implementations).

    Notebook: 08_udiffse_plus.ipynb
    """

    n_steps: int = 30  # reverse steps N
    n_samples: int = 4  # parallel chains b; the estimate is their mean
    schedule: str = "posterior-score"  # how the likelihood enters (see module docstring)
    lam: float | None = None  # likelihood weight; None: 1.0 for posterior-score, 1.5 for reference
    k: int = 2  # the likelihood step (reference) and the NMF update (UDiffSE+) run every k-th step
    snr: float = 0.5  # corrector signal-to-noise ratio r
    corrector: bool = True  # one annealed Langevin step per reverse step
    corrector_step: str = "paper"  # "paper": eps = 2 (r sigma)^2; "reference": (r sigma)^2
    reference_dt: bool = False  # True: constant dt = 1/N as in the reference code
    tweedie_mu: bool = True  # False: the reference code's Tweedie without /mu_t
    start: str = "mixture"  # "mixture": X + sigma_1 z (reference); "scaled": mu_1 X + sigma_1 z

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.n_steps < 2:
            raise ValueError(f"n_steps must be >= 2, got {self.n_steps}")
        if self.n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {self.n_samples}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.corrector_step not in ("paper", "reference"):
            raise ValueError(f"corrector_step must be 'paper' or 'reference', got {self.corrector_step!r}")
        if self.start not in ("mixture", "scaled"):
            raise ValueError(f"start must be 'mixture' or 'scaled', got {self.start!r}")

    @property
    def weight(self) -> float:
        if self.lam is not None:
            return self.lam
        return 1.0 if self.schedule == "posterior-score" else 1.5


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

    Notebook: 07_posterior_udiffse.ipynb
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
    S0_hat = torch.zeros_like(S)
    n = len(ts)
    for i in range(n):
        t, dt = ts[i], dts[i]
        if before_step is not None:
            before_step(i, S0_hat)
        sigma = sde.std(t)
        if cfg.corrector:
            sc = prior.score(S, t, video)
            if in_score:
                sc = sc + lam * likelihood(S, t)
            eps = c_eps * (cfg.snr * sigma) ** 2
            S = S + eps * sc + torch.sqrt(2 * eps) * complex_randn(S.shape, generator, S.device, S.dtype)
        prior_sc = prior.score(S, t, video)
        S0_hat = tweedie(prior, S, prior_sc, t, cfg.tweedie_mu)
        sc = prior_sc + lam * likelihood(S, t) if in_score else prior_sc
        S, _ = sde.reverse_step(S, sc, t, dt, generator, noise=i < n - 1)
        if likelihood is not None and cfg.schedule == "reference" and i % cfg.k == 0:
            S = S + lam * sde.g(t) ** 2 * dt * likelihood(S, t)
        if callback is not None:
            callback(StepInfo(i, float(t), S, S0_hat,
                              noise_variance() if noise_variance is not None else None, pass_index))
    return S, S0_hat


def _start(prior, X: torch.Tensor, cfg: SamplerConfig, generator) -> torch.Tensor:
    B = cfg.n_samples
    sigma1 = prior.sde.std(1.0).item()
    base = X if cfg.start == "mixture" else prior.sde.mean_factor(1.0).item() * X
    return base.expand(B, *X.shape[-2:]) + sigma1 * complex_randn((B, *X.shape[-2:]), generator,
                                                                   X.device, X.dtype)


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

    Notebook: 07_posterior_udiffse.ipynb
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

    Notebook: 07_posterior_udiffse.ipynb
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
            nmf.update((X - S).abs().pow(2).mean(0))
    est = S.mean(0)
    return (est, {"nmf": nmf, "samples": S}) if return_info else est


def udiffse_plus(prior, X: torch.Tensor, *, cfg: SamplerConfig | None = None, video=None,
                 nmf_rank: int = 4, generator: torch.Generator | None = None,
                 callback: Callable[[StepInfo], None] | None = None, return_info: bool = False):
    """UDiffSE+ (Ayilo et al. 2024): one posterior pass; every k-th step the NMF is
    updated on ``mean_b |X - S0_hat|^2`` with Tweedie's clean estimate ``S0_hat``.

    Costs ``n_steps * 2`` score evaluations (Tweedie reuses the predictor's score).

    Returns:
        (F, T) complex estimate (mean of the chains); with ``return_info`` also a dict.

    Notebook: 08_udiffse_plus.ipynb
    """
    cfg = cfg or SamplerConfig()
    _check_mixture(X)
    sde = prior.sde
    nmf = NMF(X.shape[0], X.shape[1], nmf_rank, generator=_cpu_gen(generator), device=X.device)

    def likelihood(S, t):
        return pseudo_likelihood_grad(S, X, nmf.V, sde.mean_factor(t), sde.std(t))

    def before_step(i, S0_hat):
        if i % cfg.k == 0:
            nmf.update((X - S0_hat).abs().pow(2).mean(0))

    S = _start(prior, X, cfg, generator)
    S, _ = reverse_pass(prior, S, cfg=cfg, video=video, likelihood=likelihood, before_step=before_step,
                        generator=generator, callback=callback, noise_variance=lambda: nmf.V)
    est = S.mean(0)
    return (est, {"nmf": nmf, "samples": S}) if return_info else est


def _cpu_gen(generator: torch.Generator | None) -> torch.Generator | None:
    """NMF initialises on the CPU; derive a CPU generator from a possibly-CUDA one."""
    if generator is None or generator.device.type == "cpu":
        return generator
    return torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator,
                                                           device=generator.device)))


# ------------------------------------------------------------------ waveform level
METHODS = {"udiffse": udiffse, "udiffse+": udiffse_plus}


def check_waveform(y, name: str = "audio") -> np.ndarray:
    """Validate a mono waveform: 1-D, finite, at least one STFT frame long.

    Notebook: 01_stft_domain.ipynb
    """
    y = np.asarray(y.detach().cpu() if torch.is_tensor(y) else y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise ValueError(f"{name} must be mono (1-D), got shape {y.shape}; mix the channels down first, "
                         "e.g. y.mean(axis=1), or load it with udiffse_lite.load_audio (which does)")
    if y.size < spectral.N_FFT:
        raise ValueError(f"{name} has {y.size} samples, shorter than one STFT frame ({spectral.N_FFT} "
                         "samples = 32 ms at 16 kHz); pass a longer recording")
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
    expected = spectral.expected_video_frames(n_samples)
    if abs(v.shape[0] - expected) > 0.1 * expected + 1:
        raise ValueError(f"video has {v.shape[0]} frames but the audio ({n_samples / spectral.SR:.2f} s) "
                         f"needs about {expected} at {spectral.VIDEO_FPS} fps: more than 10 % apart. "
                         "Check that video and audio belong together and the video is 25 fps")
    return v.float()


def _enhance_chunk(prior, y: np.ndarray, video, method, cfg, em_iters, nmf_rank, generator, callback):
    dev = next(iter(prior.parameters())).device if hasattr(prior, "parameters") else torch.device("cpu")
    Xc = spectral.to_spec(torch.from_numpy(y).to(dev))  # (F, T) complex
    X, NF = spectral.normalise(Xc)
    v = video
    if v is not None and hasattr(prior, "features"):
        # the video may have a few frames more or fewer than the audio: pad/trim to match
        need = spectral.expected_video_frames(len(y))
        if v.shape[0] < need:
            v = torch.cat([v, v[-1:].expand(need - v.shape[0], *v.shape[1:])])
        v = prior.features(v[:need].to(dev), cfg.n_samples)
    kwargs = dict(cfg=cfg, video=v, nmf_rank=nmf_rank, generator=generator, callback=callback)
    if method == "udiffse":
        kwargs["em_iters"] = em_iters
    with torch.no_grad():
        S = METHODS[method](prior, X, **kwargs)
    return spectral.to_wave(S * NF[0], len(y)).cpu().numpy()


def enhance(y, sr: int, *, prior, method: str = "udiffse+", video=None, n_steps: int = 30,
            n_samples: int = 4, em_iters: int = 5, nmf_rank: int = 4, lam: float | None = None,
            schedule: str = "posterior-score", seed: int | None = 0, chunk_seconds: float = 20.0,
            overlap_seconds: float = 1.0, callback=None, progress: bool = False,
            **sampler_options) -> np.ndarray:
    """Enhance a noisy waveform with UDiffSE or UDiffSE+.

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

    Returns:
        (L,) float32 numpy array at ``sr``, the same length as ``y``.

    Notebook: 08_udiffse_plus.ipynb
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    y = check_waveform(y, "noisy audio")
    L_in, sr_in = len(y), int(sr)
    if sr_in != spectral.SR:
        warnings.warn(f"resampling the input from {sr_in} Hz to {spectral.SR} Hz (the priors' rate); "
                      "the output is resampled back", stacklevel=2)
        y = _resample(y, sr_in, spectral.SR)
    v = _check_video(video, len(y))
    cfg = SamplerConfig(n_steps=n_steps, n_samples=n_samples, lam=lam, schedule=schedule,
                        **sampler_options)
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
