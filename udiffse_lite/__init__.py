"""udiffse_lite: diffusion-based unsupervised (audio-visual) speech enhancement, as a course.

    import udiffse_lite as ul
    prior = ul.load_pretrained("tiny-av")
    y, sr = ul.load_audio("noisy.wav")
    s_hat = ul.enhance(y, sr, prior=prior, method="udiffse+")

Notebook: 00_setup.ipynb
"""
import os

# One fast switch for the course (BoTorch's SMOKE_TEST): read once, here.
FAST: bool = os.environ.get("UDIFFSE_FAST", "0") not in ("", "0", "false", "False")

from . import examples, metrics, nmf, samplers, sde, spectral  # noqa: E402
from .audio import load_audio, save_audio  # noqa: E402
from .nmf import NMF  # noqa: E402
from .priors import GaussianPrior, ScorePrior, load_pretrained  # noqa: E402
from .samplers import SamplerConfig, enhance, prior_sample, udiffse, udiffse_plus  # noqa: E402
from .sde import OUVESDE  # noqa: E402

__version__ = "0.1.0"
__all__ = ["FAST", "GaussianPrior", "examples", "NMF", "OUVESDE", "SamplerConfig", "ScorePrior", "enhance",
           "load_audio", "load_pretrained", "metrics", "nmf", "prior_sample", "samplers", "save_audio",
           "sde", "spectral", "udiffse", "udiffse_plus"]
