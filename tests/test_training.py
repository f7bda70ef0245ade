"""Tests of udiffse_lite.training and udiffse_lite.recipes (tiny networks, synthetic data)."""
import argparse
import os

import numpy as np
import pytest
import torch

from udiffse_lite.priors import ScorePrior
from udiffse_lite.sde import OUVESDE
from udiffse_lite.training import Trainer, TrainConfig, dsm_loss, setup_distributed, step_generator
from udiffse_lite.unet import ScoreUNet, UNetConfig

torch.set_num_threads(1)  # small tensors: one thread avoids spin-waits on a shared CPU

P = 6  # video feature size of the synthetic data
NET = dict(nf=4, ch_mult=(1, 2), num_res_blocks=1, mid_attention=False)  # ~10 k parameters


class Synthetic:
    """Items like CropDataset's: 'audio' (L,) float32 and optionally 'video' (51, P) float32."""

    def __init__(self, n=5, video=True, samples=(64 - 1) * 128):
        self.n, self.video, self.samples = n, video, samples

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(1000 + i)
        item = {"audio": (0.1 * torch.randn(self.samples, generator=g)).numpy()}
        if self.video:
            item["video"] = torch.randn(13, P, generator=g).numpy()
        return item


def make_net(av=True, seed=0):
    torch.manual_seed(seed)
    if av:
        return ScoreUNet(UNetConfig(**NET, video_dim=P, conditioning="cross_attention", attn_dim=8))
    return ScoreUNet(UNetConfig(**NET))


def make_trainer(tmp=None, av=True, steps=4, seed=0, **kw):
    cfg = TrainConfig(batch_size=2, crop_frames=32, steps=steps, seed=seed, val_every=0, ckpt_every=0,
                      p_uncond=0.5 if av else 0.0, lr=1e-3, **kw)
    return Trainer(make_net(av), Synthetic(video=av), cfg, out_dir=tmp, device="cpu", progress=False,
                   meta={"data": "synthetic"})


class ZeroNet(torch.nn.Module):
    downsample_factor = 1
    config = UNetConfig(nf=4, ch_mult=(1,))

    def forward(self, x, t, v=None, uncond_mask=None):
        return torch.zeros_like(x)


