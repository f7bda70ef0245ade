"""The exercise solutions of chapters 06-13 (udiffse_lite.exercises.ch06 ... ch13).

Each is checked against the library piece it re-derives, or against a known answer.
"""
import numpy as np
import pytest
import torch

import udiffse_lite as ul
from udiffse_lite import nmf
from udiffse_lite.exercises import ch06, ch08, ch09, ch10, ch11
from udiffse_lite.priors import GaussianPrior
from udiffse_lite.samplers import SamplerConfig, pseudo_likelihood_grad, udiffse, udiffse_plus
from udiffse_lite.sde import OUVESDE, complex_randn


# ----------------------------------------------------------------------------- ch06
@pytest.fixture
def power(gen):
    W = torch.rand(64, 3, generator=gen)
    H = torch.rand(3, 40, generator=gen)
    return (W @ H) * torch.distributions.Exponential(1.0).sample((64, 40))  # random around a low rank


def test_ch06_is_divergence_matches_library_and_is_scale_invariant(power, gen):
    V = torch.rand(power.shape, generator=gen) + 0.1
    torch.testing.assert_close(ch06.is_divergence(power, V), nmf.is_divergence(power, V))
    for a in (1e-4, 1e3):
        torch.testing.assert_close(ch06.is_divergence(a * power, a * V), ch06.is_divergence(power, V),
                                   rtol=1e-4, atol=0)
    assert ch06.is_divergence(power, power).item() == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("exponent", [1.0, 0.5])
def test_ch06_mu_step_equals_library_update(power, exponent):
    m = nmf.NMF(*power.shape, rank=3, generator=torch.Generator().manual_seed(3), exponent=exponent)
    W, H = m.W.clone(), m.H.clone()
    for _ in range(4):
        m.update(power)
        W, H = ch06.mu_step(power, W, H, exponent)
    torch.testing.assert_close(W, m.W)
    torch.testing.assert_close(H, m.H)
    torch.testing.assert_close(W.sum(0), torch.ones(3))


def test_ch06_divergence_per_rank_decreases(power):
    d = ch06.divergence_per_rank(power, ranks=(1, 3, 8), n_iter=30)
    assert list(d) == [1, 3, 8]
    assert d[1] > d[3] > d[8] > 0


# ----------------------------------------------------------------------------- ch08


def test_ch07_autograd_gradient_equals_library(gen):
    S = complex_randn((2, 32, 8), gen)
    X = complex_randn((32, 8), gen)
    V = torch.rand(32, 8, generator=gen) + 0.1
    sde = OUVESDE()
    for t in (0.1, 0.9):
        mu, sigma = sde.mean_factor(t), sde.std(t)
        torch.testing.assert_close(ch08.pseudo_likelihood_grad_autograd(S, X, V, mu, sigma),
                                   pseudo_likelihood_grad(S, X, V, mu, sigma))


# ----------------------------------------------------------------------------- ch09
def test_ch08_tweedie_matches_library():
    vs = torch.full((16, 8), 0.05)
    prior = GaussianPrior(vs)
    S = complex_randn((1, 16, 8), torch.Generator().manual_seed(0))
    for t in (0.2, 1.0):
        score = prior.score(S, t)
        mu, sigma = prior.sde.mean_factor(t), prior.sde.std(t)
        for divide in (True, False):
            torch.testing.assert_close(ch09.tweedie_estimate(S, score, mu, sigma, divide),
                                       ul.samplers.tweedie(prior, S, score, t, divide))
    # for a Gaussian prior Tweedie is the posterior mean mu v / (mu^2 v + sigma^2) s_t
    t = 0.5
    mu, sigma = prior.sde.mean_factor(t), prior.sde.std(t)
    torch.testing.assert_close(ch09.tweedie_estimate(S, prior.score(S, t), mu, sigma),
                               mu * vs / (mu ** 2 * vs + sigma ** 2) * S)


@pytest.mark.parametrize("corrector", [True, False])
def test_ch08_count_evals_matches_samplers(corrector):
    prior = GaussianPrior(torch.full((16, 8), 0.05))
    X = complex_randn((16, 8), torch.Generator().manual_seed(0))
    cfg = SamplerConfig(n_steps=6, n_samples=2, corrector=corrector)
    udiffse(prior, X, cfg=cfg, em_iters=3)
    assert prior.n_evals == ch09.count_evals("udiffse", 6, 3, corrector)
    prior.n_evals = 0
    udiffse_plus(prior, X, cfg=cfg)
    assert prior.n_evals == ch09.count_evals("udiffse+", 6, corrector=corrector)
    assert ch09.count_evals("udiffse") == 300 and ch09.count_evals("udiffse+") == 60
    with pytest.raises(ValueError):
        ch09.count_evals("magic")


def test_ch08_nmf_update_steps_match_sampler():
    seen = []
    prior = GaussianPrior(torch.full((16, 8), 0.05))
    X = complex_randn((16, 8), torch.Generator().manual_seed(0))
    orig = ul.nmf.NMF.update

    def spy(self, P):
        seen.append(len(seen))
        return orig(self, P)

    ul.nmf.NMF.update = spy
    try:
        udiffse_plus(prior, X, cfg=SamplerConfig(n_steps=10, n_samples=1, k=3, output="mean"))  # in-pass updates only
    finally:
        ul.nmf.NMF.update = orig
    assert len(seen) == len(ch09.nmf_update_steps(10, 3)) == 4
    assert ch09.nmf_update_steps(30, 2)[:3] == [0, 2, 4]


