"""The noise-robust AV encoder of re-synthesis (udiffse_lite.robust_features)."""
import shutil

import numpy as np
import pytest
import torch

from udiffse_lite import robust_features as rf
from udiffse_lite.spectral import SR, VIDEO_FPS


def test_mel_filterbank_tiles_the_band_and_peaks_in_order():
    fb = rf.mel_filterbank(40)
    assert fb.shape == (40, 256) and (fb >= 0).all()
    peaks = fb.argmax(1)
    assert (peaks[1:] >= peaks[:-1]).all()  # centres rise with the filter index
    # inside the covered band, neighbouring triangles overlap so every bin is weighted
    assert (fb[:, 5:250].sum(0) > 0).all()
    with pytest.raises(ValueError, match="fmin < fmax"):
        rf.mel_filterbank(40, fmin=9000.0)


def test_log_mel_puts_a_tone_in_the_right_band():
    t = np.arange(SR) / SR
    m = rf.log_mel(torch.from_numpy(np.sin(2 * np.pi * 1000 * t).astype(np.float32)))
    assert m.shape == (126, 40)  # 1 + 16000 // 128 centred frames
    centre = rf.mel_filterbank(40)[:, round(1000 / (SR / 510))].argmax()
    assert (m[10:-10].argmax(1) == centre).all()


def test_stack_frames_groups_five_frames_per_video_frame():
    m = torch.arange(12 * 2, dtype=torch.float32).reshape(12, 2)
    s = rf.stack_frames(m, 3)  # needs 15 frames: the last one is repeated
    assert rf.STACK == 5 and s.shape == (3, 10)
    torch.testing.assert_close(s[0], m[:5].reshape(-1))
    torch.testing.assert_close(s[2, -2:], m[-1])


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    C = rf.kmeans(X, 3)
    d = torch.cdist(centres, C)
    assert (d.min(1).values < 0.1).all()
    with pytest.raises(ValueError, match="at least k"):
        rf.kmeans(X[:2], 3)


def test_phone_labels_follow_the_timings():
    row = {"phoneset": "sampa", "phones": [["a", 0.0, 0.1], ["b", 0.1, 0.2], ["zz", 0.2, 0.3]]}
    lab = rf.phone_labels(row, 10, {"sampa:a": 0, "sampa:b": 1})
    # video frames centred at 0.02, 0.06, 0.10 (b starts), 0.14, ...: unknown "zz" and the tail are ignored
    assert lab.tolist() == [0, 0, 1, 1, 1, -100, -100, -100, -100, -100]


def test_encoder_runs_with_either_modality_and_rejects_misaligned_input():
    enc = rf.RobustAVEncoder(rf.RobustAVConfig(n_phones=7))
    a, v = torch.randn(2, 9, rf.STACK * 40), torch.randn(2, 9, 64)
    for audio, video in ((a, v), (a, None), (None, v)):
        assert enc(audio, video).shape == (2, 9, 128)
    with pytest.raises(ValueError, match="needs audio, video or both"):
        enc(None, None)
    with pytest.raises(ValueError, match="align them"):
        enc(a, v[:, :5])
    y = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    assert enc.features(y).shape == (int(SR / SR * VIDEO_FPS), 128)
    with pytest.raises(ValueError, match="16000 Hz"):
        enc.features(y, sr=8000)


def test_save_load_roundtrip(tmp_path):
    enc = rf.RobustAVEncoder(rf.RobustAVConfig(n_phones=3, phones=["x:a", "x:b", "x:c"]))
    rf.save_robust_encoder(enc, str(tmp_path / "r.pt"), {"note": 1})
    enc2 = rf.load_robust_encoder(str(tmp_path / "r.pt"))
    a = torch.randn(1, 4, rf.STACK * 40)
    with torch.no_grad():
        torch.testing.assert_close(enc(a, None), enc2(a, None))
    assert enc2.config.phones == ["x:a", "x:b", "x:c"] and enc2.meta == {"note": 1}
    with pytest.raises(FileNotFoundError, match="robust-av train"):
        rf.load_robust_encoder(str(tmp_path / "missing.pt"))


def test_short_training_learns_and_reports(tiny_corpus, tmp_path):
    """A few steps on the tiny corpus: the loss falls, the checkpoint loads, the report is complete."""
    from udiffse_lite import visual

    corpus = str(tmp_path / "c")
    shutil.copytree(tiny_corpus, corpus)
    lips = visual.load_lip_encoder()
    for split in ("train", "valid"):
        visual.extract_features(corpus, lips, f"{corpus}/features/lips", split=split)
    cfg = rf.RobustTrainConfig(steps=30, batch=4, clip_frames=20, lr=3e-3)
    enc, rep = rf.train_robust_encoder(corpus, str(tmp_path / "r.pt"), cfg,
                                       rf.RobustAVConfig(n_clusters=8, width=32, layers=2), progress=False)
    assert rep["final_loss"] < np.log(8) + np.log(enc.config.n_phones)  # below chance for both heads
    enc = rf.load_robust_encoder(str(tmp_path / "r.pt"))
    r = rf.invariance_report(enc, corpus, "valid", snrs=(0,), limit=3)
    assert set(r) == {"clean AV", "clean audio only", "video only", "noisy AV +0 dB", "noisy audio only +0 dB"}
    assert r["clean AV"]["distance"] == 0.0
    assert all(0 <= v["cluster_acc"] <= 1 and v["distance"] >= 0 for v in r.values())
    assert "| noisy AV +0 dB |" in rf.report_markdown(r, r)
    n_valid = len(rf._utterances(corpus, "valid"))
    assert rf.extract_robust_features(corpus, enc, str(tmp_path / "f"), splits=("valid",)) == n_valid
    f = np.load(next((tmp_path / "f" / "valid").glob("*.npy")))
    assert f.shape[1] == 32 and f.dtype == np.float32
    # the fine-tuning pairs: features of a noisy version of each utterance, same layout, other values
    assert rf.extract_robust_features(corpus, enc, str(tmp_path / "fn"), splits=("valid",), noisy_snr=(-5, 0)) == n_valid
    name = sorted((tmp_path / "f" / "valid").glob("*.npy"))[0].name
    clean, noisy = np.load(tmp_path / "f" / "valid" / name), np.load(tmp_path / "fn" / "valid" / name)
    assert clean.shape == noisy.shape and not np.allclose(clean, noisy)
    with pytest.raises(ValueError, match="lo <= hi"):
        rf.extract_robust_features(corpus, enc, str(tmp_path / "fx"), noisy_snr=(5, -5))


