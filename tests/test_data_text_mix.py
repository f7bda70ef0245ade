"""Sentence generator, text normalisation, noise library and active-SNR mixing."""
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from udiffse_lite.data import (NOISE_TYPES, SNR_PRESETS, active_power, load_noise_folder, make_noise,
                               make_sentences, mix, normalise_text, snr_active)
from udiffse_lite.data.text import number_to_words

SR = 16000


def test_sentences_unique_deterministic_and_exclusive():
    a = make_sentences(200, seed=1)
    assert len(set(a)) == 200 and a == make_sentences(200, seed=1)
    b = make_sentences(100, seed=2, exclude=set(a))
    assert not set(a) & set(b)
    assert all(normalise_text(s) == s for s in a + b)


def test_normalise_text_spells_digits_and_rejects_symbols():
    assert number_to_words(42) == "forty two"
    assert number_to_words(1907) == "one thousand nine hundred seven"
    assert normalise_text("Bob has 3 cats & 21 dogs!") == "bob has three cats and twenty one dogs"
    with pytest.raises(ValueError, match=r"\$"):
        normalise_text("it costs $5")
    with pytest.raises(ValueError, match="nothing to speak"):
        normalise_text("  ?! ")


def _speech_with_pauses(rng):
    t = np.arange(SR) / SR
    burst = np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * rng.standard_normal(SR))
    return np.concatenate([np.zeros(SR), burst, np.zeros(2 * SR)]).astype(np.float32)


def test_mix_snr_is_measured_on_active_speech():
    rng = np.random.default_rng(0)
    s = _speech_with_pauses(rng)
    n = make_noise("pink", 5 * SR, rng)
    for snr in SNR_PRESETS["wide"]:
        x, ss, nn, info = mix(s, n, snr, rng)
        np.testing.assert_allclose(x, ss + nn, atol=1e-6)
        assert abs(snr_active(ss, nn) - snr) < 0.01
        # the whole-file SNR is lower by ~10 log10(4) because 3/4 of the file is silence
        whole = 10 * np.log10(np.mean(ss.astype(float) ** 2) / np.mean(nn.astype(float) ** 2))
        assert abs((snr - whole) - 10 * np.log10(4)) < 0.5
    _, frac = active_power(s)
    assert 0.2 < frac < 0.3
    assert SNR_PRESETS["mismatched"] == (-5, 5) and set(SNR_PRESETS["matched"]) == {-5, 0, 5}


def test_mix_never_clips_and_records_gain():
    rng = np.random.default_rng(1)
    s = 0.9 * np.sign(np.sin(np.arange(SR) / 10.0)).astype(np.float32)
    x, ss, nn, info = mix(s, make_noise("white", SR, rng), -10, rng)
    assert np.abs(x).max() <= 0.99 + 1e-6 and info["gain"] < 1
    assert abs(snr_active(ss, nn) + 10) < 0.01  # the gain keeps the SNR


def test_mix_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="silent"):
        mix(np.zeros(SR), np.ones(SR), 0, rng)
    with pytest.raises(ValueError, match="NaN"):
        mix(np.full(SR, np.nan), np.ones(SR), 0, rng)
    with pytest.raises(ValueError, match="mono"):
        mix(np.ones((2, SR)), np.ones(SR), 0, rng)


def _slope_db_per_octave(y):
    P = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / SR)
    lo = P[(f > 200) & (f < 400)].mean()
    hi = P[(f > 3200) & (f < 6400)].mean()
    return 10 * np.log10(hi / lo) / 4  # four octaves apart


def test_noise_types_levels_and_colours():
    rng = np.random.default_rng(0)
    talkers = [np.sin(np.arange(SR) * 0.05 * (k + 1)).astype(np.float32) for k in range(3)]
    for kind in NOISE_TYPES:
        y = make_noise(kind, 2 * SR, rng, "train", speech=talkers)
        assert y.dtype == np.float32 and abs(np.sqrt(np.mean(y ** 2)) - 1) < 1e-3, kind
    assert abs(_slope_db_per_octave(make_noise("white", 8 * SR, rng))) < 0.5
    assert abs(_slope_db_per_octave(make_noise("pink", 8 * SR, rng)) + 3) < 0.6
    assert abs(_slope_db_per_octave(make_noise("brown", 8 * SR, rng)) + 6) < 0.8


def test_noise_split_changes_the_noise_not_just_the_seed():
    for split, f0 in (("train", 50), ("test", 60)):
        y = make_noise("hum", 4 * SR, np.random.default_rng(0), split)
        P = np.abs(np.fft.rfft(y))
        f = np.fft.rfftfreq(len(y), 1 / SR)
        assert abs(f[np.argmax(P * (f < 100))] - f0) < 1, split
    with pytest.raises(ValueError, match="babble needs"):
        make_noise("babble", SR, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown noise type"):
        make_noise("rain", SR, np.random.default_rng(0))


def test_real_noise_folder_layouts(tmp_path):
    y = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    for env in ("DKITCHEN", "STRAFFIC"):
        os.makedirs(tmp_path / "demand" / env)
        for ch in (1, 2):
            sf.write(tmp_path / "demand" / env / f"ch{ch:02d}.wav", y, SR)
    os.makedirs(tmp_path / "ntcd")
    for t in ("Babble", "Cafe"):
        sf.write(tmp_path / "ntcd" / f"{t}.wav", y, SR)
    d = load_noise_folder(str(tmp_path / "demand"))
    assert sorted(d) == ["dkitchen", "straffic"] and all(p.endswith("ch01.wav") for v in d.values() for p in v)
    assert sorted(load_noise_folder(str(tmp_path / "ntcd"))) == ["babble", "cafe"]
    with pytest.raises(FileNotFoundError):
        load_noise_folder(str(tmp_path / "nothing"))


def test_synth_noise_crops_are_fresh_deterministic_and_keep_each_type():
    """SynthNoiseDataset (the noise-synth recipes' data): a pure function of (seed, epoch, index), a new
    clip in each epoch, the types in turn at the library's level, each with its generator's colour."""
    from udiffse_lite.data import SynthNoiseDataset

    ds = SynthNoiseDataset(["white", "brown", "hum"], crop_samples=32640, seed=3, length=6)
    a, b = ds[1], ds[1]
    assert a["id"] == "brown-synth-0-1" and torch.equal(a["audio"], b["audio"])
    assert a["audio"].shape == (32640,) and a["audio"].dtype == torch.float32
    assert [ds[i]["id"].split("-")[0] for i in range(6)] == ["white", "brown", "hum"] * 2
    assert not torch.equal(ds[1]["audio"], ds[4]["audio"])  # another index: another clip of the type
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["audio"], a["audio"])  # another epoch: another clip
    assert not torch.equal(SynthNoiseDataset(["brown"], seed=4)[0]["audio"], SynthNoiseDataset(["brown"], seed=3)[0]["audio"])
    ds.set_epoch(0)
    rms = float(ds[0]["audio"].pow(2).mean().sqrt())  # white: the library's RMS 0.1
    assert 0.09 < rms < 0.11, rms
    assert abs(_slope_db_per_octave(ds[0]["audio"].numpy())) < 1.0
    assert abs(_slope_db_per_octave(ds[1]["audio"].numpy()) + 6) < 1.5  # brown: -6 dB per octave
    with pytest.raises(ValueError, match="other than babble"):
        SynthNoiseDataset(["babble"])
    with pytest.raises(ValueError, match="other than babble"):
        SynthNoiseDataset(["rain"])
    with pytest.raises(ValueError, match="shorter than the crop"):
        SynthNoiseDataset(["white"], clip_seconds=1.0)
