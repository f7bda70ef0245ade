"""Checkpoints, load_pretrained, the baseline and the command line, with a very small network."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import udiffse_lite as ul
from udiffse_lite import cli
from udiffse_lite.priors import ScorePrior
from udiffse_lite.unet import ScoreUNet, UNetConfig

MINI = dict(nf=8, ch_mult=(1, 2), mid_attention=False, resample_blocks=False)


def mini_prior(video_dim=0):
    torch.manual_seed(0)
    cfg = UNetConfig(**MINI, video_dim=video_dim, conditioning="cross_attention" if video_dim else "none",
                     attn_dim=16 if video_dim else 0,
                     xattn_zero_init=False)  # a fresh zero-init block ignores the video by design
    return ScorePrior(ScoreUNet(cfg)).eval()


def test_checkpoint_round_trip(tmp_path):
    p = mini_prior()
    path = p.save(tmp_path / "p.pt", steps=3)
    q = ScorePrior.from_checkpoint(path)
    assert q.meta["steps"] == 3
    S = torch.randn(2, 256, 20, dtype=torch.complex64)
    torch.testing.assert_close(q.score(S, 0.5), p.score(S, 0.5))


def test_score_is_minus_net_over_sigma():
    p = mini_prior()
    S = torch.randn(1, 256, 16, dtype=torch.complex64)
    t = torch.tensor([0.4])
    out = p.net(torch.stack([S.real, S.imag], 1), t, None)
    expected = -torch.complex(out[:, 0], out[:, 1]) / p.sde.std(t)
    torch.testing.assert_close(p.score(S, t), expected)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ScorePrior.from_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="corrupt"):
        ScorePrior.from_checkpoint(tmp_path / "junk.pt")
    torch.save({"hello": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a udiffse_lite"):
        ScorePrior.from_checkpoint(tmp_path / "foreign.pt")
    path = mini_prior().save(tmp_path / "p.pt")
    with pytest.raises(ValueError, match="another config"):
        ScorePrior.from_checkpoint(path, expect_config={"nf": 128})
    # truncated file
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        ScorePrior.from_checkpoint(tmp_path / "trunc.pt")


def test_load_pretrained_unknown_name():
    with pytest.raises(ValueError, match="unknown pretrained prior"):
        ul.load_pretrained("huge-xl")


def test_video_with_audio_only_prior_is_an_error():
    with pytest.raises(ValueError, match="audio-only"):
        mini_prior().score(torch.zeros(1, 256, 8, dtype=torch.complex64), 0.5, video=torch.zeros(1, 2, 16))


def test_av_prior_uses_video():
    p = mini_prior(video_dim=16)
    S = torch.randn(1, 256, 16, dtype=torch.complex64)
    v1, v2 = torch.randn(1, 5, 16), torch.randn(1, 5, 16)
    assert not torch.allclose(p.score(S, 0.5, v1), p.score(S, 0.5, v2))
    assert p.score(S, 0.5, None).shape == S.shape  # the audio-only path of the same network


def test_wiener_baseline_improves_white_noise():
    from udiffse_lite.baselines import wiener_minstats
    from udiffse_lite.examples import noisy_example

    m = noisy_example("matched-1", noise="white", snr_db=0)
    est = wiener_minstats(m["x"])
    assert est.shape == m["x"].shape
    assert ul.metrics.si_sdr(est, m["s"]) > ul.metrics.si_sdr(m["x"], m["s"]) + 5


def test_cli_enhance_wav_from_outside_the_corpus(tmp_path):
    # a wav written here (any rate, stereo), a small checkpoint, the real command line
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(1.3 * 22050)) / 22050
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    sf.write(tmp_path / "noisy.wav", np.stack([y, y], 1), 22050)
    ck = mini_prior().save(tmp_path / "mini.pt")
    out = tmp_path / "enhanced.wav"
    rc = cli.main(["enhance", str(tmp_path / "noisy.wav"), "--out", str(out), "--checkpoint", str(ck),
                   "--steps", "3", "--samples", "1"])
    assert rc == 0
    z, sr = sf.read(out)
    assert sr == 22050 and z.shape == (t.size,)
    # --noise-floor 0 is the NMF alone: the same chains (same seed), a filter that keeps at least as much
    rc = cli.main(["enhance", str(tmp_path / "noisy.wav"), "--out", str(tmp_path / "plain.wav"), "--checkpoint",
                   str(ck), "--steps", "3", "--samples", "1", "--noise-floor", "0"])
    plain, _ = sf.read(tmp_path / "plain.wav")
    assert rc == 0 and not np.allclose(plain, z) and float(np.sum(z ** 2)) < float(np.sum(plain ** 2))


def _tone_and_two_mini_priors(tmp_path):
    """A noisy 220 Hz tone on disk, a mini speech prior and a mini noise prior: (y, noise.pt, enhance args)."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    sf.write(tmp_path / "noisy.wav", y, 16000)
    ck = mini_prior().save(tmp_path / "mini.pt")
    noise_ck = mini_prior().save(tmp_path / "noise.pt")
    return y, noise_ck, ["enhance", str(tmp_path / "noisy.wav"), "--checkpoint", str(ck), "--steps", "3", "--samples", "1"]


