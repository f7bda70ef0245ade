import numpy as np
import pytest
import torch

from udiffse_lite import spectral
from udiffse_lite.audio import load_audio, save_audio


@pytest.mark.parametrize("L", [510, 1000, 16000, 32640, 48123])
def test_round_trip(L, gen):
    y = 0.3 * torch.randn(L, generator=gen)
    S = spectral.to_spec(y)
    assert S.shape == (256, 1 + L // 128)
    assert (spectral.to_wave(S, L) - y).abs().max().item() < 1e-5


def test_compression_known_values():
    c = torch.tensor([4.0 + 0j, -9.0 + 0j, 0j, 3 + 4j])
    C = spectral.compress(c)
    torch.testing.assert_close(C, torch.tensor([0.3 + 0j, -0.45 + 0j, 0j, 0.15 * 5 ** 0.5 * (3 + 4j) / 5]))
    torch.testing.assert_close(spectral.decompress(C), c)


def test_crop_frames_give_256_frames():
    assert spectral.to_spec(torch.zeros(spectral.CROP_SAMPLES)).shape[-1] == spectral.CROP_FRAMES


def test_pad_and_crop():
    S = torch.randn(2, 256, 37, dtype=torch.complex64)
    P, T = spectral.pad_frames(S, 8)
    assert P.shape[-1] == 40 and T == 37 and torch.all(P[..., 37:] == 0)
    torch.testing.assert_close(spectral.crop_frames(P, T), S)


def test_normalise():
    X = torch.randn(256, 20, dtype=torch.complex64) * 7
    Xn, NF = spectral.normalise(X)
    assert Xn.abs().max().item() == pytest.approx(1.0)
    torch.testing.assert_close(Xn * NF, X)


def test_video_alignment():
    v = torch.arange(51.0)[:, None].expand(51, 3)
    a = spectral.video_to_stft_frames(v, 256)
    assert a.shape == (256, 3)
    # frame j at j*8 ms shows video frame floor(j*0.2); the last clamps to 50
    assert a[0, 0] == 0 and a[4, 0] == 0 and a[5, 0] == 1 and a[250, 0] == 50 and a[255, 0] == 50


def test_audio_io_round_trip(tmp_path, rng):
    y = (0.5 * rng.standard_normal(8000)).clip(-0.99, 0.99).astype(np.float32)
    p = save_audio(tmp_path / "a.wav", y, 8000)
    z, sr = load_audio(p, sr=8000)
    assert sr == 8000 and np.abs(z - y).max() < 1e-4
    z16, sr16 = load_audio(p)
    assert sr16 == 16000 and len(z16) == 16000


def test_audio_io_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_audio(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    with pytest.raises(ValueError, match="could not read"):
        load_audio(bad)
    import soundfile as sf
    sf.write(str(tmp_path / "st.wav"), np.zeros((1600, 2), np.float32), 16000)
    with pytest.warns(UserWarning, match="2 channels"):
        y, _ = load_audio(tmp_path / "st.wav")
    assert y.ndim == 1


def test_save_audio_scales_instead_of_clipping(tmp_path):
    with pytest.warns(UserWarning, match="scaling"):
        save_audio(tmp_path / "loud.wav", np.array([0.0, 2.0, -1.0] * 100, np.float32))
    y, _ = load_audio(tmp_path / "loud.wav")
    assert np.abs(y).max() == pytest.approx(1.0, abs=1e-3)


def _chirp_with_harmonics(L=16000):
    t = np.arange(L) / 16000
    f0 = 120 + 60 * t  # a gliding voice-like tone
    ph = 2 * np.pi * np.cumsum(f0) / 16000
    x = sum(np.sin(k * ph) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return torch.from_numpy((0.1 * x).astype(np.float32))


def test_griffin_lim_keeps_a_consistent_spectrogram_and_recovers_a_phase():
    x = _chirp_with_harmonics()
    S = spectral.to_spec(x)
    M = S.abs()
    # the true phase is a fixed point: the signal comes back
    y = spectral.griffin_lim(M, len(x), n_iter=5, phase=S)
    np.testing.assert_allclose(y.numpy()[300:-300], x.numpy()[300:-300], atol=2e-4)

    def inconsistency(w):
        return float((spectral.to_spec(w).abs() - M).norm() / M.norm())

    rand = spectral.griffin_lim(M, len(x), n_iter=0, generator=torch.Generator().manual_seed(0))
    plain = [inconsistency(spectral.griffin_lim(M, len(x), n_iter=n, momentum=0.0,
                                                generator=torch.Generator().manual_seed(0))) for n in (1, 4, 16)]
    fast = inconsistency(spectral.griffin_lim(M, len(x), n_iter=64, generator=torch.Generator().manual_seed(0)))
    assert plain[0] >= plain[1] >= plain[2]  # the original algorithm never gets worse
    assert inconsistency(rand) > 0.4 and fast < 0.1  # random phase is far off; 64 fast iterations are close
    assert fast < plain[2]
