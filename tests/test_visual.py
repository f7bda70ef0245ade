"""The lip encoder: shapes, checks, save/load, a short pretraining run, feature extraction, the shipped checkpoint."""
import os
import shutil

import numpy as np
import pytest
import torch

from udiffse_lite import visual
from udiffse_lite.data import build_corpus, load_metadata
from udiffse_lite.data.datasets import CropDataset


@pytest.fixture(autouse=True)
def one_thread():
    # on a shared 2-core machine two OpenMP threads waiting on each other are several times slower
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    if shutil.which("espeak-ng") is None or shutil.which("festival") is None:
        pytest.skip("speech engines missing: run scripts/install_system_deps.sh")
    out = str(tmp_path_factory.getbasetemp() / "tiny_corpus_shared")  # built once per session, shared
    build_corpus("tiny", out, seed=0, progress=False)
    return out


def test_encoder_shapes_and_bad_input():
    enc = visual.LipEncoder(visual.LipEncoderConfig(p=32)).eval()
    assert 2e5 < enc.n_params() < 5e6
    x = torch.randint(0, 256, (2, 9, 88, 88), dtype=torch.uint8)
    with torch.no_grad():
        v = enc(x)
        assert v.shape == (2, 9, 32) and v.dtype == torch.float32
        torch.testing.assert_close(enc(x.float() / 255), v, atol=1e-4, rtol=1e-4)  # uint8 == 0..1 float
        assert enc.classify(x).shape == (2, 9, 13)
        # temporal context is local: changing the last frame leaves the first frame's features alone
        y = x.clone()
        y[:, -1] = 0
        assert not torch.allclose(enc(y)[:, -1], v[:, -1])
    with pytest.raises(ValueError, match="batch axis"):
        enc(x[0])


def test_config_roundtrip_used_by_priors():
    from dataclasses import asdict
    enc = visual.LipEncoder(visual.LipEncoderConfig(p=16))
    again = visual.LipEncoder(visual.LipEncoderConfig(**asdict(enc.config)))
    again.load_state_dict(enc.state_dict())
    assert again.config.p == 16 and enc.cfg is enc.config


def test_save_load_roundtrip(tmp_path):
    enc = visual.LipEncoder().eval()
    visual.save_lip_encoder(enc, str(tmp_path / "e.pt"), meta={"note": 1})
    enc2 = visual.load_lip_encoder(str(tmp_path / "e.pt"))
    x = torch.randint(0, 256, (1, 6, 88, 88), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), enc2(x))
    assert enc2.meta == {"note": 1} and not any(p.requires_grad for p in enc2.parameters())
    with pytest.raises(FileNotFoundError, match="lip-encoder train"):
        visual.load_lip_encoder(str(tmp_path / "missing.pt"))


def test_short_training_and_feature_extraction(tiny, tmp_path):
    res = visual.train_lip_encoder(tiny, str(tmp_path / "enc.pt"), steps=6, batch=2, clip_frames=12,
                                   progress=False, eval_splits=("test_matched",))
    acc = res["accuracy"]["test_matched"]
    assert 0 <= acc["accuracy"] <= 1 and 0 < acc["majority_rate"] < 1 and acc["frames"] > 0
    enc = visual.load_lip_encoder(str(tmp_path / "enc.pt"))
    n = visual.extract_features(tiny, enc, str(tmp_path / "feats"), split="valid")
    rows = load_metadata(tiny, "valid")
    assert n == len(rows)
    for r in rows:
        assert np.load(tmp_path / "feats" / "valid" / f"{r['id']}.npy").shape == (r["n_video_frames"], 64)
    item = CropDataset(tiny, "valid", features=str(tmp_path / "feats"))[0]
    assert item["video"].shape == (51, 64) and item["audio"].shape == (32640,)


def test_shipped_checkpoint_is_small_and_beats_majority():
    if not os.path.exists(visual.DEFAULT_CKPT):
        pytest.skip("no shipped lip encoder checkpoint yet")
    assert os.path.getsize(visual.DEFAULT_CKPT) < 5 * 2 ** 20
    enc = visual.load_lip_encoder()
    for split in ("test_matched", "test_mismatched"):
        a = enc.meta["accuracy"][split]
        assert a["accuracy"] > a["majority_rate"] + 0.1, (split, a)


