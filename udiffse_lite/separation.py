"""Several diffusion priors, one posterior: DPS-coupled reverse processes (DAVSS-NM in miniature).

The mixture is a sum of sources, each with its own prior: K speakers (a speech prior, each
conditioned on that speaker's lips) and the noise (a second diffusion prior trained on noise
alone, instead of the NMF of the other chapters). Every source has its own state ``s_t^(j)``
and runs its own reverse diffusion; the mixture couples them through a likelihood that is
intractable at ``t > 0`` and is approximated as in diffusion posterior sampling (DPS, Chung et
al., 2023): the one-step (Tweedie) estimates ``s0^(j)(s_t^(j))`` of all sources must add up to the
mixture. With the residual

    r = f(X) - f(sum_j s0^(j)),

every state takes its prior's reverse step and then moves down the gradient of ``|r|^2``,
computed through the denoisers with autograd and scaled by ``zeta / |r|`` (per chain):

    s^(j) <- ancestral_step(s^(j), s0^(j)) - zeta * grad_{s^(j)} |r|^2 / |r| .

Two reconstruction domains ``f``:

- ``"complex"``: the states' own domain, where the sources add exactly when the spectrograms
  are linear (the Gaussian checks of the tests use it).
- ``"magnitude"``: the compressed magnitude of the *linear* sum: the estimates are decompressed,
  added (STFTs add exactly in the linear domain) and compressed again, and only magnitudes are
  compared. The paper finds this more stable than a waveform loss.

A second coupling, :func:`score_coupled_sample` (the default of :func:`separate` and of
``enhance(noise_model="diffusion")``), needs no gradient through the denoisers: each speaker runs
UDiffSE+ on the mixture minus the other speakers' estimates, with the noise model's score in its
likelihood (``docs/separation.md`` measures both).

The DPS sampler starts every state from zero-mean noise ``sigma_1 z`` (the paper's choice: the
mixture is not a sensible start for a single source) and returns the final states of every
chain; :func:`wiener_masks` turns them into K + 1 masks that split the mixture.

Notebook: 12_two_priors.ipynb
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import spectral
from .samplers import check_guidance_interval, corrector_snr, guided_times, pseudo_likelihood_grad
from .sde import complex_randn

DOMAINS = ("complex", "magnitude")


@dataclass
class DPSConfig:
    """Settings of :func:`dps_sample`.

    Notebook: 12_two_priors.ipynb
    """

    n_steps: int = 30  # reverse steps (the paper runs 400 ODE steps on a GPU)
    n_samples: int = 2  # parallel chains per source
    zeta: float = 2.0  # weight of the reconstruction gradient: 2.0 reaches the K-source Wiener bound
    # at 30 steps in the Gaussian check (benchmarks/dps_gaussian.py; the paper's 0.5 needs ~100 steps)
    domain: str = "magnitude"  # "magnitude" (the paper's) or "complex"
    guidance: float | None = None  # classifier-free guidance weight of AV speech priors
    guidance_interval: tuple[float, float] | None = None  # guidance only at lo < t <= hi; None: the rule of
    # :func:`~udiffse_lite.samplers.guided_times` (t <= 0.5 from 30 steps on, every step below)

    def __post_init__(self):
        if self.n_steps < 2 or self.n_samples < 1:
            raise ValueError(f"need n_steps >= 2 and n_samples >= 1, got {self.n_steps}, {self.n_samples}")
        if not self.zeta >= 0:
            raise ValueError(f"zeta must be >= 0, got {self.zeta}")
        if self.domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {self.domain!r}")
        check_guidance_interval(self.guidance_interval)


def reconstruction(estimates: list[torch.Tensor], X: torch.Tensor, domain: str, nf: float = 1.0) -> torch.Tensor:
    """Per-chain squared reconstruction error ``|f(X) - f(sum_j estimates_j)|^2`` (B,).

    Args:
        estimates: one (B, F, T) complex clean estimate per source, in the normalised compressed
            domain of ``X``.
        X: (F, T) complex normalised compressed mixture.
        domain: ``"complex"`` (sum in this domain) or ``"magnitude"`` (sum in the linear domain,
            compare compressed magnitudes).
        nf: the normalisation factor of ``X`` (``X = compress(X_lin) / nf``).

    Notebook: 12_two_priors.ipynb
    """
    if domain == "complex":
        r = X - sum(estimates)
        return r.abs().pow(2).sum(dim=(-2, -1))
    lin = sum(spectral.decompress(e * nf) for e in estimates)  # the sources add in the linear STFT domain
    mag = spectral.compress(lin).abs() / nf  # (B, F, T)
    return (X.abs() - mag).pow(2).sum(dim=(-2, -1))


def dps_gradients(priors, states: list[torch.Tensor], t, X: torch.Tensor, videos=None, *, domain="magnitude",
                  nf: float = 1.0, guidance: float | None = None):
    """Tweedie estimates of every source and the gradient of ``|r| = sqrt(recon)`` for every state.

    Returns:
        ``(estimates, grads, recon)``: lists of (B, F, T) tensors (detached) and the (B,) errors.

    Notebook: 12_two_priors.ipynb
    """
    videos = videos if videos is not None else [None] * len(priors)
    with torch.enable_grad():
        leaves = [s.detach().requires_grad_(True) for s in states]
        ests = []
        for prior, s, v in zip(priors, leaves, videos):
            sde = prior.sde
            kw = {"guidance": guidance} if guidance is not None and v is not None else {}
            score = prior.score(s, t, v, **kw)
            ests.append((s + sde.std(t) ** 2 * score) / sde.mean_factor(t))
        recon = reconstruction(ests, X, domain, nf)  # (B,)
        norm = recon.clamp_min(1e-12).sqrt()
        grads = torch.autograd.grad(norm.sum(), leaves)
    return [e.detach() for e in ests], [g.detach() for g in grads], recon.detach()


def dps_sample(priors, X: torch.Tensor, *, videos=None, cfg: DPSConfig | None = None, nf: float = 1.0,
               generator: torch.Generator | None = None, callback=None) -> torch.Tensor:
    """Sample every source of ``X`` from its own prior, coupled by the DPS likelihood.

    Args:
        priors: one prior per source (``.sde``, ``.score``), e.g. ``[speech, speech, noise]``;
            they must share the SDE.
        X: (F, T) complex normalised compressed mixture.
        videos: None or one entry per prior (video features or None).
        nf: the mixture's normalisation factor (for the ``"magnitude"`` domain).
        callback: called as ``callback(i, t, estimates, recon)`` after every step.

    Returns:
        (J, B, F, T) complex64: the final state of every chain of every source.

    Notebook: 12_two_priors.ipynb
    """
    cfg = cfg or DPSConfig()
    if not priors:
        raise ValueError("give at least one prior (one per source)")
    if X.dim() != 2 or not torch.is_complex(X):
        raise ValueError(f"X must be a complex (F, T) spectrogram, got {tuple(X.shape)} {X.dtype}")
    if videos is not None and len(videos) != len(priors):
        raise ValueError(f"got {len(videos)} videos for {len(priors)} priors; give one per prior (None for the noise)")
    sde = priors[0].sde
    if any(p.sde != sde for p in priors[1:]):
        raise ValueError("all priors must share the same SDE (theta, sigma_min, sigma_max)")
    B = cfg.n_samples
    ts = sde.timesteps(cfg.n_steps, device=X.device)
    dts = sde.step_sizes(ts, False)
    sigma1 = sde.std(1.0).item()
    states = [sigma1 * complex_randn((B, *X.shape), generator, X.device, X.dtype) for _ in priors]
    g_lo, g_hi = guided_times(cfg.guidance_interval, cfg.n_steps)
    for i in range(len(ts)):
        t, dt = ts[i], dts[i]
        ests, grads, recon = dps_gradients(priors, states, t, X, videos, domain=cfg.domain, nf=nf,
                                           guidance=cfg.guidance if g_lo < float(t) <= g_hi else None)
        last = i == len(ts) - 1
        new = []
        for s, e, g in zip(states, ests, grads):
            s, _ = sde.ancestral_step(s, e, t, dt, generator, noise=not last)
            new.append(s - cfg.zeta * g)
        states = new
        if callback is not None:
            callback(i, float(t), ests, recon)
        if not all(torch.isfinite(torch.view_as_real(s)).all() for s in states):
            raise FloatingPointError(f"non-finite state at step {i}: lower zeta (now {cfg.zeta}) or add steps")
    return torch.stack(states)


def score_coupled_sample(priors, noise, X: torch.Tensor, *, videos=None, n_steps: int = 30, n_samples: int = 2,
                         snr: float | None = None, guidance: float | None = None, generator: torch.Generator | None = None,
                         callback=None, lam: float = 1.0, guidance_interval: tuple[float, float] | None = None
                         ) -> torch.Tensor:
    """K speech sources and a noise model, coupled through UDiffSE's posterior score instead of DPS.

    Speaker ``k`` sees the mixture minus the others' current clean (Tweedie) estimates,
    ``X_k = X - sum_{j != k} S0^(j)``, and treats it as UDiffSE+ treats a mixture: its likelihood
    is the noise model's score at the diffused noise state ``mu_t X_k - S_t^(k)``
    (:func:`~udiffse_lite.samplers.diffusion_noise_likelihood`; for the NMF, the Gaussian
    pseudo-likelihood with the NMF variance), with the UDiffSE+ corrector and predictor. All
    speakers step together (each uses the others' estimates from the start of the step). No
    backward pass.

    Args:
        priors: K speech priors (one per speaker, often the same AV prior).
        noise: a diffusion noise prior, or an ``_NMFNoise`` (refitted every 2 steps on
            ``X - sum_k S0^(k)``).
        X: (F, T) complex normalised compressed mixture.
        videos: None or K video feature batches (None entries: no video).
        snr: the corrector's r; None follows the step count as UDiffSE+ does
            (:func:`~udiffse_lite.samplers.corrector_snr`).
        lam: weight of the noise model's likelihood (UDiffSE+'s ``lam``; 1 is exact for Gaussian
            sources).
        guidance_interval: the diffusion times ``(lo, hi]`` where ``guidance`` acts (the plain
            conditional score elsewhere); None: :func:`~udiffse_lite.samplers.guided_times`'s rule.

    Returns:
        (K + 1, B, F, T) complex64: every speaker's final chains, then the noise's
        (``X - sum_k S^(k)``), ready for :func:`wiener_masks`.

    Notebook: 12_two_priors.ipynb
    """
    if X.dim() != 2 or not torch.is_complex(X):
        raise ValueError(f"X must be a complex (F, T) spectrogram, got {tuple(X.shape)} {X.dtype}")
    K = len(priors)
    videos = videos if videos is not None else [None] * K
    if K < 1 or len(videos) != K:
        raise ValueError(f"give one or more speech priors and one video entry per prior, got {K} and {len(videos)}")
    sde = priors[0].sde
    r = corrector_snr(snr, n_steps)
    if any(p.sde != sde for p in priors[1:]) or noise.sde != sde:
        raise ValueError("all priors must share the same SDE (theta, sigma_min, sigma_max)")
    ts = sde.timesteps(n_steps, device=X.device)
    dts = sde.step_sizes(ts, False)
    sigma1 = sde.std(1.0).item()
    S = [X / K + sigma1 * complex_randn((n_samples, *X.shape), generator, X.device, X.dtype) for _ in range(K)]
    check_guidance_interval(guidance_interval)
    g_lo, g_hi = guided_times(guidance_interval, n_steps)
    guided = [{"guidance": guidance} if guidance is not None and v is not None else {} for v in videos]

    def lik(Xk, t):
        mu, sigma = sde.mean_factor(t), sde.std(t)
        if isinstance(noise, _NMFNoise):
            return lambda S_: pseudo_likelihood_grad(S_, Xk, noise.nmf.V, mu, sigma)
        return lambda S_: -noise.score(mu * Xk - S_, t)

    s0 = [torch.zeros_like(X).expand(n_samples, *X.shape) for _ in range(K)]
    for i in range(len(ts)):
        t, dt = ts[i], dts[i]
        mu, sigma = sde.mean_factor(t), sde.std(t)
        kws = guided if g_lo < float(t) <= g_hi else [{}] * K
        if isinstance(noise, _NMFNoise) and i % noise.k == 0:
            noise.nmf.update((X - sum(s0)).abs().pow(2).mean(0))
        total = sum(s0)
        liks = [lik(X - (total - s0[k]), t) for k in range(K)]
        new_s0 = []
        for k in range(K):
            eps = 2.0 * (r * sigma) ** 2  # the corrector (UDiffSE+'s "paper" step)
            sc = priors[k].score(S[k], t, videos[k], **kws[k]) + lam * liks[k](S[k])
            S[k] = S[k] + eps * sc + torch.sqrt(2 * eps) * complex_randn(S[k].shape, generator, X.device, X.dtype)
            prior_sc = priors[k].score(S[k], t, videos[k], **kws[k])
            e = (S[k] + sigma ** 2 * prior_sc) / mu  # Tweedie
            post = e + lam * sigma ** 2 / mu * liks[k](mu * e)  # the likelihood at mu_t S0 (posterior_tweedie)
            S[k], _ = sde.ancestral_step(S[k], post, t, dt, generator, noise=i < len(ts) - 1)
            new_s0.append(e)
        s0 = new_s0
        if callback is not None:
            callback(i, float(t), s0, None)
        if not all(torch.isfinite(torch.view_as_real(x)).all() for x in S):
            raise FloatingPointError(f"non-finite state at step {i}; check the priors")
    return torch.stack(S + [X.expand(n_samples, *X.shape) - sum(S)])


def wiener_masks(states: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Masks ``P_j / sum_i P_i`` from the chains' powers ``P_j = mean_b |s^(j)|^2`` (J, F, T).

    Applied to the mixture they split it into sources that add up to it exactly.

    Notebook: 12_two_priors.ipynb
    """
    P = states.abs().pow(2).mean(1)  # (J, F, T)
    return P / P.sum(0, keepdim=True).clamp_min(eps)


