"""Library functions the chapters use in their bodies (their exercises then ask to re-derive
them): closed forms of the Gaussian prior, the DSM loss of any score, error and paired-gain
measures, chapter 10's speech envelope and lag, a cross-attention block's attention map."""
import math

import numpy as np
import pytest
import torch

from udiffse_lite import spectral
from udiffse_lite.data import lips
from udiffse_lite.evaluation import table_markdown
from udiffse_lite.metrics import error_db, mean_ci, paired_gain
from udiffse_lite.priors import GaussianPrior
from udiffse_lite.samplers import SamplerConfig, posterior_sample, tweedie
from udiffse_lite.sde import OUVESDE, complex_randn
from udiffse_lite.training import score_dsm_loss
from udiffse_lite.unet import CrossAttentionBlock

sde = OUVESDE()


def test_dynamic_range_halves_under_square_root_compression(rng):
    y = torch.from_numpy(rng.standard_normal(5000).astype(np.float32))
    C = spectral.stft(y)
    half = spectral.compress(C, spectral.SpecConfig(alpha=0.5, beta=1.0))
    assert spectral.dynamic_range_db(half) == pytest.approx(0.5 * spectral.dynamic_range_db(C), rel=1e-3)


def test_table_markdown_rejects_mismatched_metrics():
    with pytest.raises(ValueError, match="metrics"):
        table_markdown({"A": {"SI-SDR": [1.0]}, "B": {"ESTOI": [0.5]}})


def test_gaussian_dsm_floor_matches_monte_carlo():
    v = 0.05
    gauss = GaussianPrior(torch.full((64, 32), v))
    s = math.sqrt(v) * complex_randn((64, 64, 32), torch.Generator().manual_seed(0))
    for t in (0.05, 0.5, 1.0):
        mc = score_dsm_loss(gauss.score, sde, s, t, torch.Generator().manual_seed(1))
        assert float(mc) == pytest.approx(float(gauss.dsm_floor(t).mean()), rel=0.03, abs=2e-3)
    # a network that outputs 0 (score 0) scores E|z|^2 = 1
    zero = score_dsm_loss(lambda s_t, t: torch.zeros_like(s_t), sde, s, 0.3, torch.Generator().manual_seed(2))
    assert float(zero) == pytest.approx(1.0, abs=0.02)


def test_gaussian_tweedie_is_wiener():
    v = torch.linspace(0.01, 0.3, 64)[:, None].expand(64, 8)
    gauss = GaussianPrior(v)
    g = torch.Generator().manual_seed(0)
    s = v.sqrt() * complex_randn((256, 64, 8), g)
    for t in (0.1, 0.6):
        s_t, _ = sde.perturb(s, t, g)
        est = gauss.posterior_mean(s_t, t)
        torch.testing.assert_close(est, tweedie(gauss, s_t, gauss.score(s_t, t), t))
        mse = (est - s).abs().pow(2).mean()
        assert float(mse) == pytest.approx(float(gauss.posterior_variance(t).mean()), rel=0.05)
    x = torch.ones(10, dtype=torch.complex64)
    assert error_db(0.9 * x, x) == pytest.approx(-20.0)


def test_mmse_bound_matches_sampled_exact_posterior():
    g = torch.Generator().manual_seed(0)
    F, T, b = 128, 64, 4
    vs = 0.02 * torch.exp(torch.randn(F, 1, generator=g)).expand(F, T)
    V = torch.full((F, T), 0.02)
    s = complex_randn((F, T), g) * vs.sqrt()
    X = s + complex_randn((F, T), g) * V.sqrt()
    draws = vs / (vs + V) * X + complex_randn((b, F, T), g) * (vs * V / (vs + V)).sqrt()
    mse = (draws.mean(0) - s).abs().pow(2).mean().item()
    assert mse / GaussianPrior(vs).mmse_bound(V, b) == pytest.approx(1.0, abs=0.05)
    assert GaussianPrior(vs).mmse_bound(V) < GaussianPrior(vs).mmse_bound(V, b)


def test_exact_gaussian_likelihood_reaches_the_bound():
    g = torch.Generator().manual_seed(1)
    F, T, b = 256, 32, 4
    vs = (0.02 * torch.exp(torch.randn(F, 1, generator=g))).expand(F, T)
    s = complex_randn((F, T), g) * vs.sqrt()
    V = torch.full((F, T), vs.mean().item())
    X = s + complex_randn((F, T), g) * V.sqrt()
    prior = GaussianPrior(vs)
    lik = prior.exact_likelihood(X, V)
    est = posterior_sample(prior, X, V, likelihood=lik, cfg=SamplerConfig(n_samples=b),
                           generator=torch.Generator().manual_seed(0)).mean(0)
    gap = 10 * math.log10((est - s).abs().pow(2).mean().item() / GaussianPrior(vs).mmse_bound(V, b))
    assert abs(gap) < 0.5


def test_speech_envelope_known_answer():
    sr, fps = 16000, 25
    s = np.concatenate([np.zeros(640), 0.1 * np.ones(640), np.ones(640)]).astype(np.float32)
    env = lips.speech_envelope(s, sr, fps)
    assert env.shape == (3,)
    np.testing.assert_allclose(env[1:], [-20.0, 0.0], atol=1e-6)
    assert env[0] < -90


def test_best_lag_finds_a_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(200)
    b = np.roll(a, 3)  # b[k + 3] = a[k]
    lag, r = lips.best_lag(a, b, max_lag=5)
    assert lag == 3 and r > 0.95
    lag, _ = lips.best_lag(b, a, max_lag=5)
    assert lag == -3


def test_attention_map_rows_sum_to_one_and_match_block():
    torch.manual_seed(0)
    block = CrossAttentionBlock(4, 16, 8)
    h, v = torch.randn(2, 4, 16, 10), torch.randn(2, 5, 8)
    w = block.attention_map(h, v)
    assert w.shape == (2, 10, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 10))
    # the weights reproduce the block: values weighted by them, per channel
    tokens = h.transpose(2, 3).reshape(2, 40, 16)
    full = torch.softmax(block.to_q(tokens) @ block.to_k(v).transpose(1, 2) * block.scale, -1)
    torch.testing.assert_close(w, full.reshape(2, 4, 10, 5).mean(1))
    a = block.to_out(full @ block.to_v(v)).reshape(2, 4, 10, 16).transpose(2, 3)
    with torch.no_grad():
        torch.testing.assert_close(block(h, v), h + block.norm(a))


def test_paired_gain_is_narrower_than_unpaired():
    rng = np.random.default_rng(1)
    hardness = rng.normal(0, 5, 12)  # utterances differ a lot ...
    a = hardness + rng.normal(0, 0.1, 12)
    b = hardness + 1.0 + rng.normal(0, 0.1, 12)  # ... the gain is a steady +1 dB
    gain, half = paired_gain(a, b)
    assert gain == pytest.approx(1.0, abs=0.15)
    assert half < mean_ci(b)[1] / 5
    with pytest.raises(ValueError):
        paired_gain([1.0], [1.0, 2.0])


def test_table_markdown():
    md = table_markdown({"Input": {"SI-SDR": [0.0, 2.0], "ESTOI": [0.5, 0.5]},
                              "One": {"SI-SDR": [1.0], "ESTOI": [0.7]}}, {"SI-SDR": 1})
    lines = md.splitlines()
    assert lines[0] == "| system | SI-SDR | ESTOI |"
    assert lines[2].startswith("| Input | 1.0 ± ")
    assert lines[3] == "| One | 1.0 | 0.70 |"
