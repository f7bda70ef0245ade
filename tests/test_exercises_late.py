"""The exercise solutions of chapters 06-10 (udiffse_lite.exercises.ch06 ... ch10).

Each is checked against the library piece it re-derives, or against a known answer.
"""
import math

import numpy as np
import pytest
import torch

import udiffse_lite as ul
from udiffse_lite import nmf
from udiffse_lite.exercises import ch06, ch07, ch08, ch09, ch10
from udiffse_lite.priors import GaussianPrior
from udiffse_lite.samplers import SamplerConfig, posterior_sample, pseudo_likelihood_grad, udiffse, udiffse_plus
from udiffse_lite.sde import OUVESDE, complex_randn
from udiffse_lite.unet import CrossAttentionBlock


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


# ----------------------------------------------------------------------------- ch07
def test_ch07_wiener_bound_matches_sampled_exact_posterior():
    g = torch.Generator().manual_seed(0)
    F, T, b = 128, 64, 4
    vs = 0.02 * torch.exp(torch.randn(F, 1, generator=g)).expand(F, T)
    V = torch.full((F, T), 0.02)
    s = complex_randn((F, T), g) * vs.sqrt()
    X = s + complex_randn((F, T), g) * V.sqrt()
    draws = vs / (vs + V) * X + complex_randn((b, F, T), g) * (vs * V / (vs + V)).sqrt()
    mse = (draws.mean(0) - s).abs().pow(2).mean().item()
    assert mse / ch07.wiener_bound(vs, V, b) == pytest.approx(1.0, abs=0.05)
    assert ch07.wiener_bound(vs, V, math.inf) < ch07.wiener_bound(vs, V, b)


def test_ch07_autograd_gradient_equals_library(gen):
    S = complex_randn((2, 32, 8), gen)
    X = complex_randn((32, 8), gen)
    V = torch.rand(32, 8, generator=gen) + 0.1
    sde = OUVESDE()
    for t in (0.1, 0.9):
        mu, sigma = sde.mean_factor(t), sde.std(t)
        torch.testing.assert_close(ch07.pseudo_likelihood_grad_autograd(S, X, V, mu, sigma),
                                   pseudo_likelihood_grad(S, X, V, mu, sigma))


def test_ch07_exact_likelihood_reaches_the_bound():
    g = torch.Generator().manual_seed(1)
    F, T, b = 256, 32, 4
    vs = (0.02 * torch.exp(torch.randn(F, 1, generator=g))).expand(F, T)
    s = complex_randn((F, T), g) * vs.sqrt()
    V = torch.full((F, T), vs.mean().item())
    X = s + complex_randn((F, T), g) * V.sqrt()
    prior = GaussianPrior(vs)
    lik = ch07.exact_gaussian_likelihood(vs, V, X, prior.sde)
    est = posterior_sample(prior, X, V, likelihood=lik, cfg=SamplerConfig(n_samples=b),
                           generator=torch.Generator().manual_seed(0)).mean(0)
    gap = 10 * math.log10((est - s).abs().pow(2).mean().item() / ch07.wiener_bound(vs, V, b))
    assert abs(gap) < 0.5


# ----------------------------------------------------------------------------- ch08
def test_ch08_tweedie_matches_library():
    vs = torch.full((16, 8), 0.05)
    prior = GaussianPrior(vs)
    S = complex_randn((1, 16, 8), torch.Generator().manual_seed(0))
    for t in (0.2, 1.0):
        score = prior.score(S, t)
        mu, sigma = prior.sde.mean_factor(t), prior.sde.std(t)
        for divide in (True, False):
            torch.testing.assert_close(ch08.tweedie_estimate(S, score, mu, sigma, divide),
                                       ul.samplers.tweedie(prior, S, score, t, divide))
    # for a Gaussian prior Tweedie is the posterior mean mu v / (mu^2 v + sigma^2) s_t
    t = 0.5
    mu, sigma = prior.sde.mean_factor(t), prior.sde.std(t)
    torch.testing.assert_close(ch08.tweedie_estimate(S, prior.score(S, t), mu, sigma),
                               mu * vs / (mu ** 2 * vs + sigma ** 2) * S)


