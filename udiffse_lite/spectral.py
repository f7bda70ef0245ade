"""The spectral domain: STFT, amplitude compression, padding and normalisation.

Every model in the package works on the *compressed complex spectrogram*

    c -> beta * |c|**alpha * exp(i * angle(c)),   alpha = 0.5, beta = 0.15,

of a 16 kHz STFT with ``n_fft = 510`` (256 frequency bins), hop 128 and a
periodic Hann window, as in SGMSE and the UDiffSE reference code. The
compression lifts quiet time-frequency bins so that the network and the
Gaussian noise model see speech on a similar scale everywhere.

Glossary (used across the package): ``s`` clean speech, ``x`` noisy mixture,
``n`` noise, ``v`` video features, ``sr`` sample rate. Upper case (``S``,
``X``) means the compressed complex spectrogram of the lower-case signal.

Notebook: 01_stft_domain.ipynb
"""
from __future__ import annotations

import math

from dataclasses import dataclass

import torch

SR = 16000  # every model and corpus in the package runs at 16 kHz
N_FFT = 510  # 256 frequency bins, the U-Net's input height
HOP = 128  # 8 ms frames: 125 frames per second
ALPHA = 0.5  # amplitude exponent of the compression
BETA = 0.15  # scale of the compression
VIDEO_FPS = 25  # lip video frame rate of every corpus the papers use
CROP_FRAMES = 256  # training crops: 256 STFT frames = 2.04 s
CROP_SAMPLES = (CROP_FRAMES - 1) * HOP  # 32640 samples give exactly 256 centred frames


@dataclass(frozen=True)
class SpecConfig:
    """STFT and compression settings (defaults follow SGMSE / UDiffSE).

    Notebook: 01_stft_domain.ipynb
    """

    n_fft: int = N_FFT  # 256 bins: the U-Net expects this height
    hop: int = HOP  # 8 ms frames at 16 kHz
    alpha: float = ALPHA  # compression exponent
    beta: float = BETA  # compression scale
    sr: int = SR  # sample rate the corpus and priors use

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def frame_rate(self) -> float:
        """STFT frames per second."""
        return self.sr / self.hop


DEFAULT = SpecConfig()


def _window(n_fft: int, device, dtype=torch.float32) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, device=device, dtype=dtype)


def stft(y: torch.Tensor, cfg: SpecConfig = DEFAULT) -> torch.Tensor:
    """Complex STFT of a waveform (no compression).

    Args:
        y: (..., L) float waveform at ``cfg.sr``.

    Returns:
        (..., F, T) complex64, F = n_fft // 2 + 1, T = 1 + L // hop (centred frames).

    Notebook: 01_stft_domain.ipynb
    """
    shape = y.shape[:-1]
    y2 = y.reshape(-1, y.shape[-1])
    c = torch.stft(y2, cfg.n_fft, hop_length=cfg.hop, window=_window(cfg.n_fft, y.device, y.dtype),
                   center=True, return_complex=True)
    return c.reshape(*shape, *c.shape[-2:])


def istft(c: torch.Tensor, length: int, cfg: SpecConfig = DEFAULT) -> torch.Tensor:
    """Inverse of :func:`stft`.

    Args:
        c: (..., F, T) complex STFT.
        length: number of output samples (the original waveform's length).

    Returns:
        (..., length) float waveform.

    Notebook: 01_stft_domain.ipynb
    """
    shape = c.shape[:-2]
    c2 = c.reshape(-1, *c.shape[-2:])
    y = torch.istft(c2, cfg.n_fft, hop_length=cfg.hop,
                    window=_window(cfg.n_fft, c.device, c.real.dtype), center=True, length=length)
    return y.reshape(*shape, length)


def compress(c: torch.Tensor, cfg: SpecConfig = DEFAULT) -> torch.Tensor:
    """Amplitude compression ``beta * |c|**alpha * exp(i angle(c))``.

    Notebook: 01_stft_domain.ipynb
    """
    mag = c.abs()
    # exp(i angle) computed as c / |c| with 0 where c == 0, so the phase of silence stays defined
    phase = torch.where(mag > 0, c / mag.clamp_min(1e-30), torch.zeros_like(c))
    return cfg.beta * mag.pow(cfg.alpha) * phase


def dynamic_range_db(S: torch.Tensor, floor_quantile: float = 0.5) -> float:
    """Spread in dB between the loudest bin and the ``floor_quantile`` quantile of ``|S|``
    (the median by default: recordings that start and end in digital silence have exact zeros),
    ``20 log10(max |S| / q)``.

    Notebook: 01_stft_domain.ipynb
    """
    mag = S.abs().flatten().double()
    q = torch.quantile(mag, floor_quantile).clamp_min(1e-12)
    return float(20 * torch.log10(mag.max() / q))


