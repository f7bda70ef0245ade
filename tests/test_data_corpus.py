"""The teaching corpus: build (tiny), splits, metadata, lips that move with speech, datasets, mixtures."""
import json
import os
import shutil

import numpy as np
import pytest
import torch

from udiffse_lite.data import build_corpus, load_metadata, make_test_mixtures, snr_active
from udiffse_lite.data import lips as L
from udiffse_lite.data.corpus import _BY_NAME, _work, corpus_plan
from udiffse_lite.data.datasets import CropDataset, UtteranceDataset, load_wav
from udiffse_lite.data.tts import Voice, check_voice, synthesize
from udiffse_lite.spectral import CROP_SAMPLES, expected_video_frames

needs_engines = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("flite") is None,
                                   reason="speech engines missing: run scripts/install_system_deps.sh")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    if shutil.which("espeak-ng") is None or shutil.which("festival") is None:
        pytest.skip("speech engines missing: run scripts/install_system_deps.sh")
    out = str(tmp_path_factory.getbasetemp() / "tiny_corpus_shared")  # same folder as conftest.tiny_corpus
    build_corpus("tiny", out, seed=0, progress=False)
    return out


def test_plan_is_deterministic_with_disjoint_texts():
    a, b = corpus_plan("small", 0), corpus_plan("small", 0)
    assert a == b
    texts = {}
    for j in a:
        texts.setdefault(j["split"], set()).add(j["text"])
    splits = list(texts)
    for i, s in enumerate(splits):
        for t in splits[i + 1:]:
            assert not texts[s] & texts[t], (s, t)
    train_v = {j["voice"] for j in a if j["split"] == "train"}
    mism = [j for j in a if j["split"] == "test_mismatched"]
    assert len(train_v) >= 8
    assert not {j["voice"] for j in mism} & train_v
    assert not {j["engine"] for j in mism} & {j["engine"] for j in a if j["split"] == "train"}
    with pytest.raises(ValueError, match="unknown preset"):
        corpus_plan("huge")


def test_missing_voice_names_the_package(monkeypatch):
    with pytest.raises(RuntimeError, match="mbrola-xx9"):
        check_voice(Voice("m", "mbrola", "xx9"))
    with pytest.raises(RuntimeError, match="festvox"):
        check_voice(Voice("f", "festival", "nobody_diphone"))
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name in ("flite", "mbrola") else real_which(name))
    with pytest.raises(RuntimeError, match="apt package `flite`"):
        check_voice(Voice("f", "flite", "slt"))
    with pytest.raises(RuntimeError, match="contrib and non-free"):
        check_voice(Voice("m", "mbrola", "us1"))
    with pytest.raises(ValueError, match="unknown engine"):
        check_voice(Voice("x", "sapi", "y"))


def test_viseme_mapping_both_phone_sets():
    V = L.V
    for lab, ps in (("p", "sampa"), ("m", "cmu"), ("b", "cmu"), ("p_h", "sampa")):
        assert L.viseme_of(lab, ps) == (V["PBM"],)
    assert L.viseme_of("aa", "cmu") == (V["AA"],)
    assert L.viseme_of("A:", "sampa") == (V["AA"],)
    assert L.viseme_of("aI", "sampa") == (V["AA"], V["EE"])
    assert L.viseme_of("uw", "cmu") == (V["OO"],)
    assert L.viseme_of("pau", "cmu") == (V["sil"],)
    with pytest.raises(ValueError):
        L.viseme_of("a", "ipa")


def test_coarticulation_closes_for_bilabial_and_anticipates_rounding():
    phones = [("aa", 0.0, 0.2), ("m", 0.2, 0.28), ("aa", 0.28, 0.5), ("t", 0.5, 0.56), ("uw", 0.56, 0.8)]
    art = L.articulation(phones, "cmu", 25)
    t = (np.arange(25) + 0.5) / 25
    opening, rounding = art[:, 0], art[:, 2]
    assert opening[np.argmin(np.abs(t - 0.24))] < 0.2 < 0.8 < opening[np.argmin(np.abs(t - 0.1))]
    i_t = np.argmin(np.abs(t - 0.53))  # during the /t/, lips already round for /uw/
    assert rounding[i_t] > 0.3 and rounding[np.argmin(np.abs(t - 0.1))] < 0.2


