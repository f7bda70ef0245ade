"""Evaluation metrics: SI-SDR, PESQ, ESTOI, real-time factor and confidence intervals.

Always say which variant a number is: the UDiffSE papers report SI-SDR with the
reference code's projection formula and *narrow-band* raw P.862 PESQ, while
SGMSE / FlowAVSE report *wide-band* PESQ. Inputs are 1-D numpy arrays or
torch tensors (any float dtype); lengths must agree unless ``trim=True``.

Notebook: 07_evaluation.ipynb
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np


def _as_1d(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, on any device
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if np.iscomplexobj(x):
        raise ValueError(f"{name} is complex; pass a waveform (use spectral.to_wave on spectrograms)")
    x = np.squeeze(x)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D waveform, got shape {x.shape}; evaluate one signal at a time")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf values")
    return x.astype(np.float64)


def _pair(est, ref, trim: bool) -> tuple[np.ndarray, np.ndarray]:
    est, ref = _as_1d(est, "est"), _as_1d(ref, "ref")
    if len(est) != len(ref):
        if not trim:
            raise ValueError(f"est has {len(est)} samples but ref has {len(ref)}; align them "
                             "or pass trim=True to cut both to the shorter length")
        n = min(len(est), len(ref))
        est, ref = est[:n], ref[:n]
    if len(ref) == 0:
        raise ValueError("empty signals")
    return est, ref


def si_sdr(est, ref, mode: str = "mean_removed", trim: bool = False, eps: float = 1e-12) -> float:
    """Scale-invariant signal-to-distortion ratio in dB.

    ``"mean_removed"`` (Le Roux et al., 2019): remove both means, project ``est`` on
    ``ref``: target ``= a ref`` with ``a = <est, ref> / |ref|^2``, and return
    ``10 log10(|target|^2 / |est - target|^2)``.

    ``"projection"``: the UDiffSE / SGMSE reference code (``energy_ratios``): no
    mean removal; it scales the *reference* and measures the residual
    ``est - a ref``, i.e. the same formula without centring. The two agree for
    zero-mean signals (and speech is nearly zero-mean); they differ when a DC
    offset is present, which the mean-removed version ignores.

    Args:
        est: (L,) estimated waveform.
        ref: (L,) clean reference waveform.
        mode: ``"mean_removed"`` or ``"projection"``.
        trim: cut both to the shorter length instead of raising on a mismatch.

    Returns:
        SI-SDR in dB (float).

    Notebook: 07_evaluation.ipynb
    """
    if mode not in ("mean_removed", "projection"):
        raise ValueError(f"mode must be 'mean_removed' or 'projection', got {mode!r}")
    est, ref = _pair(est, ref, trim)
    if mode == "mean_removed":
        est, ref = est - est.mean(), ref - ref.mean()
    ref_energy = np.dot(ref, ref)
    if ref_energy <= eps:
        raise ValueError("ref is silent (zero energy): SI-SDR is undefined")
    if np.dot(est, est) <= eps:
        raise ValueError("est is silent (zero energy): SI-SDR is undefined (a silent output would "
                         "otherwise score 0 dB, better than many real ones); check the enhancer's output")
    a = np.dot(est, ref) / ref_energy
    target = a * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def _resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(int(sr), int(target))
    return resample_poly(x, target // g, sr // g)


def pesq(est, ref, sr: int, mode: str = "wb", trim: bool = False) -> float:
    """PESQ (ITU-T P.862) via the ``pesq`` package: MOS-LQO for ``"wb"`` (P.862.2, 16 kHz),
    raw P.862 for ``"nb"`` (8 kHz). Inputs at other rates are resampled.

    Identical signals give about 4.64 (wb) and 4.55 (nb), the scales' maxima.

    Args:
        est, ref: (L,) waveforms at ``sr`` Hz.
        sr: sample rate of both.
        mode: ``"wb"`` (SGMSE / FlowAVSE) or ``"nb"`` (the UDiffSE papers).
        trim: cut both to the shorter length instead of raising on a mismatch.

    Raises:
        ValueError: unknown mode, mismatched lengths, or a signal shorter than 0.25 s
            (PESQ needs enough speech to align).

    Notebook: 07_evaluation.ipynb
    """
    if mode not in ("wb", "nb"):
        raise ValueError(f"mode must be 'wb' (wide-band, 16 kHz) or 'nb' (narrow-band, 8 kHz), got {mode!r}")
    est, ref = _pair(est, ref, trim)
    target = 16000 if mode == "wb" else 8000
    if len(ref) < 0.25 * sr:
        raise ValueError(f"signals of {len(ref) / sr:.3f} s are too short for PESQ: it needs at "
                         "least 0.25 s (use whole utterances, not crops)")
    from pesq import pesq as _pesq

    est, ref = _resample(est, sr, target), _resample(ref, sr, target)
    try:
        return float(_pesq(target, ref.astype(np.float32), est.astype(np.float32), mode))
    except Exception as e:  # the C code raises for silent or unalignable input
        raise ValueError(f"PESQ failed ({type(e).__name__}: {e}); check that ref contains speech") from e


def estoi(est, ref, sr: int, trim: bool = False) -> float:
    """Extended STOI (Jensen & Taal, 2016) via ``pystoi``; about 1 for identical signals.

    Args:
        est, ref: (L,) waveforms at ``sr`` Hz (pystoi resamples to 10 kHz internally).

    Notebook: 07_evaluation.ipynb
    """
    est, ref = _pair(est, ref, trim)
    if len(ref) < 0.4 * sr:
        raise ValueError(f"signals of {len(ref) / sr:.3f} s are too short for ESTOI (needs >= 0.4 s)")
    from pystoi import stoi

    return float(stoi(ref, est, sr, extended=True))


def rtf(fn: Callable[[], object], audio_seconds: float, warmup: int = 1, repeats: int = 3,
        device=None) -> float:
    """Real-time factor: median wall time of ``fn()`` divided by ``audio_seconds``.

    ``fn`` should run the enhancement only (load models and data beforehand).
    ``warmup`` calls are discarded (first-call allocation, cuDNN autotuning); on
    CUDA the device is synchronised before and after each timed call, since
    kernels run asynchronously. RTF < 1 is faster than real time.

    Args:
        fn: a zero-argument callable.
        audio_seconds: duration of the audio ``fn`` processes.
        warmup: untimed calls first.
        repeats: timed calls (the median is returned).
        device: a torch device (or string) to synchronise; None detects CUDA use automatically.

    Notebook: 07_evaluation.ipynb
    """
    if audio_seconds <= 0:
        raise ValueError(f"audio_seconds must be positive, got {audio_seconds}")
    if repeats < 1 or warmup < 0:
        raise ValueError("need repeats >= 1 and warmup >= 0")
    import torch

    dev = torch.device(device) if device is not None else None
    sync_cuda = (dev is not None and dev.type == "cuda") or (dev is None and torch.cuda.is_available()
                                                            and torch.cuda.is_initialized())

    def sync():
        if sync_cuda:
            torch.cuda.synchronize(dev)

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / audio_seconds


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its ``confidence`` interval (Student t, n - 1 dof).

    Report as ``mean ± half``. One value gives ``(value, nan)``.

    Notebook: 07_evaluation.ipynb
    """
    x = np.asarray([float(v) for v in (values.detach().cpu().numpy().ravel() if hasattr(values, "detach")
                                       else np.ravel(values))])
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError("mean_ci got NaN or inf values; drop failed utterances explicitly")
    if x.size == 1:
        return float(x[0]), float("nan")
    from scipy.stats import t as student_t

    half = student_t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(half)