# ----------------------------------------------------------------------------- ch10


# ----------------------------------------------------------------------------- ch10
def test_ch10_band_envelope_keeps_the_band_and_drops_the_rest():
    sr, fps = 16000, 25
    t = np.arange(sr) / sr
    inside, outside = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 6000 * t)
    full = ul.data.lips.speech_envelope(inside, sr, fps)
    np.testing.assert_allclose(ch10.band_envelope(inside, sr, fps)[2:-2], full[2:-2], atol=0.1)  # -3 dB of a sine
    assert (ch10.band_envelope(outside, sr, fps)[2:-2] < full[2:-2] - 40).all()
    with pytest.raises(ValueError, match="lo < hi"):
        ch10.band_envelope(inside, sr, fps, lo=3000, hi=300)


# ----------------------------------------------------------------------------- ch11
def test_ch10_mix_at_snr():
    rng = np.random.default_rng(0)
    s, n = rng.standard_normal(16000), 3 * rng.standard_normal(20000)
    for snr in (-5.0, 0.0, 10.0):
        x = ch11.mix_at_snr(s, n, snr)
        assert x.shape == s.shape
        got = 10 * np.log10(np.mean(s ** 2) / np.mean((x - s) ** 2))
        assert got == pytest.approx(snr, abs=1e-3)
    with pytest.raises(ValueError, match="shorter"):
        ch11.mix_at_snr(s, n[:100], 0.0)


def test_ch07_sdr_intervals_and_sample_size():
    from udiffse_lite import metrics
    from udiffse_lite.exercises import ch07

    rng = np.random.default_rng(0)
    s = rng.standard_normal(4000)
    x = s + 0.5 * rng.standard_normal(4000)
    assert ch07.sdr_plain(2 * x, s) < ch07.sdr_plain(x, s)  # a gain change fools the plain SDR
    assert metrics.si_sdr(2 * x, s) == pytest.approx(metrics.si_sdr(x, s))
    a = rng.normal(0, 3, 20)
    b = a + 1 + rng.normal(0, 0.5, 20)  # a shared difficulty, a small paired spread
    r = ch07.paired_vs_unpaired(a, b)
    assert r["paired"] < 0.3 * r["unpaired"] and r["difference"] == pytest.approx(np.mean(b - a))
    n = ch07.mixtures_needed(2.0, 0.5)
    assert 60 <= n <= 70  # (1.96 * 2 / 0.5)^2 = 61.5, a few more for Student's t


# ----------------------------------------------------------------------------- ch12
def test_ch12_zeta_sweep_reaches_the_bound_only_with_enough_weight():
    from udiffse_lite.exercises import ch12

    r = ch12.zeta_sweep(zetas=(0.1, 2.0), n_steps=30, n_samples=4)
    assert abs(r[2.0] - 10 * np.log10(1.25)) < 0.3  # the 1 + 1/b bound of 4 chains
    assert r[0.1] > r[2.0] + 1.0  # too weak a likelihood: the sources do not add up to the mixture


def test_ch12_magnitude_domain_is_blind_to_a_common_phase():
    from udiffse_lite.exercises import ch12

    r = ch12.phase_blindness()
    assert r["complex"][0] == pytest.approx(0.0, abs=1e-6) and r["complex"][1] > 100
    assert r["magnitude"][0] == pytest.approx(0.0, abs=1e-6) and r["magnitude"][1] == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- ch13
def test_ch13_clean_phase_restores_the_clean_signal_from_its_own_magnitude():
    """The clean speech's magnitude with its own phase is the clean speech; a phase-scrambled copy
    scores far below 0 dB SI-SDR until its phase is replaced."""
    from udiffse_lite import metrics, spectral
    from udiffse_lite.examples import load_example
    from udiffse_lite.exercises import ch13

    s = load_example("matched-1").speech[:16000]
    assert metrics.si_sdr(ch13.with_clean_phase(s, s), s) > 30
    S = spectral.to_spec(torch.from_numpy(s))
    rng = torch.Generator().manual_seed(0)
    scrambled = spectral.to_wave(S.abs() * torch.exp(2j * np.pi * torch.rand(S.shape, generator=rng)), len(s)).numpy()
    assert metrics.si_sdr(scrambled, s) < 0
    assert metrics.si_sdr(ch13.with_clean_phase(scrambled, s), s) > metrics.si_sdr(scrambled, s) + 10


def test_ch13_envelope_errors_shape_and_sense():
    """From the shipped synthesiser's head: errors are positive, and the noisier the input, the
    larger the audio-only error."""
    import udiffse_lite as ul
    from udiffse_lite import spectral
    from udiffse_lite.examples import load_example
    from udiffse_lite.exercises import ch13
    from udiffse_lite.resynthesis import _lip_features
    from udiffse_lite.robust_features import load_robust_encoder

    ex = load_example("matched-2")
    n_v = spectral.expected_video_frames(len(ex.speech))
    r = ch13.envelope_errors(ul.load_pretrained("tiny-resynth"), load_robust_encoder(), "matched-2",
                             _lip_features(ex.lips, n_v), snrs=(-5, 10))
    assert set(r) == {-5, 10} and all(0 < e < 2 for pair in r.values() for e in pair)
    assert r[-5][1] > r[10][1]
