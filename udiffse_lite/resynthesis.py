"""Re-synthesis (AV2Wav in miniature): generate clean speech instead of cleaning the noisy one.

The noisy audio and the lips go through the noise-robust AV encoder
(:mod:`udiffse_lite.robust_features`); a diffusion prior conditioned on those features (a FiLM
score U-Net, recipe ``tiny-resynth``) then *generates* a clean compressed spectrogram from its own
noise, never starting from the mixture; the waveform takes the chains' mean magnitude with a
consistent phase found by Griffin-Lim (or, with ``phase="generated"``, the generated spectrogram as
it is). What the features keep (the phones, the timing at 25 fps, roughly the voice) comes back;
what they do not (the phase, fine timing, the exact level) is new.

    s_re = ul.resynthesize(y, sr, lips=lips)

Notebook: none yet (the re-synthesis chapter of issue 11)
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import spectral

DEFAULT_PRIOR = "tiny-resynth"  # fine-tuning on noisy features (tiny-resynth-ft) measured no better


def _lip_features(lips, n_video: int) -> torch.Tensor:
    """Lip frames (T_v, H, W) through the first lip reader, or lip features (T_v, 64) as given."""
    v = torch.as_tensor(np.asarray(lips) if not torch.is_tensor(lips) else lips)
    if v.dim() == 3:
        from .visual import V1_CKPT, load_lip_encoder

        # the robust AV encoder was trained on the first lip reader's features (visual.V1_CKPT).
        # uint8 (0..255) or float frames (0..1, or 0..255 as samplers._check_video passes them on): the
        # lip encoder standardises every clip, so the scale of float frames does not matter
        with torch.no_grad():
            v = load_lip_encoder(V1_CKPT)(v[None])[0]
    if v.shape[0] < n_video:  # a frame short at the end: repeat the last one
        v = torch.cat([v, v[-1:].expand(n_video - v.shape[0], -1)])
    return v[:n_video].float()


PHASES = ("griffin-lim", "generated")
MAGNITUDES = ("diffusion", "envelope")


def resynthesize(y, sr: int, *, lips=None, prior=None, encoder=None, n_steps: int = 30, n_samples: int = 4,
                 seed: int | None = 0, guidance: float | None = None, precision: str | None = None,
                 phase: str = "griffin-lim", magnitude: str = "diffusion", gl_iters: int = 64) -> np.ndarray:
    """Re-synthesise the speech of a noisy recording from its noise-robust AV features.

    Args:
        y: (L,) float waveform at ``sr``.
        lips: lip frames (T_v, 88, 88) or lip features (T_v, 64) at 25 fps; None re-synthesises
            from the audio alone (the encoder was trained for that view too, but it is weaker).
        prior: the feature-conditioned prior (default ``load_pretrained(DEFAULT_PRIOR)``, the shipped
            ``tiny-resynth``, trained on the clean speech's features only).
        encoder: the robust AV encoder (default the shipped one).
        n_steps, guidance, precision: of the prior sampler (``SamplerConfig``). ``guidance``
            other than 1 is refused for envelope-preconditioned priors: between two Gaussians of
            different per-bin variances, classifier-free guidance's extrapolation diverges
            (measured: +93 dB at w = 3).
        n_samples: chains generated at once. With ``phase="griffin-lim"`` their mean magnitude is
            used (averaging removes the random texture each chain adds around the envelope:
            1 -> 8 chains, PER 0.68 -> 0.50 from clean features, docs/resynthesis.md); with
            ``phase="generated"`` the first chain is returned as it is.
        phase: ``"griffin-lim"`` (default) gives the magnitude a consistent phase by
            :func:`spectral.griffin_lim` (``gl_iters`` iterations, started from the first chain's
            phase); ``"generated"`` takes the generated complex spectrogram through the inverse
            STFT as it is (measured worse on every metric: the body has not learned phase coherence).
        magnitude: ``"diffusion"`` (the generated chains) or ``"envelope"``: the prior's envelope
            head alone (a regression of the log-magnitude from the features, no sampling; needs
            ``phase="griffin-lim"``). At this size the envelope measured *better* than the
            diffusion (docs/resynthesis.md, "A consistent phase"): it is the baseline the
            generator must beat.

    Returns:
        (L,) float32 waveform at ``sr``, scaled to the input's RMS (a generator does not know the
        clean level).

    Raises:
        ValueError: bad input, before any work.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    from .priors import PRETRAINED, load_pretrained
    from .robust_features import load_robust_encoder
    from .samplers import SamplerConfig, _check_video, _resample, check_sample_rate, check_waveform, prior_sample

    sr_in = check_sample_rate(sr)
    y = check_waveform(y, "audio", min_samples=math.ceil(spectral.N_FFT * sr_in / spectral.SR))
    # guidance, where allowed, at every step: the enhancement default (t <= 0.5 only) was measured for enhancement
    cfg = SamplerConfig(n_steps=n_steps, n_samples=n_samples, guidance=guidance, guidance_interval=(0.0, 1.0))
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    if magnitude not in MAGNITUDES:
        raise ValueError(f"magnitude must be one of {MAGNITUDES}, got {magnitude!r}")
    if magnitude == "envelope" and phase != "griffin-lim":
        raise ValueError("magnitude='envelope' has no phase of its own: use phase='griffin-lim'")
    if not isinstance(gl_iters, (int, np.integer)) or gl_iters < 0:
        raise ValueError(f"gl_iters must be an integer >= 0, got {gl_iters!r}")
    L_in = len(y)
    y16 = y if sr_in == spectral.SR else _resample(y, sr_in, spectral.SR)
    n_video = spectral.expected_video_frames(len(y16))
    v = _check_video(lips, len(y16)) if lips is not None else None
    if prior is None and DEFAULT_PRIOR not in PRETRAINED:
        raise FileNotFoundError(f"the re-synthesis prior {DEFAULT_PRIOR!r} is not in this package: train one with `python -m udiffse_lite "
                                "robust-av extract --corpus data/corpus` then `python -m udiffse_lite train --config "
                                "tiny-resynth --corpus data/corpus --features data/corpus/features/robust --out "
                                "runs/tiny-resynth` (or `make resynth`), and pass "
                                "prior=ul.ScorePrior.from_checkpoint('runs/tiny-resynth/prior.pt')")
    encoder = encoder if encoder is not None else load_robust_encoder()
    prior = prior if prior is not None else load_pretrained(DEFAULT_PRIOR)
    want = getattr(getattr(prior, "net", None), "config", None)
    if want is None or getattr(want, "video_dim", 0) != encoder.config.width:
        raise ValueError(f"the prior must be conditioned on the encoder's {encoder.config.width} features "
                         f"(a tiny-resynth prior), got video_dim={getattr(want, 'video_dim', None)}")
    if getattr(want, "precond", "none") == "envelope" and guidance not in (None, 1, 1.0):
        raise ValueError(f"guidance={guidance} with an envelope-preconditioned prior diverges (classifier-free "
                         "guidance extrapolates between Gaussians of different variances); use guidance=None")
    if magnitude == "envelope" and not getattr(want, "envelope", False):
        raise ValueError("magnitude='envelope' needs a prior with an envelope head (UNetConfig(envelope=True), "
                         "such as the shipped tiny-resynth)")
    feats = encoder.features(y16, _lip_features(v, n_video) if v is not None else None)  # (T_v, width)
    n_frames = spectral.to_spec(torch.from_numpy(y16)).shape[-1]
    old = getattr(prior, "precision", None)
    if precision is not None:
        prior.set_precision(precision)
    try:
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        dev = next(prior.net.parameters()).device
        if magnitude == "envelope":
            from .unet import envelope_magnitude

            with torch.no_grad():
                v_net = prior.features(feats[None].to(dev), 1)
                M = envelope_magnitude(prior.net.envelope(v_net, n_frames)[0]).cpu()
            start = None
        else:
            S = prior_sample(prior, n_frames, video=feats[None].expand(cfg.n_samples, -1, -1).to(dev), cfg=cfg,
                             generator=g, device=dev).cpu()
            M, start = S.abs().mean(0), S[0]
    finally:
        if precision is not None:
            prior.precision = old
    if phase == "generated":
        out = spectral.to_wave(S[0], len(y16))
    else:
        out = spectral.griffin_lim(M, len(y16), n_iter=gl_iters, phase=start, generator=g)
    out = out.numpy().astype(np.float32)
    if not np.isfinite(out).all():
        raise FloatingPointError("re-synthesis produced NaN or Inf; nothing was returned. Check the prior")
    out *= np.sqrt(np.mean(y16 ** 2) / max(np.mean(out ** 2), 1e-12))
    if sr_in != spectral.SR:
        out = _resample(out, spectral.SR, sr_in)
    return out[:L_in] if len(out) >= L_in else np.pad(out, (0, L_in - len(out)))