def paired_gain(a, b, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the ``confidence`` interval of ``b - a`` over the *same* items.

    Pairing removes what the items have in common (how hard each utterance is), so a small but
    consistent gain can be significant where two unpaired intervals overlap.

    Notebook: 07_evaluation.ipynb
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired_gain needs the same items in both lists, got {a.shape} and {b.shape}")
    return mean_ci(b - a, confidence)


def error_db(estimate, target) -> float:
    """``10 log10(sum |estimate - target|^2 / sum |target|^2)`` in dB, for waveforms or (complex)
    spectrograms: lower is better, 0 dB is the error of predicting silence.

    Notebook: 05_tweedie.ipynb
    """
    import torch

    estimate, target = torch.as_tensor(estimate), torch.as_tensor(target)
    if estimate.shape != target.shape:
        raise ValueError(f"estimate {tuple(estimate.shape)} and target {tuple(target.shape)} differ in shape")
    num = (estimate - target).abs().pow(2).sum()
    den = target.abs().pow(2).sum().clamp_min(1e-20)
    return float(10 * torch.log10(num / den))


def lsd(est, ref, sr: int = 16000, trim: bool = False, floor_db: float = -80.0) -> float:
    """Scale-invariant log-spectral distance in dB: phase-insensitive, for re-synthesis.

    Both signals' STFT power spectra (32 ms Hann window, 16 ms hop) are normalised to unit total
    power (a level difference costs nothing, as in SI-SDR), floored at ``floor_db`` below the
    reference's loudest bin, and compared as the mean over frames of ``sqrt(mean over bins of
    (10 log10 P_est - 10 log10 P_ref)^2)``. Lower is better; 0 for the same magnitudes at any
    level and with any phase.

    Raises:
        ValueError: as :func:`si_sdr`; an all-zero signal has no spectrum to compare.

    Notebook: 07_evaluation.ipynb
    """
    from scipy.signal import stft

    est, ref = _pair(est, ref, trim)
    nper = int(round(0.032 * sr))
    if len(ref) < nper:
        raise ValueError(f"lsd needs at least {nper} samples (one 32 ms frame), got {len(ref)}")
    P = []
    for name, x in (("est", est), ("ref", ref)):
        p = np.abs(stft(x, sr, nperseg=nper, noverlap=nper // 2, boundary=None)[2]) ** 2
        if not p.sum() > 0:
            raise ValueError(f"{name} is all zeros: it has no spectrum to compare")
        P.append(p / p.sum())
    lo = P[1].max() * 10 ** (floor_db / 10)
    d = 10 * np.log10(np.maximum(P[0], lo)) - 10 * np.log10(np.maximum(P[1], lo))
    return float(np.mean(np.sqrt(np.mean(d ** 2, axis=0))))  # d: (bins, frames)
