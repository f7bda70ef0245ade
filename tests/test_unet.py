"""Tests of the score U-Net (udiffse_lite.unet)."""
import math

import pytest
import torch

from udiffse_lite.priors import ScorePrior
from udiffse_lite.unet import ScoreUNet, UNetConfig, attention

torch.set_num_threads(1)  # small tensors: one thread avoids spin-waits on a shared CPU

SMALL = dict(nf=8, ch_mult=(1, 2, 2), num_res_blocks=1, n_freq=64)  # factor 4, ~60 k parameters: fast


def small_net(seed=0, **kw):
    torch.manual_seed(seed)
    return ScoreUNet(UNetConfig(**{**SMALL, **kw}))


def randomise(net, seed=1, std=0.1):
    """Give the (near-)zero-initialised output layers real weights so every path matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.add_(std * torch.randn(p.shape, generator=g))
    return net.eval()


def inputs(B=2, F=64, T=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 2, F, T, generator=g), 0.03 + 0.97 * torch.rand(B, generator=g)


@pytest.mark.parametrize("F,T", [(256, 8), (64, 4), (64, 32), (32, 12), (128, 40)])
def test_output_shape_audio_only(F, T):
    net = small_net()
    x, t = inputs(F=F, T=T)
    with torch.no_grad():
        assert net(x, t).shape == (2, 2, F, T)


@pytest.mark.parametrize("T", [1, 5, 17, 37])
def test_scoreprior_pads_time_not_a_multiple(T):
    net = small_net()
    prior = ScorePrior(net)
    s = torch.randn(2, 64, T, dtype=torch.complex64)
    with torch.no_grad():
        score = prior.score(s, 0.5)
    assert score.shape == (2, 64, T) and score.dtype == torch.complex64


def test_bad_shapes_raise_clear_errors():
    net = small_net()
    x, t = inputs(T=10)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(x, t)
    with pytest.raises(ValueError, match="real/imag"):
        net(torch.randn(2, 3, 256, 16), t)
    with pytest.raises(ValueError, match="video_dim"):
        UNetConfig(conditioning="cross_attention")
    with pytest.raises(ValueError, match="conditioning"):
        UNetConfig(conditioning="concat", video_dim=4)
    with pytest.raises(ValueError, match="unknown tier"):
        UNetConfig.tier("huge")


@pytest.mark.parametrize("conditioning", ["cross_attention", "film"])
def test_video_changes_output_and_none_runs(conditioning):
    net = randomise(small_net(video_dim=6, conditioning=conditioning, attn_dim=16))
    x, t = inputs(T=20)
    g = torch.Generator().manual_seed(3)
    v1, v2 = torch.randn(2, 4, 6, generator=g), torch.randn(2, 4, 6, generator=g)
    with torch.no_grad():
        o1, o2, o_none = net(x, t, v1), net(x, t, v2), net(x, t, None)
        o_mask = net(x, t, v1, uncond_mask=torch.tensor([True, False]))
    assert o1.shape == o_none.shape == (2, 2, 64, 20)
    assert (o1 - o2).abs().max() > 1e-4, "changing the video must change the output"
    assert (o1 - o_none).abs().max() > 1e-4
    # a dropped sample is exactly the audio-only path, the other one keeps its video
    torch.testing.assert_close(o_mask[0], o_none[0])
    torch.testing.assert_close(o_mask[1], o1[1])
    # the batch of v may be 1 and broadcast
    with torch.no_grad():
        torch.testing.assert_close(net(x[:1], t[:1], v1[:1]), o1[:1], rtol=1e-4, atol=1e-5)


def test_video_errors():
    net = small_net(video_dim=6, conditioning="cross_attention")
    x, t = inputs(T=8)
    with pytest.raises(ValueError, match=r"\(B, T_v, 6\)"):
        net(x, t, torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="64"):
        net(torch.randn(1, 2, 32, 8), t[:1], torch.randn(1, 4, 6))


def test_attention_matches_manual_and_unscaled_flag():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 1, 7, 5, generator=g) for _ in range(3))
    ref = torch.softmax(q @ k.transpose(-2, -1) / 5 ** 0.5, -1) @ v
    torch.testing.assert_close(attention(q, k, v, 5 ** -0.5), ref)
    a = randomise(small_net(video_dim=6, conditioning="cross_attention"))
    b = small_net(video_dim=6, conditioning="cross_attention", attn_unscaled=True)
    b.load_state_dict(a.state_dict())
    x, t = inputs(T=8)
    vv = 3 * torch.randn(2, 4, 6, generator=g)
    with torch.no_grad():
        assert (a(x, t, vv) - b.eval()(x, t, vv)).abs().max() > 1e-5


def test_time_embedding_matters_and_determinism():
    net = randomise(small_net())
    x, t = inputs(T=8)
    with torch.no_grad():
        o1 = net(x, t)
        assert (o1 - net(x, t * 0.5)).abs().max() > 1e-5
        torch.testing.assert_close(o1, net(x, t), rtol=0, atol=0)  # same input, same output
    net2 = randomise(small_net())  # same seeds, same weights
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, q)


def test_checkpoint_roundtrip(tmp_path):
    net = randomise(small_net(video_dim=6, conditioning="film"))
    prior = ScorePrior(net)
    prior.save(tmp_path / "p.pt", steps=1)
    loaded = ScorePrior.from_checkpoint(tmp_path / "p.pt")
    s = torch.randn(2, 64, 9, dtype=torch.complex64)
    v = torch.randn(2, 3, 6)
    with torch.no_grad():
        torch.testing.assert_close(loaded.score(s, 0.4, v), prior.eval().score(s, 0.4, v))


def test_param_counts_per_tier():
    counts = {}
    for tier in ("tiny", "colab", "paper"):
        for vd in (0, 768 if tier == "paper" else 128):
            cfg = UNetConfig.tier(tier, video_dim=vd)
            net = ScoreUNet(cfg)
            counts[(tier, vd)] = net.n_params()
            assert net.downsample_factor == 2 ** (len(cfg.ch_mult) - 1)
    for k, n in counts.items():
        print(f"{k[0]:6s} video_dim={k[1]:4d}: {n / 1e6:.3f} M parameters")
    assert 1e6 <= counts[("tiny", 0)] <= 3e6
    assert 1e6 <= counts[("tiny", 128)] <= 3e6
    assert 8e6 <= counts[("colab", 0)] <= 12e6
    assert abs(counts[("paper", 0)] / 27.7e6 - 1) < 0.01
    assert abs(counts[("paper", 768)] / 29.4e6 - 1) < 0.01


def test_zero_init_cross_attention_starts_as_the_audio_only_network(tmp_path):
    """With the default zero-initialised gain an AV network warm-started from an AO one computes
    exactly the AO function whatever the video; the reference initialisation does not."""
    from udiffse_lite.priors import ScorePrior
    from udiffse_lite.recipes import warm_start

    torch.manual_seed(0)
    ao = randomise(small_net())
    path = ScorePrior(ao).save(tmp_path / "ao.pt")
    x, t = torch.randn(2, 2, 64, 16), torch.tensor([0.3, 0.8])
    v1, v2 = torch.randn(2, 5, 6), torch.randn(2, 5, 6)
    av = small_net(video_dim=6, conditioning="cross_attention", attn_dim=16)
    assert warm_start(av, path) == len(ao.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(av(x, t, v1), ao(x, t, None))
        torch.testing.assert_close(av(x, t, v2), ao(x, t, None))
    ref = small_net(video_dim=6, conditioning="cross_attention", attn_dim=16, xattn_zero_init=False)
    warm_start(ref, path)
    with torch.no_grad():
        assert (ref(x, t, v1) - ao(x, t, None)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="does not fit"):
        warm_start(small_net(nf=12), path)  # another width: shapes differ


def test_video_norm_makes_the_conditioning_blind_to_the_feature_scale(tmp_path):
    """video_norm: each frame's features are layer-normalised, so scaling them changes nothing;
    without it the same scaling changes the output. Checkpoints from before the flag still load."""
    x, t = inputs(T=20)
    v = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(3)) + 0.8
    normed = randomise(small_net(video_dim=6, conditioning="film", video_norm=True))
    plain = randomise(small_net(video_dim=6, conditioning="film"))
    with torch.no_grad():
        torch.testing.assert_close(normed(x, t, 5 * v), normed(x, t, v), rtol=1e-4, atol=1e-5)
        assert (plain(x, t, 5 * v) - plain(x, t, v)).abs().max() > 1e-3
        assert (normed(x, t, v) - normed(x, t, None)).abs().max() > 1e-4
    old = ScorePrior(plain).save(tmp_path / "old.pt")
    assert ScorePrior.from_checkpoint(old).net.video_norm is None


def test_edm_preconditioning_with_a_silent_body_is_the_gaussian_denoiser():
    """precond="edm" with the body's output forced to 0 must be the exact noise prediction of the
    Gaussian prior CN(0, sigma_data^2), i.e. ``-sigma_t * GaussianPrior.score``."""
    from udiffse_lite.priors import GaussianPrior
    from udiffse_lite.sde import OUVESDE, complex_randn

    cfg = UNetConfig(nf=8, ch_mult=(1, 2), n_freq=16, precond="edm")
    net = ScoreUNet(cfg)
    net._body = lambda x, t, v=None, m=None: torch.zeros_like(x)
    sde = OUVESDE()
    gauss = GaussianPrior(torch.full((16, 8), cfg.sigma_data ** 2))
    s_t = complex_randn((3, 16, 8), torch.Generator().manual_seed(0))
    t = torch.tensor([0.05, 0.5, 1.0])
    out = net(torch.stack([s_t.real, s_t.imag], 1), t)
    want = -sde.std(t).view(3, 1, 1) * gauss.score(s_t, t)
    torch.testing.assert_close(torch.complex(out[:, 0], out[:, 1]), want, rtol=1e-4, atol=1e-5)


def test_edm_preconditioning_checks_the_sde():
    from udiffse_lite.priors import ScorePrior
    from udiffse_lite.sde import OUVESDE

    net = ScoreUNet(UNetConfig(nf=8, ch_mult=(1, 2), n_freq=16, precond="edm"))
    with pytest.raises(ValueError, match="preconditioning assumes"):
        ScorePrior(net, OUVESDE(theta=2.0))
    with pytest.raises(ValueError, match="precond must be"):
        UNetConfig(precond="ve")


def test_cond_image_starts_as_plain_film_and_then_reads_the_features_per_bin():
    """cond_image adds a frequency-resolved image of the features at the input level: zero-initialised
    it is exactly the FiLM network, and once trained the output depends on the features through it."""
    torch.manual_seed(0)
    base = UNetConfig.tier("tiny", video_dim=16, conditioning="film", video_norm=True)
    plain = ScoreUNet(base)
    img = ScoreUNet(UNetConfig.tier("tiny", video_dim=16, conditioning="film", video_norm=True, cond_image=2))
    missing, unexpected = img.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("cond_img") for k in missing)
    x, t = torch.randn(2, 2, 256, 16), torch.tensor([0.3, 0.8])
    v = torch.randn(2, 4, 16)
    with torch.no_grad():
        torch.testing.assert_close(img(x, t, v), plain(x, t, v))
    # the FiLM blocks start at zero too, so only the image path can carry the features at first
    out = img(x, t, v).pow(2).sum()
    out.backward()
    assert img.cond_img_in.weight.grad.abs().sum() > 0
    with torch.no_grad():
        img.cond_img_in.weight.normal_()
        v2 = torch.randn(2, 4, 16)  # (a constant shift of v would be normalised away)
        torch.testing.assert_close(plain(x, t, v), plain(x, t, v2))  # zero-initialised FiLM: blind
        a, b = img(x, t, v), img(x, t, v2)
    assert (a - b).abs().max() > 1e-6  # (tiny: the output convolutions start near zero)
    with pytest.raises(ValueError, match="needs conditioning='film'"):
        UNetConfig.tier("tiny", video_dim=16, conditioning="cross_attention", cond_image=2)


def test_envelope_head_aligns_video_frames_to_stft_frames_and_feeds_the_network():
    """Each 25 fps feature frame k gives STFT frames 5k..5k+4 (the video_to_stft_frames alignment);
    two kernel-3 convolutions see two frames either side, so changing frame k moves exactly the STFT
    frames 5(k-2) .. 5(k+3)-1. The network's output depends on the features through the envelope
    image from the first step (FiLM starts at zero)."""
    torch.manual_seed(0)
    net = ScoreUNet(UNetConfig.tier("tiny", video_dim=16, conditioning="film", video_norm=True, envelope=True))
    T, k = 40, 4  # 40 STFT frames <- 8 video frames
    v = torch.randn(1, 8, 16)
    v2 = v.clone()
    v2[0, k] = torch.randn(16)
    with torch.no_grad():
        e, e2 = net.envelope(v, T), net.envelope(v2, T)
        assert e.shape == (1, 256, T)
        changed = ((e - e2).abs().amax(dim=1) > 1e-6)[0].nonzero().flatten().tolist()
        assert changed == list(range(5 * (k - 2), 5 * (k + 3)))
        assert net.envelope(v, 47).shape[-1] == 47  # longer than the video: the last frame repeats
        torch.testing.assert_close(net.envelope(v, 47)[..., 40:], net.envelope(v, 47)[..., 39:40].expand(-1, -1, 7))
        x, t = torch.randn(1, 2, 256, T), torch.tensor([0.5])
        assert (net(x, t, v) - net(x, t, v2)).abs().max() > 1e-6
    with pytest.raises(ValueError, match="needs conditioning='film'"):
        UNetConfig.tier("tiny", video_dim=16, conditioning="cross_attention", envelope=True)
    with pytest.raises(ValueError, match="no envelope head"):
        ScoreUNet(UNetConfig.tier("tiny", video_dim=16, conditioning="film")).envelope(v, T)


def test_envelope_loss_known_answers():
    """The target is (ln(|S| + 1e-3) + 4) / 1.7; the loss is the mean absolute error over the samples
    that kept their video (condition-dropped ones do not count)."""
    from udiffse_lite.training import envelope_loss
    from udiffse_lite.unet import envelope_target

    s = torch.full((1, 3, 2), 1.0 + 0j, dtype=torch.complex64)
    torch.testing.assert_close(envelope_target(s), torch.full((1, 3, 2), (math.log(1.001) + 4.0) / 1.7))
    torch.manual_seed(1)
    net = ScoreUNet(UNetConfig.tier("tiny", video_dim=8, conditioning="film", envelope=True))
    S = torch.randn(3, 256, 20, dtype=torch.complex64)
    v = torch.randn(3, 4, 8)
    with torch.no_grad():
        per = [float((net.envelope(v[i:i + 1], 20) - envelope_target(S[i:i + 1])).abs().mean()) for i in range(3)]
        assert float(envelope_loss(net, S, v)) == pytest.approx(sum(per) / 3, rel=1e-5)
        mask = torch.tensor([True, False, True])
        assert float(envelope_loss(net, S, v, mask)) == pytest.approx(per[1], rel=1e-5)


def test_envelope_preconditioning_starts_as_the_gaussian_denoiser_of_the_predicted_envelope():
    """precond='envelope' is EDM's preconditioning with a per-bin sigma_data from the envelope head:
    the freshly built network (zero output layer) is exactly the score of CN(0, exp(1.7 e - 4)^2)."""
    from udiffse_lite.priors import GaussianPrior
    from udiffse_lite.sde import OUVESDE

    torch.manual_seed(0)
    net = ScoreUNet(UNetConfig.tier("tiny", video_dim=8, conditioning="film", envelope=True, precond="envelope"))
    sde = OUVESDE()
    T = 16
    v = torch.randn(1, 4, 8)
    with torch.no_grad():
        var = torch.exp(net.envelope(v, T)[0] * 1.7 - 4.0) ** 2  # (F, T)
        g = GaussianPrior(var)
        s_t = (torch.randn(1, 256, T) + 1j * torch.randn(1, 256, T)).to(torch.complex64) * 0.1
        for t in (0.1, 0.5, 1.0):
            z = net(torch.stack([s_t.real, s_t.imag], dim=1), torch.tensor([t]), v)
            score = -torch.complex(z[:, 0], z[:, 1]) / sde.std(torch.tensor(t))
            torch.testing.assert_close(score, g.score(s_t, t), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="needs the envelope head"):
        UNetConfig.tier("tiny", video_dim=8, conditioning="film", precond="envelope")
