"""Bad input is refused up front with a message that says what to fix; nothing non-finite comes out."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import udiffse_lite as ul
from udiffse_lite.priors import GaussianPrior
from udiffse_lite.samplers import SamplerConfig, check_sample_rate, enhance


@pytest.fixture(scope="module")
def prior():
    return GaussianPrior(0.05)


def y(n=8000, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


FAST = dict(n_steps=3, n_samples=1)


@pytest.mark.parametrize("sr, msg", [(0, "outside"), (-1, "outside"), (1, "outside"), (16000.5, "whole number"),
                                     ("16000", "integer"), (None, "integer"), (float("nan"), "whole number"),
                                     (True, "integer")])
def test_bad_sample_rates_are_refused(prior, sr, msg):
    with pytest.raises(ValueError, match=msg):
        enhance(y(), sr, prior=prior, **FAST)


def test_integer_sample_rate_forms_are_accepted():
    assert check_sample_rate(np.int64(16000)) == 16000
    assert check_sample_rate(16000.0) == 16000


def test_int16_pcm_is_scaled_like_soundfile(prior):
    x = y()
    pcm = np.round(x * 32768).astype(np.int16)
    out_pcm = enhance(pcm, 16000, prior=prior, seed=0, **FAST)
    out_f = enhance(pcm.astype(np.float32) / 32768, 16000, prior=prior, seed=0, **FAST)
    np.testing.assert_allclose(out_pcm, out_f, atol=1e-6)
    assert np.abs(out_pcm).max() < 2.0  # not 32768 times too loud


@pytest.mark.parametrize("bad", [np.ones(8000, bool), np.ones(8000, np.complex64), np.array(["a"] * 600)])
def test_bool_complex_and_text_waveforms_are_refused(prior, bad):
    with pytest.raises(ValueError, match="dtype"):
        enhance(bad, 16000, prior=prior, **FAST)


def test_too_short_at_its_own_rate_is_refused_before_resampling(prior):
    with pytest.raises(ValueError, match="shorter than one STFT frame"):
        enhance(y(600), 48000, prior=prior, **FAST)


@pytest.mark.parametrize("chunk, overlap, msg", [(20, 0, "overlap_seconds"), (2, 2, "overlap_seconds"),
                                                 (2, 3, "overlap_seconds"), (0, 0.5, "chunk_seconds"),
                                                 (float("nan"), 1, "finite"), (float("inf"), 1, "finite")])
def test_chunking_settings_are_checked(prior, chunk, overlap, msg):
    with pytest.raises(ValueError, match=msg):
        enhance(y(), 16000, prior=prior, chunk_seconds=chunk, overlap_seconds=overlap, **FAST)


def test_long_input_with_small_overlap_is_cross_faded(prior):
    x = y(16000 * 3)
    out = enhance(x, 16000, prior=prior, chunk_seconds=1.0, overlap_seconds=0.1, **FAST)
    assert out.shape == x.shape and np.isfinite(out).all()


@pytest.mark.parametrize("kw, msg", [(dict(lam=float("nan")), "lam"), (dict(guidance=float("inf")), "guidance"),
                                     (dict(n_steps=4.5), "integers"), (dict(em_iters=0, method="udiffse"), "em_iters"),
                                     (dict(nmf_rank=0), "nmf_rank")])
def test_bad_sampler_settings_are_refused(prior, kw, msg):
    args = {**FAST, **kw}
    with pytest.raises(ValueError, match=msg):
        enhance(y(), 16000, prior=prior, **args)


def test_nan_video_is_refused_before_any_work():
    av = ul.load_pretrained("tiny-av")
    x = y(16000 * 2)
    v = np.full((50, av.net.config.video_dim), np.nan, np.float32)
    with pytest.raises(ValueError, match="NaN or Inf"):
        enhance(x, 16000, prior=av, video=v, **FAST)


def test_video_for_an_audio_only_prior_is_refused():
    with pytest.raises(ValueError, match="audio-only"):
        enhance(y(16000), 16000, prior=ul.load_pretrained("tiny-ao"), video=np.zeros((25, 64), np.float32),
                **FAST)


def test_nan_weights_raise_instead_of_writing_noise():
    ao = ul.load_pretrained("tiny-ao")
    with torch.no_grad():
        next(ao.net.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="NaN"):
        enhance(y(16000), 16000, prior=ao, **FAST)


def test_si_sdr_refuses_a_silent_estimate():
    ref = y()
    with pytest.raises(ValueError, match="est is silent"):
        ul.metrics.si_sdr(np.zeros_like(ref), ref)


def test_sampler_config_refuses_unknown_predictor():
    with pytest.raises(ValueError, match="predictor"):
        SamplerConfig(predictor="heun")
    ref = SamplerConfig.reference()
    assert (ref.schedule, ref.weight, ref.predictor, ref.reference_dt, ref.corrector_step, ref.tweedie_mu,
            ref.output, ref.noise_floor) == ("reference", 1.5, "euler-maruyama", True, "reference", False, "mean", 0.0)
    assert math.isclose(SamplerConfig().weight, 1.0)


# ------------------------------------------------------------------ the command line
def _wav(path, n=16000):
    import soundfile as sf

    sf.write(str(path), y(n), 16000, subtype="PCM_16")
    return path


def _cli(*argv):
    from udiffse_lite.cli import main

    try:
        return main(list(argv))
    except SystemExit as e:  # argparse / our one-line errors
        return e.code


@pytest.mark.parametrize("case, msg", [
    ("out_dir", "is a directory"), ("out_mp3", "*.wav"), ("out_missing_folder", "does not exist"),
    ("device_bogus", "not a device"), ("device_cuda", "CUDA"), ("lips_empty", "empty .npz"),
    ("lips_corrupt", "cannot read"), ("lips_shape", "88, 88"), ("features_npz", ".npy"),
    ("floor_negative", "--noise-floor must be a number >= 0"), ("floor_diffusion", "applies to the NMF"),
    ("truncated", "truncated WAV")])
def test_cli_refuses_bad_arguments_before_any_work(tmp_path, capsys, case, msg):
    import torch

    if case == "device_cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    inp = _wav(tmp_path / "noisy.wav")
    out = tmp_path / "enhanced.wav"
    extra = []
    if case == "out_dir":
        out = tmp_path
    elif case == "out_mp3":
        out = tmp_path / "x.mp3"
    elif case == "out_missing_folder":
        out = tmp_path / "nope" / "x.wav"
    elif case == "device_bogus":
        extra = ["--device", "bogus"]
    elif case == "device_cuda":
        extra = ["--device", "cuda"]
    elif case == "lips_empty":
        np.savez(tmp_path / "l.npz")
        extra = ["--lips", str(tmp_path / "l.npz")]
    elif case == "lips_corrupt":
        (tmp_path / "l.npz").write_bytes(b"PK\x03\x04garbage")
        extra = ["--lips", str(tmp_path / "l.npz")]
    elif case == "lips_shape":
        np.savez(tmp_path / "l.npz", frames=np.zeros((25, 64, 64), np.uint8))
        extra = ["--lips", str(tmp_path / "l.npz")]
    elif case == "features_npz":
        np.savez(tmp_path / "f.npz", x=np.zeros((25, 64), np.float32))
        extra = ["--features", str(tmp_path / "f.npz")]
    elif case == "floor_negative":
        extra = ["--noise-floor", "-1"]
    elif case == "floor_diffusion":
        extra = ["--noise-floor", "0.5", "--noise-model", "diffusion"]
    elif case == "truncated":
        b = inp.read_bytes()
        inp.write_bytes(b[: len(b) // 2])
    rc = _cli("enhance", str(inp), "--out", str(out), "--steps", "2", "--samples", "1", *extra)
    err = capsys.readouterr().err + str(rc)
    assert rc not in (0, None) and msg in err
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written output left behind
    if case != "out_dir":
        assert not Path(out).exists()


def test_cli_nan_features_exit_nonzero_without_writing(tmp_path, capsys):
    inp = _wav(tmp_path / "noisy.wav", 32000)
    np.save(tmp_path / "f.npy", np.full((50, 64), np.nan, np.float32))
    out = tmp_path / "enhanced.wav"
    rc = _cli("enhance", str(inp), "--out", str(out), "--features", str(tmp_path / "f.npy"), "--steps", "2",
              "--samples", "1")
    assert rc == 2 and "NaN" in capsys.readouterr().err and not out.exists()


# ------------------------------------------------------------------ property-based
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, derandomize=True)
@given(n=st.integers(1, 24000), scale=st.floats(1e-5, 20.0), sr=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
       shape=st.sampled_from(["flat", "col", "row", "stereo"]), nan=st.booleans(), dtype=st.sampled_from(["f4", "f8", "i2"]),
       steps=st.integers(2, 5))
def test_enhance_property_only_clear_errors_never_bad_output(n, scale, sr, shape, nan, dtype, steps):
    """Over random lengths, scales, rates, shapes, dtypes and NaN injection, enhance either raises a
    ValueError with a message or returns a finite waveform of the input's length."""
    rng = np.random.default_rng(n)
    x = scale * rng.standard_normal(n)
    if nan and n > 3:
        x[n // 2] = np.nan
    if dtype == "i2":
        x = np.clip(np.nan_to_num(x) * 3000, -32768, 32767).astype(np.int16)
    else:
        x = x.astype(dtype)
    arr = {"flat": x, "col": x[:, None], "row": x[None, :], "stereo": np.stack([x, x], 1)}[shape]
    try:
        out = enhance(arr, sr, prior=GaussianPrior(0.05), n_steps=steps, n_samples=1, seed=0)
    except ValueError as e:
        assert str(e), "a ValueError must say what is wrong"
        return
    assert shape != "stereo" and not (nan and n > 3 and dtype != "i2")
    assert out.shape == (n,) and out.dtype == np.float32
    assert np.isfinite(out).all()