@needs_engines
def test_lips_move_with_speech_as_numbers():
    """Mouth opening measured from pixels follows the speech envelope and is larger for /aa/ than /m/."""
    corrs, open_v, closed_v = [], [], []
    rng = np.random.default_rng(0)
    for name, text in (("mbrola-us1", "mary mops my apple at noon"),
                       ("flite-slt", "bob paints a big boat by the pool"),
                       ("espeak-us-f3", "the happy farmer waits by the barn")):
        v = _BY_NAME[name]
        s, phones = synthesize(v, text)
        T = expected_video_frames(len(s))
        frames, art, vis = L.render_lips(phones, L.PHONESET[v.engine], T, name, rng)
        assert frames.shape == (T, 88, 88) and frames.dtype == np.uint8
        opening = L.mouth_opening(frames)
        env = np.array([np.sqrt(np.mean(s[k * 640:(k + 1) * 640] ** 2)) if k * 640 < len(s) else 0
                        for k in range(T)])
        corrs.append(np.corrcoef(opening, env)[0, 1])
        open_v += list(opening[vis == L.V["AA"]])
        closed_v += list(opening[vis == L.V["PBM"]])
    assert np.mean(corrs) > 0.2, corrs
    assert np.mean(open_v) > 2 * np.mean(closed_v) + 5, (np.mean(open_v), np.mean(closed_v))


def test_tiny_corpus_layout_and_metadata(tiny):
    info = json.load(open(os.path.join(tiny, "corpus.json")))
    assert os.path.exists(os.path.join(tiny, "READY"))
    train_voices = set(info["splits"]["train"]["voices"])
    assert set(info["splits"]["test_matched"]["voices"]) <= train_voices
    assert not set(info["splits"]["test_mismatched"]["engines"]) & set(info["splits"]["train"]["engines"])
    for split in ("train", "valid", "test_matched", "test_mismatched"):
        rows = load_metadata(tiny, split)
        assert rows
        for r in rows:
            s = load_wav(r["wav"])
            with np.load(r["lips"]) as z:
                f, vis = z["frames"], z["visemes"]
            assert f.dtype == np.uint8 and f.shape[1:] == (88, 88)
            assert len(s) == r["n_samples"] and f.shape[0] == r["n_video_frames"] == expected_video_frames(len(s))
            assert len(vis) == f.shape[0]
            assert 0 <= r["phones"][0][1] and r["phones"][-1][2] <= r["duration"] + 1e-3
            assert {"id", "voice", "engine", "text", "duration", "phones", "wav", "lips"} <= set(r)


def test_corpus_utterance_is_deterministic(tiny, tmp_path):
    row = load_metadata(tiny, "train")[0]
    job = next(j for j in corpus_plan("tiny", 0) if j["id"] == row["id"])
    os.makedirs(tmp_path / "train")
    again = _work([dict(job, out=str(tmp_path))])[0]
    assert again["phones"] == row["phones"]
    np.testing.assert_array_equal(load_wav(str(tmp_path / again["wav"])), load_wav(row["wav"]))
    with np.load(tmp_path / again["lips"]) as a, np.load(row["lips"]) as b:
        np.testing.assert_array_equal(a["frames"], b["frames"])


