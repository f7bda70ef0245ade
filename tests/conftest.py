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