def decompress(C: torch.Tensor, cfg: SpecConfig = DEFAULT) -> torch.Tensor:
    """Exact inverse of :func:`compress`.

    Notebook: 01_stft_domain.ipynb
    """
    mag = C.abs()
    phase = torch.where(mag > 0, C / mag.clamp_min(1e-30), torch.zeros_like(C))
    return (mag / cfg.beta).pow(1.0 / cfg.alpha) * phase


def to_spec(y: torch.Tensor, cfg: SpecConfig = DEFAULT) -> torch.Tensor:
    """Waveform -> compressed complex spectrogram.

    Args:
        y: (..., L) float waveform.

    Returns:
        (..., 256, T) complex64, compressed STFT.

    Notebook: 01_stft_domain.ipynb
    """
    return compress(stft(y, cfg), cfg)


def to_wave(S: torch.Tensor, length: int, cfg: SpecConfig = DEFAULT) -> torch.Tensor:
    """Compressed complex spectrogram -> waveform of ``length`` samples.

    Notebook: 01_stft_domain.ipynb
    """
    return istft(decompress(S, cfg), length, cfg)


def griffin_lim(M: torch.Tensor, length: int, n_iter: int = 64, phase: torch.Tensor | None = None,
                momentum: float = 0.99, generator: torch.Generator | None = None,
                cfg: SpecConfig = DEFAULT) -> torch.Tensor:
    """A waveform whose compressed spectrogram has the magnitude ``M``: Griffin-Lim's alternating
    projections (fast variant, Perraudin et al. 2013, with ``momentum``; 0 is the original).

    A generated or estimated magnitude is rarely the magnitude of any signal; each iteration
    keeps the phase of the STFT of the current waveform and puts ``M`` back, which never
    increases ``|| |to_spec(x)| - M ||`` (the original algorithm; the momentum speeds it up).
    Compression keeps the phase, so iterating in the compressed domain is Griffin-Lim on the
    linear magnitude ``decompress(M)``.

    Args:
        M: (..., 256, T) non-negative compressed magnitude.
        length: samples of the waveform.
        phase: optional (..., 256, T) complex start (its angle is used); default random.

    Returns:
        (..., length) float waveform.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    if phase is None:
        ang = 2 * math.pi * torch.rand(M.shape, generator=generator, device=M.device)
        P = torch.polar(torch.ones_like(M), ang)
    else:
        P = phase / phase.abs().clamp_min(1e-12)
    prev = None
    for _ in range(n_iter):
        C = to_spec(to_wave(M * P, length, cfg), cfg)
        if momentum and prev is not None:
            C, prev = C + momentum * (C - prev), C
        else:
            prev = C
        P = C / C.abs().clamp_min(1e-12)
    return to_wave(M * P, length, cfg)


def pad_frames(S: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int]:
    """Zero-pad the time axis (last) up to a multiple of ``multiple``.

    The U-Net halves the time axis at every down-sampling, so its input length
    must be divisible by ``2 ** n_downsamplings``.

    Returns:
        The padded tensor and the original number of frames (for :func:`crop_frames`).

    Notebook: 01_stft_domain.ipynb
    """
    T = S.shape[-1]
    pad = (-T) % multiple
    if pad:
        S = torch.nn.functional.pad(S, (0, pad))
    return S, T


def crop_frames(S: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Undo :func:`pad_frames`."""
    return S[..., :n_frames]


def normalise(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale a compressed mixture so that ``max|X| = 1``; return ``(X / NF, NF)``.

    The prior was trained on crops of a similar scale; undo with ``S * NF``.

    Notebook: 08_posterior_udiffse.ipynb
    """
    NF = X.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-8)
    return X / NF, NF


def video_to_stft_frames(v: torch.Tensor, n_frames: int, fps: float = VIDEO_FPS,
                         cfg: SpecConfig = DEFAULT) -> torch.Tensor:
    """Align video features to the STFT frame rate (nearest earlier video frame).

    The *only* place in the package where the 25 fps video clock meets the
    125 fps STFT clock: FiLM conditioning and the lip-encoder targets use it.
    STFT frame ``j`` is centred at ``j * hop / sr`` seconds and takes the video
    frame showing that instant, ``floor(j * hop / sr * fps)``, clamped to the
    last frame.

    Args:
        v: (..., T_v, p) video features.
        n_frames: number of STFT frames T.

    Returns:
        (..., T, p) features, one row per STFT frame.

    Notebook: 10_seeing_speech.ipynb
    """
    T_v = v.shape[-2]
    j = torch.arange(n_frames, device=v.device)
    idx = torch.clamp((j * cfg.hop * fps / cfg.sr).floor().long(), max=T_v - 1)
    return v.index_select(-2, idx)


def expected_video_frames(n_samples: int, fps: float = VIDEO_FPS, sr: int = SR) -> int:
    """Number of video frames that cover ``n_samples`` of audio (rounded)."""
    return int(round(n_samples / sr * fps))