def test_dsm_loss_of_zero_network_is_mean_z_squared():
    s = 0.3 * torch.randn(4, 256, 64, dtype=torch.complex64)
    loss = dsm_loss(ZeroNet(), OUVESDE(), s, generator=torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(1.0, abs=0.02)  # E|z|^2 = 1 for circular complex z


def test_dsm_loss_equals_sigma_score_plus_z():
    """The loss is the documented |sigma_t * score(s_t, t) + z|^2 with the prior's own score."""
    sde = OUVESDE()
    net = make_net(av=False).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    prior = ScorePrior(net, sde)
    s = 0.3 * torch.randn(2, 256, 24, dtype=torch.complex64)
    with torch.no_grad():
        loss = dsm_loss(prior, sde, s, generator=torch.Generator().manual_seed(5))
        g = torch.Generator().manual_seed(5)  # replay the same t and z
        t = sde.t_eps + (1 - sde.t_eps) * torch.rand(2, generator=g)
        s_t, z = sde.perturb(s, t, g)
        sigma = sde.std(t)[:, None, None]
        expected = (sigma * prior.score(s_t, t) + z).abs().pow(2).mean()
    assert 0.01 < t.min() and t.max() <= 1
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


def test_dsm_loss_rejects_real_input():
    with pytest.raises(ValueError, match="complex"):
        dsm_loss(ZeroNet(), OUVESDE(), torch.randn(2, 256, 8))


def test_ema_warmup_schedule():
    d = [Trainer.ema_decay_at(k, 0.999) for k in range(20000)]
    assert d[0] == pytest.approx(0.1) and d[8] == pytest.approx(0.5)
    assert max(d) == 0.999 and all(a <= b for a, b in zip(d, d[1:]))
    assert np.prod(d[:50]) < 1e-6  # the initial weights are forgotten within ~50 steps
    assert Trainer.ema_decay_at(0, 0.999, warmup=False) == 0.999


def test_same_seed_gives_identical_weights_and_training_moves_them():
    a, b = make_trainer(steps=3), make_trainer(steps=3)
    init = [p.clone() for p in a.net.parameters()]
    a.train(), b.train()
    for p, q, p0 in zip(a.net.parameters(), b.net.parameters(), init):
        assert torch.equal(p, q)
    for e, f in zip(a.ema.parameters(), b.ema.parameters()):
        assert torch.equal(e, f)
    assert any(not torch.equal(p, p0) for p, p0 in zip(a.net.parameters(), init))
    c = make_trainer(steps=3, seed=1)
    c.train()
    assert any(not torch.equal(p, q) for p, q in zip(a.net.parameters(), c.net.parameters()))


def test_resume_after_n_equals_2n_straight(tmp_path):
    straight = make_trainer(steps=4)
    straight.train()
    first = make_trainer(tmp_path / "run", steps=2)
    first.train()
    resumed = make_trainer(tmp_path / "run", steps=4, seed=0)
    torch.manual_seed(123)  # a fresh process: other init, other global RNG; the checkpoint restores all
    resumed.net.load_state_dict(make_net(seed=7).state_dict())
    assert resumed.load_checkpoint(tmp_path / "run" / "last.pt") == 2
    resumed.train()
    assert resumed.step == 4
    for p, q in zip(straight.net.parameters(), resumed.net.parameters()):
        assert torch.equal(p, q)
    for p, q in zip(straight.ema.parameters(), resumed.ema.parameters()):
        assert torch.equal(p, q)


def test_outputs_prior_checkpoint_and_metadata(tmp_path):
    tr = make_trainer(tmp_path, steps=2)
    tr.cfg.val_every = 1
    meta = tr.train()
    assert (tmp_path / "last.pt").exists() and not list(tmp_path.glob("*.tmp"))
    prior = ScorePrior.from_checkpoint(tmp_path / "prior.pt")
    for key in ("steps", "wall_time_s", "hardware", "val_loss", "data", "train_config"):
        assert key in prior.meta
    assert prior.meta["steps"] == 2 and np.isfinite(prior.meta["val_loss"]) and meta["steps"] == 2
    for p, q in zip(prior.net.parameters(), tr.ema.parameters()):  # the EMA weights are shipped
        assert torch.equal(p, q)
    s = 0.1 * torch.randn(1, 256, 10, dtype=torch.complex64)
    with torch.no_grad():
        assert prior.score(s, 0.5, torch.randn(1, 3, P)).shape == (1, 256, 10)
        assert prior.score(s, 0.5).shape == (1, 256, 10)  # the AV prior also runs audio-only
    with pytest.raises(ValueError, match="net config"):
        Trainer(make_net(av=False), Synthetic(video=False), TrainConfig(), device="cpu").load_checkpoint(
            tmp_path / "last.pt")


def test_batches_crops_and_errors():
    tr = make_trainer()
    first_epoch = tr._indices(0) + tr._indices(1) + tr._indices(2)[:1]
    assert sorted(i for i, _ in first_epoch) == [0, 1, 2, 3, 4] and {e for _, e in first_epoch} == {0}
    assert tr._indices(2)[1][1] == 1  # the 6th sample opens epoch 1
    g = step_generator(0, 0)
    audio = torch.randn(2, (64 - 1) * 128)
    video = torch.arange(13.0)[None, :, None].expand(2, 13, P)
    S, v = tr.make_batch(audio, video, g)
    assert S.shape == (2, 256, 32) and S.abs().amax(dim=(1, 2)).allclose(torch.ones(2))
    assert v.shape == (2, 7, P) and torch.all(v[:, 1:, 0] - v[:, :-1, 0] == 1)  # consecutive frames
    with pytest.raises(ValueError, match="no 'video'"):
        Trainer(make_net(av=True), Synthetic(video=False), TrainConfig(batch_size=2, crop_frames=32),
                device="cpu", progress=False).train_step()
    with pytest.raises(ValueError, match="crop_frames"):
        make_trainer(crop_frames=512) if False else Trainer(
            make_net(av=False), Synthetic(video=False), TrainConfig(batch_size=2, crop_frames=128),
            device="cpu", progress=False).train_step()
    with pytest.raises(ValueError, match="p_uncond"):
        TrainConfig(p_uncond=1.5)


def test_distributed_path_importable_and_single_process_default(monkeypatch):
    from torch.nn.parallel import DistributedDataParallel  # noqa: F401

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert setup_distributed("cpu") == (0, 1, torch.device("cpu"))


def _ddp_worker(rank, world, port, out_dir):
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    tr = make_trainer(out_dir, steps=2)
    tr.train()
    torch.save([p.detach() for p in tr.net.parameters()], os.path.join(out_dir, f"w{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_ddp_two_processes_gloo(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    w0, w1 = (torch.load(tmp_path / f"w{r}.pt") for r in range(2))
    for a, b in zip(w0, w1):
        assert torch.equal(a, b)  # gradients are all-reduced: both ranks hold the same model
    assert (tmp_path / "prior.pt").exists()  # written by rank 0


def test_recipes_and_cli():
    from udiffse_lite import recipes

    assert set(recipes.RECIPES) == {"tiny-ao-v1", "tiny-ao", "tiny-ao-voices", "tiny-ao-cont", "tiny-ao-snr", "tiny-ao-edm", "tiny-av-film1", "tiny-av", "tiny-av-edm", "tiny-av-ln", "tiny-av-faces", "tiny-resynth-film1", "tiny-resynth-image", "tiny-resynth-zpred", "tiny-resynth", "tiny-resynth-ft", "tiny-av-xattn", "tiny-noise", "tiny-noise-gain", "tiny-noise-gauss", "tiny-noise-edm", "tiny-noise-synth", "tiny-noise-synth7", "colab-noise",
                                    "colab-ao", "colab-av",
                                    "paper-ao", "paper-av"}
    for name, r in recipes.RECIPES.items():
        assert r.audio_visual == ("-av" in name or name.startswith("tiny-resynth"))  # the re-synthesiser is conditioned too
        assert r.train.crop_frames in (128, 256)
        assert (r.train.p_uncond > 0) == r.audio_visual
    net = recipes.build_net(recipes.get_recipe("tiny-av"), video_dim=P)
    assert net.config.conditioning == "film" and 1e6 < net.n_params() < 3e6
    net = recipes.build_net(recipes.get_recipe("tiny-av-xattn"), video_dim=P)
    assert net.config.conditioning == "cross_attention" and 1e6 < net.n_params() < 3e6
    with pytest.raises(ValueError, match="video_dim"):
        recipes.build_net(recipes.get_recipe("tiny-av"))
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.get_recipe("huge-av")
    parser = argparse.ArgumentParser()
    recipes.add_cli(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["train", "--config", "tiny-av", "--corpus", "c", "--features", "lips",
                              "--out", "runs/x", "--steps", "5", "--resume", "--max-minutes", "1.5",
                              "--device", "cpu"])
    assert args.func is recipes.train_from_args
    assert (args.steps, args.resume, args.max_minutes, args.device) == (5, True, 1.5, "cpu")


def test_cpu_bf16_autocast_speed_perturbation_and_lr_schedule():
    """The CPU training path of the tiny recipes: bf16 autocast trains (loss falls, like fp32), the
    speed perturbation keeps audio and video on one clock, and the lr follows warm-up + cosine."""
    from udiffse_lite.training import speed_perturb, step_generator

    torch.manual_seed(0)
    losses = {}
    for amp in ("none", "bf16"):
        net = make_net(av=False)
        cfg = TrainConfig(batch_size=2, crop_frames=32, steps=12, seed=0, val_every=0, ckpt_every=0, amp=amp,
                          lr=1e-3, speed_perturb=0.1)
        tr = Trainer(net, Synthetic(video=False), cfg, device="cpu", progress=False)
        assert (tr.amp_dtype is torch.bfloat16) == (amp == "bf16")
        losses[amp] = [tr.train_step() for _ in range(12)]
    for amp, ls in losses.items():
        assert np.mean(ls[-4:]) < np.mean(ls[:4]), amp
    assert abs(np.mean(losses["bf16"]) - np.mean(losses["none"])) < 0.1
    # "native" (the recipes'): bf16 only on a CPU that runs it natively, else float32 -- emulated
    # bf16 is several times slower than float32 on a CPU without AMX-BF16
    from udiffse_lite.priors import bf16_is_fast

    tr = Trainer(make_net(av=False), Synthetic(video=False), TrainConfig(amp="native", val_every=0, ckpt_every=0),
                 device="cpu", progress=False)
    assert tr.amp_dtype is (torch.bfloat16 if bf16_is_fast("cpu") else None)
    with pytest.raises(ValueError, match="'native'"):
        TrainConfig(amp="bf17")

    # speed perturbation: a 2x-long item played 10 % faster is 1/1.1 as long, video follows
    audio = torch.randn(2, 64000)
    video = torch.arange(100.0)[None, :, None].expand(2, 100, 3).clone()
    a, v = speed_perturb(audio, video, 0.1, step_generator(0, 0))
    assert 64000 / 1.1 - 10 <= a.shape[1] <= 64000 / 0.9 + 10
    assert v.shape[1] == -(-a.shape[1] // 640)
    assert torch.all(v[:, 1:, 0] >= v[:, :-1, 0])  # original frame indices, in order

    cfg = TrainConfig(lr=1e-3, steps=1000, lr_warmup=100, lr_decay="cosine", lr_min_ratio=0.1)
    tr = Trainer(make_net(av=False), Synthetic(video=False), cfg, device="cpu", progress=False)
    assert tr.lr_at(0) == pytest.approx(1e-5) and tr.lr_at(99) == pytest.approx(1e-3)
    assert tr.lr_at(550) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5), rel=1e-6)
    assert tr.lr_at(999) == pytest.approx(1e-4, rel=1e-3)
    with pytest.raises(ValueError, match="fp16"):
        Trainer(make_net(av=False), Synthetic(video=False), TrainConfig(amp="fp16"), device="cpu")


def test_snr_loss_weight_emphasises_large_t_and_keeps_the_noise_loss_by_default():
    from udiffse_lite.sde import OUVESDE
    from udiffse_lite.training import loss_weight

    sde = OUVESDE()
    t = torch.tensor([0.03, 0.5, 1.0])
    torch.testing.assert_close(loss_weight(sde, t, "noise"), torch.ones(3))
    w = loss_weight(sde, t, "snr")
    assert w[0] == pytest.approx(1.0, abs=0.01) and w[2] == pytest.approx(1 + (0.389 / 0.223) ** 2, rel=0.02)
    e = loss_weight(sde, t, "edm")  # EDM: the clean-data error in units of sigma_data at large t
    assert e[0] == pytest.approx(1.0, abs=0.02) and e[2] == pytest.approx(1 + (0.389 / 0.223 / 0.2) ** 2, rel=0.02)
    assert torch.all(e[1:] > w[1:])
    with pytest.raises(ValueError, match="loss_weight"):
        TrainConfig(loss_weight="x0")
    # with equal per-sample errors the weighted loss equals the plain one (a weighted mean)
    net = make_net(av=False)
    g = torch.Generator().manual_seed(0)
    s = torch.complex(torch.randn(4, 256, 32, generator=g), torch.randn(4, 256, 32, generator=g)) * 0.1
    tt = torch.full((4,), 0.5)
    a = dsm_loss(net, sde, s, None, torch.Generator().manual_seed(1), t=tt)
    b = dsm_loss(net, sde, s, None, torch.Generator().manual_seed(1), t=tt, weight="snr")
    torch.testing.assert_close(a, b)


def test_crop_gain_scales_each_normalised_crop_by_a_random_gain_in_range():
    """crop_gain_db: each crop's max |S| (1 after normalise) becomes 10^(-g/20), g uniform in
    [0, crop_gain_db]: spread over the range, never outside it; 0 keeps every crop at 1; not at validation."""
    from udiffse_lite.training import step_generator

    audio = 0.1 * torch.randn(64, 16000)
    peaks = {}
    for gain_db in (0.0, 20.0):
        cfg = TrainConfig(batch_size=64, crop_frames=32, crop_gain_db=gain_db)
        tr = Trainer(make_net(av=False), Synthetic(video=False), cfg, device="cpu", progress=False)
        S, _ = tr.make_batch(audio, None, step_generator(0, 0))
        peaks[gain_db] = S.abs().amax(dim=(1, 2))
        S_val, _ = tr.make_batch(audio, None, step_generator(0, 0), augment=False)
        torch.testing.assert_close(S_val.abs().amax(dim=(1, 2)), torch.ones(64))
    torch.testing.assert_close(peaks[0.0], torch.ones(64))
    db = 20 * torch.log10(peaks[20.0])
    assert db.max() <= 1e-5 and db.min() >= -20 - 1e-4
    assert db.max() > -4 and db.min() < -16 and 4.5 < float(db.std()) < 7  # uniform on [-20, 0]: sd 5.8
    with pytest.raises(ValueError, match="crop_gain_db"):
        TrainConfig(crop_gain_db=-3)


def test_gaussian_texture_replaces_a_fraction_of_crops_by_gaussian_noise_of_their_spectrum():
    """gaussian_crops = p: about p of the crops become CN(0, 1) noise scaled by the crop's own
    long-term magnitude per frequency (same mean power per bin, Gaussian statistics: E|z|^4 / (E|z|^2)^2
    = 2); the rest are untouched; p = 0 changes nothing; values outside [0, 1] are refused."""
    from udiffse_lite.training import gaussian_texture, step_generator

    g = torch.Generator().manual_seed(0)
    # a crop with texture: a strong line at bin 40 in every frame, a weak floor elsewhere
    S = 0.01 * torch.complex(torch.randn(400, 64, 32, generator=g), torch.randn(400, 64, 32, generator=g))
    S[:, 40, :] += 1.0
    out = gaussian_texture(S, 0.25, step_generator(0, 0))
    changed = (out != S).any(dim=(1, 2))
    assert 0.18 < float(changed.float().mean()) < 0.32
    torch.testing.assert_close(out[~changed], S[~changed])
    R = out[changed]
    p_in, p_out = S[changed].abs().pow(2).mean(dim=(0, 2)), R.abs().pow(2).mean(dim=(0, 2))
    assert torch.allclose(p_out.log(), p_in.log(), atol=0.15)  # same power per frequency
    line = R[:, 40, :].abs().pow(2)
    assert 1.8 < float(line.pow(2).mean() / line.mean() ** 2) < 2.2  # the line is now Gaussian: kurtosis 2
    assert torch.equal(gaussian_texture(S, 0.0, step_generator(0, 0)), S)
    with pytest.raises(ValueError, match="gaussian_crops"):
        TrainConfig(gaussian_crops=1.5)


def _vowel(f0: float, formants, seconds: float = 1.0, sr: int = 16000) -> np.ndarray:
    """A harmonic vowel: harmonics of f0 weighted by resonances at ``formants`` (Hz, 120 Hz wide)."""
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for k in range(1, int(7000 / f0)):
        f = k * f0
        amp = sum(1.0 / (1.0 + ((f - fm) / 120.0) ** 2) for fm in formants) + 1e-3
        y += amp * np.sin(2 * np.pi * f * t + 0.7 * k)
    return (y / np.abs(y).max()).astype(np.float32)


def _envelope_peak_and_f0(y: np.ndarray) -> tuple[float, float]:
    from udiffse_lite.training import spectral_envelope

    win = torch.hann_window(512)
    X = torch.stft(torch.from_numpy(y)[None], 512, 128, window=win, return_complex=True)[0, :, 10:-10]
    env = spectral_envelope(torch.log(X.abs().clamp_min(1e-7)), 512, 30).mean(-1)  # (257,)
    peak = float(env[8:].argmax() + 8) * 16000 / 512
    seg = y[2000:10000]
    r = [float(np.dot(seg, y[2000 + k:10000 + k])) for k in range(40, 200)]
    lag = 40 + int(np.argmax(r))  # the strongest period between 80 and 400 Hz
    return peak, 16000 / lag


def test_formant_shift_moves_the_envelope_and_keeps_the_pitch():
    """Vocal-tract perturbation: a vowel with one formant at 1 kHz, warped by a near 1.14 and near 0.86,
    has its envelope peak at a times 1 kHz, the same f0 and the same length; x = 0 is the identity
    up to the STFT round trip; the factors follow the step's generator; bad x is refused."""
    from udiffse_lite.training import formant_shift

    y = _vowel(125.0, [1000.0])
    peak0, f00 = _envelope_peak_and_f0(y)
    assert abs(peak0 - 1000) < 40 and abs(f00 - 125) < 2
    # a generator whose first draw gives a = 1 + 0.15 (2u - 1); find u's for a high and a low factor
    tried = set()
    for seed in range(50):
        u = float(torch.rand(1, generator=torch.Generator().manual_seed(seed)))
        if (u > 0.95 and "up" not in tried) or (u < 0.05 and "down" not in tried):
            tried.add("up" if u > 0.5 else "down")
            a = 1 + 0.15 * (2 * u - 1)
            out = formant_shift(torch.from_numpy(y)[None], 0.15, torch.Generator().manual_seed(seed))[0].numpy()
            assert out.shape == y.shape
            peak, f0 = _envelope_peak_and_f0(out)
            # the envelope is re-estimated from harmonics 125 Hz apart: within 0.6 f0 of a x 1 kHz
            # (a shift the wrong way or none would miss by > 130 Hz)
            assert abs(peak - 1000 * a) < 75, (a, peak)
            assert abs(f0 - 125) < 2, (a, f0)
    assert tried == {"up", "down"}
    same = formant_shift(torch.from_numpy(y)[None], 1e-9, torch.Generator().manual_seed(0))[0].numpy()
    assert np.abs(same - y)[1000:-1000].max() < 1e-3
    with pytest.raises(ValueError, match="formant_shift"):
        TrainConfig(formant_shift=0.6)
    # in training: the same batch shapes as without it (same clock, so the video crop still fits)
    kw = dict(batch_size=2, crop_frames=32, steps=1, seed=0, val_every=0, ckpt_every=0)
    tr = Trainer(make_net(av=True), Synthetic(video=True), TrainConfig(**kw, formant_shift=0.1), device="cpu",
                 progress=False)
    tr0 = Trainer(make_net(av=True), Synthetic(video=True), TrainConfig(**kw), device="cpu", progress=False)
    audio, video = tr._load(tr._indices(0), tr.train_set)
    (S, v), (S0, v0) = tr.make_batch(audio, video, step_generator(0, 0)), tr0.make_batch(audio, video,
                                                                                          step_generator(0, 0))
    assert S.shape == S0.shape and v.shape == v0.shape and np.isfinite(tr.train_step())


def test_noise_synth_recipe_trains_on_fresh_clips_and_validates_on_the_library(tiny_corpus, tmp_path):
    """`train --config tiny-noise-synth`: the noise prior draws generated clips of its six types (never
    babble or clatter) and keeps the library's held-out clips for the validation loss."""
    import json

    from udiffse_lite import recipes

    parser = argparse.ArgumentParser()
    recipes.add_cli(parser.add_subparsers(dest="cmd"))
    out = tmp_path / "noise"
    args = parser.parse_args(["train", "--config", "tiny-noise-synth", "--corpus", tiny_corpus, "--out", str(out),
                              "--steps", "2"])
    args.func(args)
    card = json.loads((out / "model_card.json").read_text())
    assert card["data"]["kind"] == "noise-synth"
    assert set(card["noise_types"]) == {"white", "pink", "brown", "hum", "traffic", "ventilation"}
    assert (out / "prior.pt").exists() and (out / "last.pt").exists()
