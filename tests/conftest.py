import os

import numpy as np
import pytest
import torch

os.environ.setdefault("UDIFFSE_FAST", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """The 'tiny' teaching corpus, built once per session (needs the speech engines)."""
    import shutil

    if shutil.which("espeak-ng") is None or shutil.which("festival") is None:
        pytest.skip("speech engines missing: run scripts/install_system_deps.sh")
    from udiffse_lite.data import build_corpus

    out = str(tmp_path_factory.getbasetemp() / "tiny_corpus_shared")
    build_corpus("tiny", out, seed=0, progress=False)
    return out
