"""The neural quality estimator (udiffse_lite.quality): degradations, the network, the shipped model."""
import numpy as np
import pytest
import torch

from udiffse_lite import quality
from udiffse_lite.spectral import SR


@pytest.fixture
def speechlike():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    return (0.3 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(SR)
            ).astype(np.float32)


def test_degradations_do_what_they_say(speechlike):
    rng = np.random.default_rng(1)
    c = quality.clip(speechlike, 0.25)
    assert np.max(np.abs(c)) == pytest.approx(0.25 * np.max(np.abs(speechlike)))
    white = np.random.default_rng(2).standard_normal(SR).astype(np.float32)
    lp = quality.lowpass(white, 2000.0)
    P = np.abs(np.fft.rfft(lp)) ** 2
    f = np.fft.rfftfreq(SR, 1 / SR)
    assert P[f > 3000].mean() < 1e-4 * P[f < 1500].mean()
    r = quality.reverberate(speechlike, 0.5, rng)
    assert r.shape == speechlike.shape and np.sqrt(np.mean(r ** 2)) == pytest.approx(
        np.sqrt(np.mean(speechlike ** 2)), rel=1e-3)
    for bad in (lambda: quality.clip(speechlike, 0.0), lambda: quality.lowpass(white, 9000.0),
                lambda: quality.reverberate(speechlike, 0.0, rng)):
        with pytest.raises(ValueError):
            bad()
    seen = set()
    for k in range(60):
        x, kinds = quality.degrade(speechlike, [white], np.random.default_rng(k))
        assert x.shape == speechlike.shape and np.isfinite(x).all()
        seen.update(kinds)
        if not kinds:
            np.testing.assert_array_equal(x, speechlike)
    assert seen == set(quality.KINDS)


def test_network_shapes_and_predict_checks_input(speechlike):
    net = quality.QualityNet()
    assert net(torch.randn(3, 50, 40)).shape == (3, 2)
    out = net.predict(speechlike, SR)
    assert set(out) == {"si_sdr", "pesq"}
    with pytest.raises(ValueError):
        net.predict(np.full(SR, np.nan, np.float32), SR)


def test_shipped_estimator_ranks_unseen_degradations(tiny_corpus):
    """Held out: the tiny corpus' valid utterances with the test noises. The shipped estimator's
    predictions correlate with the true metrics (Pearson > 0.6 for both)."""
    import os

    assert os.path.getsize(quality.DEFAULT_CKPT) < 2e6
    net = quality.load_quality_estimator()
    te = quality.make_quality_set(tiny_corpus, "valid", "test", 40, seed=5)
    with torch.no_grad():
        p = net(quality._features(te["x"], net.config.n_mels)).numpy()
    assert quality.correlations(p[:, 0], te["si_sdr"])["pearson"] > 0.6
    assert quality.correlations(p[:, 1], te["pesq"])["pearson"] > 0.6
    with pytest.raises(FileNotFoundError, match="nqe train"):
        quality.load_quality_estimator("/nonexistent/nqe.pt")
