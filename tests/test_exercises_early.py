"""Solutions of the exercises of chapters 00-04 (udiffse_lite.exercises.ch00 ... ch04; chapter 05's
are derivations, in the chapter)."""
import math

import numpy as np
import pytest
import torch

from udiffse_lite import spectral
from udiffse_lite.exercises import ch00, ch01, ch02, ch03, ch04
from udiffse_lite.priors import GaussianPrior
from udiffse_lite.sde import OUVESDE, complex_randn

sde = OUVESDE()


def test_ch00_global_snr(rng):
    s = rng.standard_normal(16000)
    assert ch00.snr_db(s, 0.1 * s) == pytest.approx(20.0)
    assert ch00.snr_db(s, -s) == pytest.approx(0.0)


def test_ch01_frames_compression_range(rng):
    y = torch.from_numpy(rng.standard_normal(5000).astype(np.float32))
    C = spectral.stft(y)
    assert ch01.n_frames(len(y)) == C.shape[-1]
    torch.testing.assert_close(ch01.compress_with(C, 0.5, 0.15), spectral.compress(C))
    torch.testing.assert_close(ch01.compress_with(C, 1.0, 1.0), C)
    assert ch01.compress_with(torch.zeros(3, dtype=torch.complex64), 0.5).abs().sum() == 0
    # compression by alpha multiplies levels in dB by alpha
    assert spectral.dynamic_range_db(ch01.compress_with(C, 0.5, 1.0)) == pytest.approx(
        0.5 * spectral.dynamic_range_db(C), rel=1e-3)


def test_ch02_ode_variance_and_unit_snr():
    for t in (0.1, 0.5, 1.0):
        assert ch02.variance_by_ode(sde, t, 2000) == pytest.approx(float(sde.std(t)) ** 2, rel=1e-4)
    t1 = ch02.time_of_unit_snr(sde, 1.0)
    assert float(sde.mean_factor(t1)) ** 2 == pytest.approx(float(sde.std(t1)) ** 2, rel=1e-3)
    assert ch02.time_of_unit_snr(sde, 1e-4) < t1
    assert ch02.time_of_unit_snr(sde, 1e6) == 1.0  # signal still dominates at t = 1
    assert ch02.mean_factor(1.5, 1.0) == pytest.approx(math.exp(-1.5))



def test_ch03_optimal_noise_prediction_reaches_the_floor():
    v = 0.05
    gauss = GaussianPrior(torch.full((64, 32), v))
    s = math.sqrt(v) * complex_randn((64, 64, 32), torch.Generator().manual_seed(0))
    for t in (0.05, 0.5, 1.0):
        s_t, z = sde.perturb(s, t, torch.Generator().manual_seed(1))
        pred = ch03.optimal_noise_prediction(s_t, t, sde, v)
        torch.testing.assert_close(pred, -sde.std(t) * gauss.score(s_t, t))  # the network of the exact score
        loss = (z - pred).abs().pow(2).mean()
        assert float(loss) == pytest.approx(float(gauss.dsm_floor(t).mean()), rel=0.03, abs=2e-3)


def test_ch04_probability_flow_sampler_gets_gaussian_variance():
    v = torch.full((32, 16), 0.1)
    gauss = GaussianPrior(v)
    ratios = [(ch04.ode_sample(gauss, (512, 32, 16), n_steps=n, generator=torch.Generator().manual_seed(0))
               .abs().pow(2).mean(0) / v).mean().item() for n in (10, 60)]
    # Euler on the ODE under-disperses; it converges as the steps shrink (the start sigma_1 z
    # also lacks the mu_1^2 v of the true t = 1 marginal: a few percent)
    assert ratios[1] == pytest.approx(1.0, abs=0.15)
    assert abs(ratios[1] - 1) < abs(ratios[0] - 1)
    # one step by hand: s - (-theta s - g^2/2 * score) dt, with score = -s
    s = torch.ones(4, dtype=torch.complex64)
    out = ch04.probability_flow_step(sde, s, -s, 0.5, 0.01)
    g2 = float(sde.g(0.5)) ** 2
    torch.testing.assert_close(out, s * (1 + (sde.theta - 0.5 * g2) * 0.01))
