"""udiffse_lite: diffusion-based unsupervised (audio-visual) speech enhancement, as a course.

    import udiffse_lite as ul
    prior = ul.load_pretrained("tiny-av")
    y, sr = ul.load_audio("noisy.wav")
    s_hat = ul.enhance(y, sr, prior=prior, method="udiffse+")

Notebook: 00_setup.ipynb
"""
import os

# One size switch for the course (BoTorch's SMOKE_TEST), read once, here: UDIFFSE_SIZE is
# "fast" (nbval: seconds), "book" (the rendered book on a 2-core CPU: the real settings on short
# audio) or "full" (a student's run, a GPU welcome). UDIFFSE_FAST=1 is the old spelling of "fast".
_fast_env = os.environ.get("UDIFFSE_FAST", "0") not in ("", "0", "false", "False")
SIZE: str = os.environ.get("UDIFFSE_SIZE", "").strip().lower() or ("fast" if _fast_env else "full")
if SIZE not in ("fast", "book", "full"):
    raise ValueError(f"UDIFFSE_SIZE must be 'fast', 'book' or 'full', got {SIZE!r}")
FAST: bool = SIZE == "fast"


def size(fast, book=None, full=None):
    """The value of a chapter knob at the current :data:`SIZE`.

    ``book`` defaults to ``full``, ``full`` to ``book``: give the two that differ. Used inline,
    next to the knob: ``n_steps = ul.size(fast=4, book=30)``.

    Notebook: 00_setup.ipynb
    """
    if book is None and full is None:
        raise ValueError("give the book and/or full value too")
    book = full if book is None else book
    full = book if full is None else full
    return {"fast": fast, "book": book, "full": full}[SIZE]

from . import examples, metrics, nmf, samplers, sde, spectral  # noqa: E402
from .audio import load_audio, save_audio  # noqa: E402
from .nmf import NMF  # noqa: E402
from .priors import GaussianPrior, ScorePrior, load_pretrained  # noqa: E402
from .samplers import SamplerConfig, enhance, enhance_batch, prior_sample, udiffse, udiffse_plus  # noqa: E402
from .sde import OUVESDE  # noqa: E402
from .resynthesis import resynthesize  # noqa: E402
from .separation import separate  # noqa: E402

__version__ = "0.1.0"
__all__ = ["FAST", "SIZE", "size", "GaussianPrior", "examples", "NMF", "OUVESDE", "SamplerConfig", "ScorePrior", "enhance",
           "load_audio", "load_pretrained", "metrics", "nmf", "prior_sample", "samplers", "save_audio",
           "resynthesize", "sde", "separate", "spectral", "udiffse", "udiffse_plus", "enhance_batch"]
