import math

import pytest
import torch

from udiffse_lite.sde import OUVESDE, complex_randn


def test_reference_values():
    sde = OUVESDE()
    assert sde.std(1.0).item() == pytest.approx(0.389, abs=1e-3)
    assert sde.mean_factor(1.0).item() == pytest.approx(0.223, abs=1e-3)
    assert sde.std(0.03).item() == pytest.approx(0.019, abs=1e-3)
    assert sde.std(0.0).item() == 0.0


def test_std_solves_variance_ode():
    # d var / dt = -2 theta var + g^2, checked by finite differences
    sde = OUVESDE()
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    h = 1e-5
    var = lambda tt: sde.std(tt) ** 2
    dvar = (var(t + h) - var(t - h)) / (2 * h)
    torch.testing.assert_close(dvar, -2 * sde.theta * var(t) + sde.g(t) ** 2, rtol=1e-5, atol=1e-8)


def test_closed_form_matches_euler_maruyama():
    sde = OUVESDE()
    g = torch.Generator().manual_seed(0)
    n_paths, n_steps = 20000, 500
    s0 = torch.full((n_paths,), 0.7 + 0.3j, dtype=torch.complex128)
    s = s0.clone()
    dt = 1.0 / n_steps
    for i in range(n_steps):
        t = i * dt
        s = s + sde.drift(s, t) * dt + sde.g(t) * math.sqrt(dt) * complex_randn(s.shape, g, dtype=torch.complex128)
    mean, std = sde.marginal(s0, 1.0)
    # mean within 4 standard errors; variance within 3 %
    se = std.item() / math.sqrt(n_paths)
    assert abs((s.mean() - mean[0]).real) < 4 * se and abs((s.mean() - mean[0]).imag) < 4 * se
    emp_var = (s - s.mean()).abs().pow(2).mean().item()
    assert emp_var == pytest.approx(std.item() ** 2, rel=0.03)


def test_complex_noise_has_unit_total_variance(gen):
    z = complex_randn((200000,), gen)
    assert z.real.var().item() == pytest.approx(0.5, rel=0.02)
    assert z.imag.var().item() == pytest.approx(0.5, rel=0.02)
    assert abs((z.real * z.imag).mean().item()) < 0.01


def test_perturb_statistics(gen):
    sde = OUVESDE()
    s = torch.ones(4, 256, 100, dtype=torch.complex64)
    t = torch.tensor([0.1, 0.3, 0.6, 1.0])
    st, z = sde.perturb(s, t, gen)
    torch.testing.assert_close(st, sde.mean_factor(t)[:, None, None] * s + sde.std(t)[:, None, None] * z)
    for b in range(4):
        assert (st[b] - sde.mean_factor(t[b])).abs().pow(2).mean().item() == pytest.approx(
            sde.std(t[b]).item() ** 2, rel=0.05)


def test_step_sizes_cover_unit_interval():
    sde = OUVESDE()
    ts = sde.timesteps(30)
    assert ts[0] == 1 and ts[-1] == pytest.approx(0.03)
    assert sde.step_sizes(ts).sum().item() == pytest.approx(1.0)
    assert sde.step_sizes(ts, reference_dt=True).sum().item() == pytest.approx(1.0)
    assert sde.step_sizes(ts, reference_dt=True)[0].item() == pytest.approx(1 / 30)


def test_bad_parameters():
    with pytest.raises(ValueError, match="sigma_max > sigma_min"):
        OUVESDE(sigma_min=0.5, sigma_max=0.1)
    with pytest.raises(ValueError, match="t_eps"):
        OUVESDE(t_eps=0)