def test_shipped_encoder_is_small_and_more_invariant_than_an_untrained_one(tiny_corpus, tmp_path):
    """On unseen utterances (the tiny corpus' valid split), the shipped encoder's features of noisy
    AV input lie closer to its clean AV features than an untrained encoder's do, at every SNR, and
    the lips help the phone head under noise (noisy AV beats noisy audio only)."""
    import os

    from udiffse_lite import visual

    assert os.path.getsize(rf.DEFAULT_CKPT) < 5e6
    enc = rf.load_robust_encoder()
    corpus = str(tmp_path / "c")
    shutil.copytree(tiny_corpus, corpus)
    # the shipped robust encoder was trained on the first lip reader's features
    visual.extract_features(corpus, visual.load_lip_encoder(visual.V1_CKPT), f"{corpus}/features/lips", split="valid")
    torch.manual_seed(0)
    untrained = rf.RobustAVEncoder(enc.config)
    for name in ("centroids", "feat_mean", "feat_std"):
        getattr(untrained, name).copy_(getattr(enc, name))
    snrs = (-5, 5)
    r = rf.invariance_report(enc, corpus, "valid", snrs=snrs, limit=8)
    r0 = rf.invariance_report(untrained, corpus, "valid", snrs=snrs, limit=8)
    for s in snrs:
        assert r[f"noisy AV {s:+d} dB"]["distance"] < 0.95 * r0[f"noisy AV {s:+d} dB"]["distance"]
    assert r["noisy AV -5 dB"]["phone_acc"] > r["noisy audio only -5 dB"]["phone_acc"] + 0.1


def test_resynthesize_generates_from_features_and_checks_its_input():
    """A random FiLM prior on the shipped encoder's 128 features: the pipeline runs end to end at the
    input's rate, length and RMS; bad input and a missing prior are refused before any work."""
    import udiffse_lite as ul
    from udiffse_lite.priors import ScorePrior
    from udiffse_lite.unet import ScoreUNet, UNetConfig

    torch.manual_seed(0)
    net = ScoreUNet(UNetConfig(nf=8, ch_mult=(1, 2), video_dim=128, conditioning="film", video_norm=True))
    prior = ScorePrior(net)
    y = (0.1 * np.random.default_rng(0).standard_normal(12000)).astype(np.float32)
    lips = np.zeros((19, 64), np.float32)  # lip features of 0.75 s
    out = ul.resynthesize(y, 16000, lips=lips, prior=prior, n_steps=3)
    assert out.shape == y.shape and np.isfinite(out).all()
    assert np.sqrt(np.mean(out ** 2)) == pytest.approx(np.sqrt(np.mean(y ** 2)), rel=0.02)
    out8 = ul.resynthesize(y[:6000], 8000, prior=prior, n_steps=3)  # audio only, resampled and back
    assert out8.shape == (6000,)
    with pytest.raises(ValueError, match="frames"):
        ul.resynthesize(y, 16000, lips=np.zeros((60, 64), np.float32), prior=prior)
    with pytest.raises(ValueError, match="128 features"):
        ul.resynthesize(y, 16000, prior=ScorePrior(ScoreUNet(UNetConfig(nf=8, ch_mult=(1, 2)))))
    assert ul.resynthesize(y[:8000], 16000, n_steps=2).shape == (8000,)  # the shipped tiny-resynth by default
    with pytest.raises(ValueError, match="guidance"):
        ul.resynthesize(y, 16000, guidance=3.0)
    for bad, match in ((dict(phase="bogus"), "phase must be"), (dict(magnitude="mean"), "magnitude must be"),
                       (dict(magnitude="envelope", phase="generated"), "no phase of its own"),
                       (dict(magnitude="envelope"), "envelope head"), (dict(gl_iters=-1), "gl_iters")):
        with pytest.raises(ValueError, match=match):
            ul.resynthesize(y, 16000, prior=prior, **bad)
    gen = ul.resynthesize(y, 16000, lips=lips, prior=prior, n_steps=3, phase="generated")
    assert gen.shape == y.shape and np.isfinite(gen).all() and not np.allclose(gen, out)


def test_lip_frames_give_the_same_features_as_uint8_float_255_or_float_01():
    """resynthesize passes lip frames on as float 0..255 (samplers._check_video); they must give the
    lip encoder's features of the uint8 frames, not those of saturated white frames."""
    from udiffse_lite.examples import load_example
    from udiffse_lite.resynthesis import _lip_features

    lips = load_example("matched-1").lips[:20]  # uint8
    ref = _lip_features(lips, 20)
    torch.testing.assert_close(_lip_features(lips.astype(np.float32), 20), ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(_lip_features(lips.astype(np.float32) / 255, 20), ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(_lip_features(torch.from_numpy(lips).float(), 20), ref, rtol=1e-4, atol=1e-4)
