"""Several priors, one posterior (udiffse_lite.separation): DPS reaches the K-source Wiener filter
with Gaussian priors, and its gradient is the derivative of the reconstruction error."""
import math

import pytest
import torch

from udiffse_lite.priors import GaussianPrior
from udiffse_lite.sde import complex_randn
from udiffse_lite.separation import (DPSConfig, dps_gradients, dps_sample, reconstruction, score_coupled_sample,
                                     wiener_masks)

F, T, B = 256, 64, 4


def sources(n_speech: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    var = [(0.02 * torch.exp(torch.randn(F, 1, generator=g))).expand(F, T) for _ in range(n_speech)]
    var.append(torch.full((F, T), 0.02) * torch.linspace(0.3, 3, F)[:, None])  # a coloured noise
    s = [complex_randn((F, T), g) * v.sqrt() for v in var]
    return var, s, sum(s)


@pytest.mark.parametrize("n_speech", [1, 2])
def test_dps_with_gaussian_priors_reaches_the_wiener_filter(n_speech):
    var, s, X = sources(n_speech)
    total = sum(var)
    out = dps_sample([GaussianPrior(v) for v in var], X, cfg=DPSConfig(n_steps=30, n_samples=B, domain="complex"),
                     generator=torch.Generator().manual_seed(0))
    assert out.shape == (n_speech + 1, B, F, T)
    masks = wiener_masks(out)
    torch.testing.assert_close(masks.sum(0), torch.ones(F, T))
    for j, (v, sj) in enumerate(zip(var, s)):
        bound = (v * (total - v) / total).mean().item()  # the MMSE of source j
        mean_db = 10 * math.log10((out[j].mean(0) - sj).abs().pow(2).mean().item() / bound)
        mask_db = 10 * math.log10((masks[j] * X - sj).abs().pow(2).mean().item() / bound)
        input_db = 10 * math.log10((X - sj).abs().pow(2).mean().item() / bound)
        print(f"source {j}: chain mean {mean_db:+.2f} dB, mask {mask_db:+.2f} dB from the MMSE (input {input_db:+.2f})")
        # the mean of B posterior samples has (1 + 1/B) times the MMSE: +0.97 dB for B = 4
        assert abs(mean_db - 10 * math.log10(1 + 1 / B)) < 0.35
        assert mask_db < 0.8 and input_db > 3
    # the sources add up to the mixture
    err = (out.mean(1).sum(0) - X).abs().pow(2).mean() / X.abs().pow(2).mean()
    assert err < 0.01


@pytest.mark.parametrize("n_speech", [1, 2])
def test_score_coupling_with_gaussian_priors_reaches_the_wiener_bound(n_speech):
    """The posterior-score coupling (each speaker's likelihood through the noise prior's score at
    mu_t (X - the others' estimates) - S_t): with Gaussian sources its chain mean lands on the
    1 + 1/b bound of the exact posterior mean, like DPS, for one and for two speakers."""
    var, s, X = sources(n_speech)
    total = sum(var)
    out = score_coupled_sample([GaussianPrior(v) for v in var[:-1]], GaussianPrior(var[-1]), X, n_steps=30,
                               n_samples=B, generator=torch.Generator().manual_seed(0))
    assert out.shape == (n_speech + 1, B, F, T)
    masks = wiener_masks(out)
    for j, v in enumerate(var):
        mmse = (v * (total - v) / total).sum()
        mean_db = 10 * math.log10(float((out[j].mean(0) - s[j]).abs().pow(2).sum() / mmse))
        mask_db = 10 * math.log10(float((masks[j] * X - s[j]).abs().pow(2).sum() / mmse))
        assert abs(mean_db - 10 * math.log10(1 + 1 / B)) < 0.3, (j, mean_db)  # measured +0.91 to +0.98
        assert mask_db < 0.8, (j, mask_db)  # measured +0.32 to +0.45
    with pytest.raises(ValueError, match="one video entry per prior"):
        score_coupled_sample([GaussianPrior(var[0])], GaussianPrior(var[-1]), X, videos=[None, None])


def test_without_the_likelihood_the_sources_ignore_the_mixture():
    var, s, X = sources(1)
    out = dps_sample([GaussianPrior(v) for v in var], X, cfg=DPSConfig(n_steps=30, n_samples=B, zeta=0.0,
                                                                      domain="complex"),
                     generator=torch.Generator().manual_seed(0))
    bound = (var[0] * var[1] / (var[0] + var[1])).mean().item()
    assert 10 * math.log10((out[0].mean(0) - s[0]).abs().pow(2).mean().item() / bound) > 3


@pytest.mark.parametrize("domain", ["complex", "magnitude"])
def test_dps_gradient_matches_finite_differences(domain):
    var, s, X = sources(1)
    priors = [GaussianPrior(v) for v in var]
    g = torch.Generator().manual_seed(3)
    states = [0.2 * complex_randn((1, F, T), g) for _ in priors]
    t = torch.tensor(0.4)
    X = X / X.abs().max()
    _, grads, _ = dps_gradients(priors, states, t, X, domain=domain, nf=2.0)

    def norm(st):
        ests = [(x + p.sde.std(t) ** 2 * p.score(x, t)) / p.sde.mean_factor(t) for p, x in zip(priors, st)]
        return reconstruction(ests, X, domain, 2.0).double().sqrt().sum().item()

    h = 1e-3
    for j, (f, k) in [(0, (3, 5)), (1, (100, 20)), (0, (200, 60))]:
        for unit, part in ((1.0, "real"), (1j, "imag")):
            plus = [x.clone() for x in states]
            minus = [x.clone() for x in states]
            plus[j][0, f, k] += h * unit
            minus[j][0, f, k] -= h * unit
            fd = (norm(plus) - norm(minus)) / (2 * h)
            an = grads[j][0, f, k].real if part == "real" else grads[j][0, f, k].imag
            assert an.item() == pytest.approx(fd, rel=0.05, abs=1e-3), (j, f, k, part)


def test_bad_settings_are_refused():
    var, s, X = sources(1)
    p = [GaussianPrior(v) for v in var]
    with pytest.raises(ValueError, match="domain"):
        DPSConfig(domain="waveform")
    with pytest.raises(ValueError, match="zeta"):
        DPSConfig(zeta=-1)
    with pytest.raises(ValueError, match="one per prior"):
        dps_sample(p, X, videos=[None])
    with pytest.raises(ValueError, match="complex"):
        dps_sample(p, X.abs())


def test_enhance_with_a_diffusion_noise_prior_runs_and_refuses_bad_settings():
    import numpy as np

    from udiffse_lite.samplers import enhance

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    s = (0.3 * np.sin(2 * np.pi * 200 * t) * (t > 0.5)).astype(np.float32)
    y = s + 0.05 * rng.standard_normal(16000).astype(np.float32)
    speech, noise = GaussianPrior(torch.full((F, 1), 0.05)), GaussianPrior(torch.full((F, 1), 0.01))
    out = enhance(y, 16000, prior=speech, noise_model="diffusion", noise_prior=noise, n_steps=6, n_samples=2)
    assert out.shape == y.shape and np.isfinite(out).all()
    assert np.sum(out ** 2) < np.sum(y ** 2)  # a mask of the mixture: never louder
    with pytest.raises(ValueError, match="noise_model"):
        enhance(y, 16000, prior=speech, noise_model="gmm")
    with pytest.raises(ValueError, match="noise_model='diffusion'"):
        enhance(y, 16000, prior=speech, noise_prior=noise)
    with pytest.raises(ValueError, match="zeta"):
        enhance(y, 16000, prior=speech, noise_model="diffusion", noise_prior=noise, coupling="dps", zeta=-1.0)
    with pytest.raises(ValueError, match="coupling='dps'"):
        enhance(y, 16000, prior=speech, noise_model="diffusion", noise_prior=noise, zeta=1.0)  # zeta is DPS's
    with pytest.raises(ValueError, match="make noise-prior"):  # none ships yet: say how to get one
        enhance(y, 16000, prior=speech, noise_model="diffusion")
    with pytest.raises(ValueError, match="posterior score"):
        enhance(y, 16000, prior=speech, noise_model="diffusion", noise_prior=noise, preset="reference")
    with pytest.raises(ValueError, match="coupling must be"):
        enhance(y, 16000, prior=speech, noise_model="diffusion", noise_prior=noise, coupling="joint")
    dps = enhance(y, 16000, prior=speech, noise_model="diffusion", noise_prior=noise, coupling="dps", n_steps=6,
                  n_samples=2)
    assert dps.shape == y.shape and np.sum(dps ** 2) < np.sum(y ** 2)
    with pytest.raises(ValueError, match="noise_prior must be a prior"):
        enhance(y, 16000, prior=speech, noise_model="diffusion", noise_prior="tiny-noise")


def test_separate_returns_one_waveform_per_lip_video_in_order():
    import numpy as np

    import udiffse_lite as ul
    from udiffse_lite.examples import load_example

    a, b = load_example("matched-1"), load_example("mismatched-1")
    L = 16000
    x = a.speech[:L] + b.speech[:L] + 0.01 * np.random.default_rng(0).standard_normal(L).astype(np.float32)
    n_v = ul.spectral.expected_video_frames(L)
    lips = [a.lips[:n_v], b.lips[:n_v]]
    prior = ul.load_pretrained("tiny-av")
    outs = ul.separate(x, 16000, lips=lips, prior=prior, n_steps=4, n_samples=1)
    assert len(outs) == 2 and all(o.shape == (L,) and np.isfinite(o).all() for o in outs)
    assert np.sum(outs[0] ** 2) + np.sum(outs[1] ** 2) < 1.5 * np.sum(x ** 2)
    dps = ul.separate(x, 16000, lips=lips, prior=prior, n_steps=4, n_samples=1, coupling="dps")  # the paper's
    assert len(dps) == 2 and all(o.shape == (L,) and np.isfinite(o).all() for o in dps)
    with pytest.raises(ValueError, match="coupling must be"):
        ul.separate(x, 16000, lips=lips, prior=prior, coupling="joint")
    blind = ul.separate(x, 16000, lips=[None, None], prior=prior, n_steps=4, n_samples=1)  # no lips: null video
    assert len(blind) == 2 and all(o.shape == (L,) and np.isfinite(o).all() for o in blind)
    with pytest.raises(ValueError, match="one lip video per speaker"):
        ul.separate(x, 16000, lips=[], prior=prior)
    with pytest.raises(ValueError, match="audio-visual prior"):
        ul.separate(x, 16000, lips=lips, prior=ul.load_pretrained("tiny-ao"))
    with pytest.raises(ValueError, match="more than 10 % apart"):
        ul.separate(x, 16000, lips=[a.lips[:5], b.lips[:n_v]], prior=prior)



def test_a_gaussian_noise_prior_in_the_score_coupling_is_exactly_udiffse_pseudo_likelihood():
    """With a Gaussian noise prior CN(0, V), the likelihood of enhance(noise_model="diffusion")'s
    default coupling, -score_N(mu_t X - S_t), is UDiffSE's pseudo-likelihood gradient for the
    noise variance V, at every t; and the enhancement approaches the Wiener filter."""
    from udiffse_lite.samplers import (SamplerConfig, diffusion_noise_likelihood, pseudo_likelihood_grad,
                                       udiffse_plus_two_priors)

    var, s, X = sources(1)
    noise = GaussianPrior(var[1])
    lik = diffusion_noise_likelihood(noise, X)
    S = complex_randn((B, F, T), torch.Generator().manual_seed(3)) * 0.3
    for t in (0.05, 0.4, 1.0):
        tt = torch.tensor(t)
        mu, sigma = noise.sde.mean_factor(tt), noise.sde.std(tt)
        torch.testing.assert_close(lik(S, tt), pseudo_likelihood_grad(S, X, var[1], mu, sigma), rtol=1e-4, atol=1e-5)
    est = udiffse_plus_two_priors(GaussianPrior(var[0]), X, noise, cfg=SamplerConfig(n_steps=30, n_samples=B),
                                  generator=torch.Generator().manual_seed(0))
    wiener = var[0] / (var[0] + var[1]) * X
    mmse = (var[0] * var[1] / (var[0] + var[1])).sum()
    err_db = 10 * math.log10(float((est - s[0]).abs().pow(2).sum() / mmse))
    wiener_db = 10 * math.log10(float((wiener - s[0]).abs().pow(2).sum() / mmse))
    assert err_db < wiener_db + 1.0, (err_db, wiener_db)  # within 1 dB of the exact posterior mean's error
    with pytest.raises(ValueError, match="posterior-score"):
        udiffse_plus_two_priors(GaussianPrior(var[0]), X, noise, cfg=SamplerConfig(schedule="reference"))
