"""The NQE-filtered pool of benchmarks/nqe_pool.py (issue 11, AV2Wav's data selection in miniature)."""
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("nqe_pool", ROOT / "benchmarks" / "nqe_pool.py")
nqe_pool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nqe_pool)


def _rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def corpus_with_lips(tiny_corpus, tmp_path_factory):
    """The tiny corpus with the first lip reader's features, which the robust encoder reads."""
    from udiffse_lite import visual

    corpus = str(tmp_path_factory.mktemp("pool_corpus") / "c")
    shutil.copytree(tiny_corpus, corpus)
    enc = visual.load_lip_encoder(visual.V1_CKPT)
    for split in ("train", "valid"):
        visual.extract_features(corpus, enc, f"{corpus}/features/lips", split=split)
    return corpus


def test_pool_degrades_a_known_fraction_and_the_nqe_keeps_the_clean(corpus_with_lips, tmp_path):
    from udiffse_lite.data.corpus import load_metadata

    tiny_corpus = corpus_with_lips
    out = tmp_path / "pool"
    s = nqe_pool.build(tiny_corpus, str(out), fraction=0.5, threshold=3.0, seed=0)
    train = load_metadata(tiny_corpus, "train")
    assert s["utterances"] == len(train) and s["degraded"] == round(0.5 * len(train))
    # the shipped estimator separates noisy/reverberant audio from clean speech
    assert s["recall_clean"] >= 0.8 and s["precision_clean"] >= 0.75
    assert s["nqe_pesq_clean_median"] > 3.5 > 2.0 > s["nqe_pesq_degraded_median"]
    pool = _rows(out / "train.jsonl")
    own = {r["id"]: os.path.abspath(r["wav"]) for r in train}
    for r in pool:  # degraded audio lives in the pool; the corpus' own files are not touched
        if r["pool_degraded"]:
            assert r["wav"].startswith(str(out)) and os.path.exists(r["wav"])
        else:
            assert r["wav"] == own[r["id"]]
        assert (out / "features" / "robust" / "train" / f"{r['id']}.npy").exists()
    kept = {r["id"] for r in _rows(out / "nqe" / "train.jsonl")}
    assert kept == {r["id"] for r in pool if r["nqe_pesq"] >= 3.0}
    assert json.loads((out / "pool.json").read_text())["kept_by_nqe"] == len(kept)


def test_pool_refuses_bad_settings_before_any_work(tiny_corpus, tmp_path):
    with pytest.raises(ValueError, match="fraction"):
        nqe_pool.build(tiny_corpus, str(tmp_path / "p"), fraction=1.0, threshold=3.0, seed=0)
    with pytest.raises(ValueError, match="new folder"):
        nqe_pool.build(tiny_corpus, tiny_corpus, fraction=0.4, threshold=3.0, seed=0)
    bare = tmp_path / "bare"  # a corpus without its lip features
    shutil.copytree(tiny_corpus, bare, ignore=shutil.ignore_patterns("features"))
    with pytest.raises(FileNotFoundError, match="lip-encoder extract"):
        nqe_pool.build(str(bare), str(tmp_path / "p"), fraction=0.4, threshold=3.0, seed=0)
    assert not (tmp_path / "p").exists()