class _NMFNoise:
    """The NMF noise model as a (Gaussian) prior of the noise source: ``CN(0, V)`` with ``V = W H``
    refitted every ``k`` steps on what the speech estimates leave of the mixture."""

    def __init__(self, sde, X: torch.Tensor, rank: int, k: int, generator=None):
        from .nmf import NMF
        from .samplers import _cpu_gen

        self.sde, self.X, self.k = sde, X, k
        self.nmf = NMF(X.shape[0], X.shape[1], rank, generator=_cpu_gen(generator), device=X.device)
        self.nmf.update(X.abs().pow(2))  # as UDiffSE+'s first update, whose speech estimate is 0
        self.conditional = False

    def score(self, s_t, t, video=None, guidance=None):
        mu, sigma = self.sde.mean_factor(t), self.sde.std(t)
        return -s_t / (mu ** 2 * self.nmf.V + sigma ** 2)

    def refit(self, i: int, speech_estimates: list[torch.Tensor]) -> None:
        if i % self.k == 0:
            self.nmf.update((self.X - sum(speech_estimates)).abs().pow(2).mean(0))


def separate(y, sr: int, *, lips: list, prior=None, noise_prior="nmf", n_steps: int = 30, n_samples: int = 2,
             zeta: float | None = None, guidance: float | None = None, seed: int | None = 0, nmf_rank: int = 4,
             precision: str | None = None, coupling: str = "score", lam: float | None = None,
             guidance_interval: tuple[float, float] | None = None) -> list:
    """Separate the K speakers of a noisy mixture, one per lip video, with a speech prior per
    speaker (the same AV prior, each conditioned on its own lips) and a noise model.

    Args:
        y: (L,) float mixture waveform at ``sr``.
        lips: K lip videos (frames (T_v, 88, 88) or features (T_v, p)) at 25 fps, one per speaker;
            ``None`` for a speaker runs its prior without video (then nothing fixes the order).
        prior: the audio-visual speech prior (default ``load_pretrained("tiny-av")``).
        noise_prior: ``"nmf"`` (a rank-``nmf_rank`` NMF refitted on the residual every 2 steps) or a
            diffusion noise prior (``load_pretrained("tiny-noise")``).
        n_steps, n_samples, zeta, guidance, guidance_interval: see :class:`DPSConfig`.
        lam: the noise model's likelihood weight in the score coupling (default 1).
        coupling: ``"score"`` (default: :func:`score_coupled_sample`, UDiffSE's posterior score per
            speaker; reaches the Wiener bound with Gaussian sources, and in enhancement it beat DPS
            by 6 dB, ``docs/separation.md``) or ``"dps"`` (the paper's; ``zeta`` applies to it only).

    Returns:
        K (L,) float32 waveforms at ``sr``, in the order of ``lips`` (the speakers plus what the
        noise model took add up to the mixture, in the compressed domain).

    Raises:
        ValueError: bad input, before any work.

    Notebook: 12_two_priors.ipynb
    """
    import math

    import numpy as np

    from .priors import load_pretrained
    from .samplers import _check_video, _resample, check_sample_rate, check_waveform

    sr_in = check_sample_rate(sr)
    y = check_waveform(y, "mixture", min_samples=math.ceil(spectral.N_FFT * sr_in / spectral.SR))
    if not isinstance(lips, (list, tuple)) or not lips:
        raise ValueError("lips must be a list with one lip video per speaker to separate")
    prior = prior if prior is not None else load_pretrained("tiny-av")
    if not getattr(prior, "conditional", False):
        raise ValueError("separation by lips needs an audio-visual prior (load_pretrained('tiny-av'))")
    if coupling not in ("score", "dps"):
        raise ValueError(f"coupling must be 'score' or 'dps', got {coupling!r}")
    if coupling == "score" and zeta is not None:
        raise ValueError("zeta is the weight of the DPS coupling: pass coupling='dps' with it, or drop it")
    if lam is not None and (coupling != "score" or not (math.isfinite(lam) and lam > 0)):
        raise ValueError(f"lam weights the score coupling's likelihood: a finite number > 0 with "
                         f"coupling='score', got {lam!r} with coupling={coupling!r}")
    extra = {} if zeta is None else {"zeta": zeta}
    cfg = DPSConfig(n_steps=n_steps, n_samples=n_samples, guidance=guidance, guidance_interval=guidance_interval,
                    **extra)
    if isinstance(noise_prior, str) and noise_prior != "nmf":
        noise_prior = load_pretrained(noise_prior)
    L_in = len(y)
    y16 = y if sr_in == spectral.SR else _resample(y, sr_in, spectral.SR)
    videos = [None if v is None else _check_video(v, len(y16)) for v in lips]
    old = getattr(prior, "precision", None)
    if precision is not None:
        prior.set_precision(precision)
    try:
        dev = next(iter(prior.parameters())).device
        gen = torch.Generator(device=dev).manual_seed(seed) if seed is not None else None
        X, NF = spectral.normalise(spectral.to_spec(torch.from_numpy(y16).to(dev)))
        need = spectral.expected_video_frames(len(y16))
        feats = []
        for v in videos:
            if v is None:  # no lips for this speaker: the prior's null video
                feats.append(None)
                continue
            v = torch.cat([v, v[-1:].expand(max(0, need - v.shape[0]), *v.shape[1:])])[:need]
            feats.append(prior.features(v.to(dev), n_samples))
        noise = _NMFNoise(prior.sde, X, nmf_rank, 2, gen) if noise_prior == "nmf" else noise_prior
        K = len(feats)

        def refit(i, t, ests, recon):
            if isinstance(noise, _NMFNoise):
                noise.refit(i, ests[:K])

        with torch.no_grad():
            if coupling == "score":
                states = score_coupled_sample([prior] * K, noise, X, videos=feats, n_steps=n_steps,
                                              n_samples=n_samples, guidance=guidance, generator=gen,
                                              lam=1.0 if lam is None else lam, guidance_interval=guidance_interval)
            else:
                states = dps_sample([prior] * K + [noise], X, videos=feats + [None], cfg=cfg,
                                    nf=float(NF.reshape(-1)[0]), generator=gen, callback=refit)
        masks = wiener_masks(states)
        outs = []
        for k in range(K):
            w = spectral.to_wave(masks[k] * X * NF.reshape(-1)[0], len(y16)).cpu().numpy()
            if sr_in != spectral.SR:
                w = np.pad(_resample(w, spectral.SR, sr_in), (0, L_in))[:L_in]
            if not np.isfinite(w).all():
                raise FloatingPointError("the sampler produced NaN/Inf; check the priors and zeta")
            outs.append(w.astype(np.float32))
        return outs
    finally:
        if precision is not None:
            prior.precision = old