def test_cli_enhance_with_a_diffusion_noise_prior(tmp_path):
    # --noise-model diffusion: the same file through two priors, with a noise prior given as a path
    import soundfile as sf

    y, noise_ck, common = _tone_and_two_mini_priors(tmp_path)
    assert cli.main(common + ["--out", str(tmp_path / "nmf.wav")]) == 0
    assert cli.main(common + ["--out", str(tmp_path / "dif.wav"), "--noise-model", "diffusion",
                              "--noise-prior", str(noise_ck)]) == 0
    a, _ = sf.read(tmp_path / "nmf.wav")
    b, sr = sf.read(tmp_path / "dif.wav")
    assert sr == 16000 and b.shape == y.shape and np.abs(a - b).max() > 1e-4  # another noise model, another output
    with pytest.raises(SystemExit, match="applies to --noise-model diffusion"):
        cli.main(common + ["--out", str(tmp_path / "x.wav"), "--noise-prior", str(noise_ck)])
    with pytest.raises(SystemExit, match="drop --method udiffse"):
        cli.main(common + ["--out", str(tmp_path / "x.wav"), "--noise-model", "diffusion", "--method", "udiffse"])
    assert not (tmp_path / "x.wav").exists()


def test_cli_enhance_refuses_to_overwrite_input(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "a.wav", np.zeros(4000), 16000)
    with pytest.raises(SystemExit, match="never overwritten"):
        cli.main(["enhance", str(tmp_path / "a.wav"), "--out", str(tmp_path / "a.wav")])
    with pytest.raises(SystemExit, match="does not exist"):
        cli.main(["enhance", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "b.wav")])


def test_cli_reports_bad_input_without_traceback(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "short.wav", np.zeros(100), 16000)
    ck = mini_prior().save(tmp_path / "mini.pt")
    r = subprocess.run([sys.executable, "-m", "udiffse_lite", "enhance", str(tmp_path / "short.wav"),
                        "--out", str(tmp_path / "o.wav"), "--checkpoint", str(ck)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "shorter than one STFT frame" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.wav").exists()


def test_load_pretrained_downloads_and_verifies(tmp_path, monkeypatch):
    from udiffse_lite import priors

    src = mini_prior().save(tmp_path / "remote" / "mini.pt")
    entry = {"file": "mini-test.pt", "url": src.as_uri(), "sha256": priors._sha256(src)}
    monkeypatch.setitem(priors.PRETRAINED, "mini-test", entry)
    monkeypatch.setattr(priors, "CHECKPOINT_DIR", tmp_path / "pkg")  # not shipped: must download
    p = priors.load_pretrained("mini-test", cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / "mini-test.pt").exists() and isinstance(p, ScorePrior)
    monkeypatch.setitem(priors.PRETRAINED, "bad-test", {**entry, "file": "bad.pt", "sha256": "0" * 64})
    with pytest.raises(ValueError, match="wrong sha256"):
        priors.load_pretrained("bad-test", cache_dir=tmp_path / "cache")
    assert sorted(f.name for f in (tmp_path / "cache").iterdir()) == ["mini-test.pt"]  # nothing half-written


def test_cli_enhances_a_folder_in_batches(tmp_path, capsys):
    import soundfile as sf

    rng = np.random.default_rng(1)
    src = tmp_path / "noisy"
    src.mkdir()
    lengths = {"a": 9000, "b": 16000, "c": 12345}
    for name, n in lengths.items():
        sf.write(src / f"{name}.wav", 0.1 * rng.standard_normal(n), 16000)
    (src / "notes.txt").write_text("not audio")
    ck = mini_prior().save(tmp_path / "mini.pt")
    out = tmp_path / "clean"
    args = ["enhance", str(src), "--out", str(out), "--checkpoint", str(ck), "--steps", "3", "--samples", "1",
            "--batch", "2"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "enhanced 3 files" in printed and "files per minute" in printed
    for name, n in lengths.items():
        z, sr = sf.read(out / f"{name}.wav")
        assert sr == 16000 and z.shape == (n,)
    with pytest.raises(SystemExit, match="pass --overwrite"):
        cli.main(args)
    assert cli.main(args + ["--overwrite"]) == 0
    with pytest.raises(SystemExit, match="one recording"):
        cli.main(args + ["--overwrite", "--features", str(tmp_path / "f.npy")])
    with pytest.raises(SystemExit, match="must be a folder"):
        cli.main(["enhance", str(src / "a.wav"), str(src / "b.wav"), "--out", str(out / "a.wav")])
    with pytest.raises(SystemExit, match="inputs are never overwritten"):
        cli.main(["enhance", str(src / "a.wav"), str(src / "b.wav"), "--out", str(src), "--overwrite"])
    assert cli.main(["enhance", str(src / "a.wav"), str(src / "b.wav"), "--out", str(out), "--overwrite",
                     "--batch", "0", "--checkpoint", str(ck)]) == 2  # a ValueError: one line, exit 2


def test_cli_enhance_output_noise_prior_switch(tmp_path):
    """--output-noise-prior none gives the papers' NMF output, a path another noise prior; a bad name is
    refused before any work, and the switch does not combine with the diffusion noise model."""
    import soundfile as sf

    y, noise_ck, common = _tone_and_two_mini_priors(tmp_path)
    assert cli.main(common + ["--out", str(tmp_path / "nmf.wav"), "--output-noise-prior", "none"]) == 0
    assert cli.main(common + ["--out", str(tmp_path / "read.wav"), "--output-noise-prior", str(noise_ck)]) == 0
    a, _ = sf.read(tmp_path / "nmf.wav")
    b, _ = sf.read(tmp_path / "read.wav")
    assert a.shape == b.shape == y.shape and np.abs(a - b).max() > 1e-5
    with pytest.raises(SystemExit, match="neither a shipped prior"):
        cli.main(common + ["--out", str(tmp_path / "x.wav"), "--output-noise-prior", "tiny-nois"])
    with pytest.raises(SystemExit, match="applies to the NMF noise model"):
        cli.main(common + ["--out", str(tmp_path / "x.wav"), "--noise-model", "diffusion",
                           "--output-noise-prior", "none"])
    assert not (tmp_path / "x.wav").exists()