def test_new_face_augmentation_keeps_motion_and_labels(tiny):
    clips = visual._load_split(tiny, "valid")
    same = visual._batch(clips, np.random.default_rng(3), 4, 12, p_new_face=0.0)
    again = visual._batch(clips, np.random.default_rng(3), 4, 12, p_new_face=0.0)
    torch.testing.assert_close(same[0], again[0])
    from udiffse_lite.data.lips import mouth_opening
    for seed in range(4):  # one clip per draw: the same clip and crop, once as stored, once on a new face
        (old, y_old), (new, y_new) = (visual._batch(clips, np.random.default_rng(seed), 1, 12, p_new_face=p)
                                      for p in (0.0, 1.0))
        assert new.shape == old.shape and new.dtype == torch.uint8
        torch.testing.assert_close(y_new, y_old)  # the same viseme labels
        assert (new.float() - old.float()).abs().mean() > 5  # another face and skin, not sensor noise
        # the mouth still opens and closes with the same articulation
        a, b = mouth_opening(new[0].numpy()), mouth_opening(old[0].numpy())
        if np.ptp(b) > 0 and np.ptp(a) > 0:
            assert np.corrcoef(a, b)[0, 1] > 0.5, (seed, a, b)
    with pytest.raises(ValueError, match="p_new_face"):
        visual.train_lip_encoder(tiny, None, steps=1, p_new_face=1.5, progress=False)


def test_new_faces_evaluation_and_extraction_are_reproducible(tiny, tmp_path):
    enc = visual.LipEncoder().eval()
    a = visual.frame_accuracy(tiny, enc, "valid", majority_class=0, face="random")
    b = visual.frame_accuracy(tiny, enc, "valid", majority_class=0, face="random")
    assert a == b and a["frames"] == sum(r["n_video_frames"] for r in load_metadata(tiny, "valid"))
    visual.extract_features(tiny, enc, str(tmp_path / "own"), split="valid")
    visual.extract_features(tiny, enc, str(tmp_path / "new"), split="valid", face="random")
    visual.extract_features(tiny, enc, str(tmp_path / "new2"), split="valid", face="random")
    r = load_metadata(tiny, "valid")[0]
    own, new, new2 = (np.load(tmp_path / d / "valid" / f"{r['id']}.npy") for d in ("own", "new", "new2"))
    np.testing.assert_array_equal(new, new2)
    assert new.shape == own.shape and not np.allclose(new, own)


def test_shipped_encoder_reads_unseen_faces():
    """The shipped reader was trained with new-face augmentation: faces it never saw cost it little."""
    if not os.path.exists(visual.DEFAULT_CKPT):
        pytest.skip("no shipped lip encoder checkpoint yet")
    acc = visual.load_lip_encoder().meta["accuracy"]
    if "test_mismatched@new-faces" not in acc:
        pytest.skip("the shipped lip encoder predates the new-face evaluation")
    for split in ("test_matched", "test_mismatched"):
        assert acc[f"{split}@new-faces"]["accuracy"] > acc[split]["accuracy"] - 0.05, (split, acc)
        assert acc[f"{split}@new-faces"]["accuracy"] > 0.75


def test_run_snapshots_get_the_reader_their_features_came_from():
    """A training run's prior.pt carries no lip reader; evaluation attaches the one its features came from."""
    from udiffse_lite.evaluation import _run_lip_encoder
    if not (os.path.exists(visual.DEFAULT_CKPT) and os.path.exists(visual.V1_CKPT)):
        pytest.skip("the shipped lip readers are missing")
    x = torch.randint(0, 256, (1, 6, 88, 88), dtype=torch.uint8)
    with torch.no_grad():
        v1, new = visual.load_lip_encoder(visual.V1_CKPT)(x), visual.load_lip_encoder()(x)
        assert not torch.allclose(v1, new)
        for feats, want in (("data/corpus/features/lips", v1), ("/c/features/lips/", v1),
                            ("data/corpus/features/lips_faces", new)):
            torch.testing.assert_close(_run_lip_encoder({"data": {"features": feats}})(x), want)
        torch.testing.assert_close(_run_lip_encoder({})(x), new)