@pytest.mark.parametrize("corrector", [True, False])
def test_ch08_count_evals_matches_samplers(corrector):
    prior = GaussianPrior(torch.full((16, 8), 0.05))
    X = complex_randn((16, 8), torch.Generator().manual_seed(0))
    cfg = SamplerConfig(n_steps=6, n_samples=2, corrector=corrector)
    udiffse(prior, X, cfg=cfg, em_iters=3)
    assert prior.n_evals == ch08.count_evals("udiffse", 6, 3, corrector)
    prior.n_evals = 0
    udiffse_plus(prior, X, cfg=cfg)
    assert prior.n_evals == ch08.count_evals("udiffse+", 6, corrector=corrector)
    assert ch08.count_evals("udiffse") == 300 and ch08.count_evals("udiffse+") == 60
    with pytest.raises(ValueError):
        ch08.count_evals("magic")


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
        udiffse_plus(prior, X, cfg=SamplerConfig(n_steps=10, n_samples=1, k=3))
    finally:
        ul.nmf.NMF.update = orig
    assert len(seen) == len(ch08.nmf_update_steps(10, 3)) == 4
    assert ch08.nmf_update_steps(30, 2)[:3] == [0, 2, 4]


# ----------------------------------------------------------------------------- ch09
def test_ch09_speech_envelope_known_answer():
    sr, fps = 16000, 25
    s = np.concatenate([np.zeros(640), 0.1 * np.ones(640), np.ones(640)]).astype(np.float32)
    env = ch09.speech_envelope(s, sr, fps)
    assert env.shape == (3,)
    np.testing.assert_allclose(env[1:], [-20.0, 0.0], atol=1e-6)
    assert env[0] < -90


def test_ch09_best_lag_finds_a_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(200)
    b = np.roll(a, 3)  # b[k + 3] = a[k]
    lag, r = ch09.best_lag(a, b, max_lag=5)
    assert lag == 3 and r > 0.95
    lag, _ = ch09.best_lag(b, a, max_lag=5)
    assert lag == -3


def test_ch09_attention_map_rows_sum_to_one_and_match_block():
    torch.manual_seed(0)
    block = CrossAttentionBlock(4, 16, 8)
    h, v = torch.randn(2, 4, 16, 10), torch.randn(2, 5, 8)
    w = ch09.attention_map(block, h, v)
    assert w.shape == (2, 10, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 10))
    # the weights reproduce the block: values weighted by them, per channel
    tokens = h.transpose(2, 3).reshape(2, 40, 16)
    full = torch.softmax(block.to_q(tokens) @ block.to_k(v).transpose(1, 2) * block.scale, -1)
    torch.testing.assert_close(w, full.reshape(2, 4, 10, 5).mean(1))
    a = block.to_out(full @ block.to_v(v)).reshape(2, 4, 10, 16).transpose(2, 3)
    with torch.no_grad():
        torch.testing.assert_close(block(h, v), h + block.norm(a))


# ----------------------------------------------------------------------------- ch10
def test_ch10_mix_at_snr():
    rng = np.random.default_rng(0)
    s, n = rng.standard_normal(16000), 3 * rng.standard_normal(20000)
    for snr in (-5.0, 0.0, 10.0):
        x = ch10.mix_at_snr(s, n, snr)
        assert x.shape == s.shape
        got = 10 * np.log10(np.mean(s ** 2) / np.mean((x - s) ** 2))
        assert got == pytest.approx(snr, abs=1e-3)
    with pytest.raises(ValueError, match="shorter"):
        ch10.mix_at_snr(s, n[:100], 0.0)


def test_ch10_paired_gain_is_narrower_than_unpaired():
    rng = np.random.default_rng(1)
    hardness = rng.normal(0, 5, 12)  # utterances differ a lot ...
    a = hardness + rng.normal(0, 0.1, 12)
    b = hardness + 1.0 + rng.normal(0, 0.1, 12)  # ... the gain is a steady +1 dB
    gain, half = ch10.paired_gain(a, b)
    assert gain == pytest.approx(1.0, abs=0.15)
    assert half < ul.metrics.mean_ci(b)[1] / 5
    with pytest.raises(ValueError):
        ch10.paired_gain([1.0], [1.0, 2.0])


def test_ch10_table_markdown():
    md = ch10.table_markdown({"Input": {"SI-SDR": [0.0, 2.0], "ESTOI": [0.5, 0.5]},
                              "One": {"SI-SDR": [1.0], "ESTOI": [0.7]}}, {"SI-SDR": 1})
    lines = md.splitlines()
    assert lines[0] == "| system | SI-SDR | ESTOI |"
    assert lines[2].startswith("| Input | 1.0 ± ")
    assert lines[3] == "| One | 1.0 | 0.70 |"
