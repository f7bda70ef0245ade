"""Tests of udiffse_lite.metrics with known answers."""
import math
import time

import numpy as np
import pytest
import torch

from udiffse_lite import metrics

SR = 16000


def speechlike(seconds=2.0, sr=SR, seed=0):
    """Voiced harmonics (gliding pitch) under a 4 Hz syllable envelope: PESQ's VAD accepts it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
    return (0.1 * env * x + 1e-4 * rng.standard_normal(t.size)).astype(np.float32)


def test_si_sdr_closed_form_with_orthogonal_noise():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(8000)
    ref -= ref.mean()
    n = rng.standard_normal(8000)
    n -= n.mean()
    n -= np.dot(n, ref) / np.dot(ref, ref) * ref  # orthogonal to ref, still zero-mean
    for a, c in [(1.0, 0.1), (0.5, 1.0), (2.0, 0.01)]:
        est = a * ref + c * n
        expected = 10 * np.log10(a ** 2 * np.dot(ref, ref) / (c ** 2 * np.dot(n, n)))
        for mode in ("mean_removed", "projection"):
            assert metrics.si_sdr(est, ref, mode=mode) == pytest.approx(expected, abs=1e-6)


def test_si_sdr_scale_invariance_and_torch_input():
    rng = np.random.default_rng(1)
    ref, est = rng.standard_normal(4000), rng.standard_normal(4000)
    est = ref + 0.3 * est
    base = metrics.si_sdr(est, ref)
    assert metrics.si_sdr(7.5 * est, ref) == pytest.approx(base, abs=1e-9)
    assert metrics.si_sdr(est, 0.01 * ref) == pytest.approx(base, abs=1e-9)
    assert metrics.si_sdr(torch.tensor(est, dtype=torch.float64), torch.tensor(ref)) == pytest.approx(base, abs=1e-9)
    assert metrics.si_sdr(ref, ref) > 100


def test_si_sdr_modes_differ_on_dc_offset():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal(4000)
    ref -= ref.mean()
    est = ref + 0.1 * rng.standard_normal(4000)
    est_dc = est + 1.0  # a DC offset: invisible to the mean-removed version only
    assert metrics.si_sdr(est_dc, ref) == pytest.approx(metrics.si_sdr(est, ref), abs=0.05)
    assert metrics.si_sdr(est_dc, ref, mode="projection") < metrics.si_sdr(est, ref) - 10


def test_length_mismatch_and_bad_input():
    a, b = np.ones(100), np.ones(90)
    with pytest.raises(ValueError, match="trim=True"):
        metrics.si_sdr(a + np.arange(100), b)
    assert np.isfinite(metrics.si_sdr(np.arange(100.0), np.arange(90.0) + 1, trim=True))
    with pytest.raises(ValueError, match="1-D"):
        metrics.si_sdr(np.ones((2, 10)), np.ones((2, 10)))
    with pytest.raises(ValueError, match="mode"):
        metrics.si_sdr(a, a, mode="sdr")
    with pytest.raises(ValueError, match="silent"):
        metrics.si_sdr(a, np.zeros(100))


def test_pesq_identical_near_max_and_decreasing_with_noise():
    s = speechlike()
    rng = np.random.default_rng(0)
    wb = metrics.pesq(s, s, SR, mode="wb")
    nb = metrics.pesq(s, s, SR, mode="nb")
    assert wb == pytest.approx(4.64, abs=0.05)
    assert 4.3 < nb <= 4.6
    scores = [metrics.pesq(s + c * rng.standard_normal(s.size).astype(np.float32) * s.std(), s, SR)
              for c in (0.05, 0.3, 1.5)]
    assert wb > scores[0] > scores[1] > scores[2]
    # a 48 kHz pair is resampled, not rejected
    from scipy.signal import resample_poly
    s48 = resample_poly(s, 3, 1)
    assert metrics.pesq(s48, s48, 48000, mode="wb") > 4.4


def test_pesq_errors():
    s = speechlike(0.1)
    with pytest.raises(ValueError, match="too short"):
        metrics.pesq(s, s, SR)
    with pytest.raises(ValueError, match="wide-band"):
        metrics.pesq(s, s, SR, mode="xb")


def test_estoi_identical_near_one_and_lower_with_noise():
    s = speechlike()
    rng = np.random.default_rng(0)
    assert metrics.estoi(s, s, SR) > 0.99
    noisy = s + rng.standard_normal(s.size).astype(np.float32) * s.std()
    assert metrics.estoi(noisy, s, SR) < 0.9


def test_rtf_counts_warmup_and_divides_by_duration():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.02)

    r = metrics.rtf(fn, audio_seconds=0.2, warmup=2, repeats=3, device="cpu")
    assert len(calls) == 5
    assert 0.09 < r < 0.5  # 0.02 s of work per 0.2 s of audio, plus scheduler noise
    with pytest.raises(ValueError, match="positive"):
        metrics.rtf(fn, audio_seconds=0)


def test_mean_ci_known_values():
    m, h = metrics.mean_ci([1.0, 2.0, 3.0])
    assert m == pytest.approx(2.0)
    assert h == pytest.approx(4.302652729911275 / math.sqrt(3), rel=1e-9)  # t_{0.975, 2} * s / sqrt(n)
    m, h = metrics.mean_ci(torch.tensor([5.0]))
    assert m == 5.0 and math.isnan(h)
    with pytest.raises(ValueError):
        metrics.mean_ci([])


def test_lsd_is_phase_and_level_blind_and_measures_a_spectral_tilt():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000)
    assert metrics.lsd(3.0 * x, x) == pytest.approx(0.0, abs=1e-9)  # level costs nothing
    # the same magnitudes with another phase: the time-reversed signal has |X| of each frame's mirror,
    # so use a pure tone instead, whose every frame has the same magnitude for any phase shift
    t = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 1000 * t)
    shifted = np.sin(2 * np.pi * 1000 * t + 1.3)
    assert metrics.lsd(shifted, tone) < 0.5
    assert metrics.si_sdr(shifted, tone) < 0  # while SI-SDR calls it wrong
    # a 6 dB gain on the upper half of the band: after normalising to unit power the low bins are
    # 10 log10(2.5) = 3.98 dB low, the high ones 10 log10(4 / 2.5) = 2.04 dB high: sqrt(mean) = 3.16 dB
    X = np.fft.rfft(x)
    X[len(X) // 2:] *= 2.0
    tilted = np.fft.irfft(X, len(x))
    assert metrics.lsd(tilted, x) == pytest.approx(np.sqrt((3.98 ** 2 + 2.04 ** 2) / 2), abs=0.3)
    with pytest.raises(ValueError, match="all zeros"):
        metrics.lsd(np.zeros(16000), x)