def test_crop_dataset_aligns_audio_and_video(tiny):
    ds = CropDataset(tiny, "train", features="lips", seed=3)
    item = ds[1]
    assert item["audio"].shape == (CROP_SAMPLES,) and item["audio"].dtype == torch.float32
    assert item["video"].shape == (51, 88, 88) and 0 <= item["video"].min() and item["video"].max() <= 1
    # find the crop inside the utterance and check the video is the same window
    s = torch.from_numpy(load_wav(ds.rows[1]["wav"]))
    with np.load(ds.rows[1]["lips"]) as z:
        f = z["frames"] / 255.0
    k = next(k for k in range(len(f)) if torch.equal(s[k * 640:k * 640 + 2000], item["audio"][:2000]))
    np.testing.assert_allclose(item["video"][0].numpy(), f[k], atol=1e-6)
    assert torch.equal(ds[1]["audio"], item["audio"])  # deterministic per (seed, epoch, index)
    ds.set_epoch(1)
    a = CropDataset(tiny, "train")
    assert "video" not in a[0] and a[0]["audio"].shape == (CROP_SAMPLES,)
    with pytest.raises(ValueError, match="multiple of 640"):
        CropDataset(tiny, "train", features="lips", crop_samples=1000)
    with pytest.raises(ValueError, match="features must be"):
        CropDataset(tiny, "train", features="/no/such/dir")
    with pytest.raises(FileNotFoundError, match="corpus --preset"):
        CropDataset(tiny, "nosplit")


def test_utterance_dataset_and_length_mismatch(tiny, tmp_path):
    ds = UtteranceDataset(tiny, "test_mismatched", features="lips")
    it = ds[0]
    assert it["video"].shape[0] == expected_video_frames(len(it["audio"]))
    # features folder with a wrong length must be refused, not silently cropped
    feat = tmp_path / "feats" / "test_mismatched"
    os.makedirs(feat)
    for r in ds.rows:
        np.save(feat / f"{r['id']}.npy", np.zeros((3, 8), np.float32))
    with pytest.raises(RuntimeError, match="disagree"):
        UtteranceDataset(tiny, "test_mismatched", features=str(tmp_path / "feats"))[0]


def test_test_mixtures(tiny):
    m = make_test_mixtures(tiny, "test_mismatched", "mismatched", ["white", "babble"], n=2, seed=0)
    assert len(m) == 2 * 2 * 2
    for x in m:
        np.testing.assert_allclose(x["x"], x["s"] + x["n"], atol=1e-6)
        assert abs(snr_active(x["s"], x["n"]) - x["snr_db"]) < 0.05
    m2 = make_test_mixtures(tiny, "test_mismatched", "mismatched", ["white", "babble"], n=2, seed=0)
    assert all(np.array_equal(a["x"], b["x"]) for a, b in zip(m, m2))
    with pytest.raises(ValueError, match="not in the corpus noise library"):
        make_test_mixtures(tiny, "test_matched", (0,), ["rain"])


def test_every_engine_phone_has_its_own_viseme(tiny):
    """No phone of the corpus falls back on the first-letter guess (MBROLA's "AI" once became a
    neutral vowel, festival's British MRPA names consonants)."""
    V = L.V
    assert L.viseme_of("AI", "sampa") == (V["AA"], V["EE"])
    assert L.viseme_of("{", "sampa") == (V["AA"],)
    assert L.viseme_of("ii", "cmu") == (V["EE"],) and L.viseme_of("#", "cmu") == (V["sil"],)
    unmapped = set()
    for split in ("train", "valid", "test_matched", "test_mismatched"):
        for r in load_metadata(tiny, split):
            unmapped |= {(r["engine"], p[0]) for p in r["phones"] if not L.is_mapped(p[0], r["phoneset"])}
    assert not unmapped


def test_separation_mixtures_add_up_with_the_asked_levels(tiny):
    from udiffse_lite.data.mix import active_power, make_separation_mixtures

    ms = make_separation_mixtures(tiny, "test_matched", n=2, snr_db=5.0, sir_db=3.0, seconds=1.0)
    assert len(ms) == 2
    for m in ms:
        s1, s2 = m["sources"]
        assert m["voices"][0] != m["voices"][1] and len(m["lips"]) == 2
        np.testing.assert_allclose(m["x"], s1 + s2 + m["n"], atol=1e-6)
        assert len(m["x"]) <= 16000
        sir = 10 * np.log10(active_power(s1)[0] / active_power(s2)[0])
        snr = 10 * np.log10(active_power(s1 + s2)[0] / np.mean(m["n"] ** 2))
        assert sir == pytest.approx(3.0, abs=0.01) and snr == pytest.approx(5.0, abs=0.01)
    with pytest.raises(ValueError, match="not in the corpus noise library"):
        make_separation_mixtures(tiny, "test_matched", noise_types=["rain"])
