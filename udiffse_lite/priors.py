"""Speech priors: anything with ``.sde`` and ``.score(s_t, t, video=None)``.

Samplers take a prior, never a bare network. Two kinds ship:

* :class:`GaussianPrior`: clean speech modelled as ``s ~ CN(0, diag(v))``. Its
  score at every diffusion time is known in closed form, so with it (and the
  true noise variance) posterior sampling must reproduce the Wiener filter.
* :class:`ScorePrior`: a trained score network (``udiffse_lite.unet``) with its
  SDE and an optional frozen lip encoder, saved as one checkpoint file.

Notebook: 04_reverse_sampling.ipynb
"""
from __future__ import annotations

import os
import urllib.request
from dataclasses import asdict, fields
from pathlib import Path

import torch

from .sde import OUVESDE, expand_like
from .spectral import crop_frames, pad_frames

FORMAT = "udiffse_lite/1"
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"


class GaussianPrior:
    """Analytic prior ``s ~ CN(0, diag(variance))``.

    At diffusion time t, ``s_t ~ CN(0, mu_t^2 vs + sigma_t^2)``, so the score is
    ``-s_t / (mu_t^2 vs + sigma_t^2)`` exactly.

    Args:
        variance: (F, T) or broadcastable non-negative tensor, the per-bin variance vs (sigma_s^2 in the book).
        sde: the forward SDE (default OU-VE with the package's defaults).

    Notebook: 08_posterior_udiffse.ipynb
    """

    def __init__(self, variance: torch.Tensor, sde: OUVESDE | None = None):
        variance = torch.as_tensor(variance)
        if torch.any(variance < 0) or not torch.isfinite(variance).all():
            raise ValueError("GaussianPrior variance must be finite and non-negative")
        self.variance = variance
        self.sde = sde or OUVESDE()
        self.n_evals = 0  # counts score evaluations (the samplers' cost unit)

    def score(self, s_t: torch.Tensor, t, video=None, guidance=None) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32)
        mu = expand_like(self.sde.mean_factor(t), s_t)
        sigma = expand_like(self.sde.std(t), s_t)
        self.n_evals += 1
        return -s_t / (mu ** 2 * self.variance.to(s_t.device) + sigma ** 2)

    def _mu2_sig2(self, t):
        t = torch.as_tensor(t, dtype=torch.float32)
        return self.sde.mean_factor(t) ** 2, self.sde.std(t) ** 2

    def posterior_mean(self, s_t: torch.Tensor, t) -> torch.Tensor:
        """``E[s | s_t] = mu_t vs s_t / (mu_t^2 vs + sigma_t^2)``: a Wiener gain on ``s_t``.

        Notebook: 05_tweedie.ipynb
        """
        mu2, sig2 = self._mu2_sig2(t)
        vs = self.variance.to(s_t.device)
        return mu2.sqrt() * vs * s_t / (mu2 * vs + sig2)

    def posterior_variance(self, t) -> torch.Tensor:
        """``Var[s | s_t] = vs sigma_t^2 / (mu_t^2 vs + sigma_t^2)``, per bin: the error no
        one-step (Tweedie) estimate can remove.

        Notebook: 05_tweedie.ipynb
        """
        mu2, sig2 = self._mu2_sig2(t)
        return self.variance * sig2 / (mu2 * self.variance + sig2)

    def dsm_floor(self, t) -> torch.Tensor:
        """The smallest denoising score-matching loss any network can reach at time ``t``, per
        bin: ``mu_t^2 vs / (mu_t^2 vs + sigma_t^2)``. The best network predicts
        ``E[z | s_t] = sigma_t s_t / (mu_t^2 vs + sigma_t^2)``; what is left of ``E|z|^2 = 1`` is
        the posterior variance of ``z``.

        Notebook: 03_score_matching.ipynb
        """
        mu2, sig2 = self._mu2_sig2(t)
        return mu2 * self.variance / (mu2 * self.variance + sig2)

    def mmse_bound(self, V: torch.Tensor, n_samples: float = float("inf")) -> float:
        """Mean squared error, averaged over bins, of the mean of ``n_samples`` exact posterior
        samples of ``s`` given ``x = s + n``, ``n ~ CN(0, V)``: ``MMSE (1 + 1/b)`` with
        ``MMSE = vs V / (vs + V)`` (``n_samples=inf``: the Wiener filter's own error).

        Notebook: 08_posterior_udiffse.ipynb
        """
        mmse = (self.variance * V / (self.variance + V)).mean().item()
        return mmse * (1 + 1 / n_samples) if n_samples != float("inf") else mmse

    def exact_likelihood(self, X: torch.Tensor, V: torch.Tensor):
        """The *exact* ``grad log p(X | s_t)`` for the mixture ``X = s + n``, ``n ~ CN(0, V)``.

        ``s | s_t`` is Gaussian with mean ``A s_t``, ``A = mu vs / (mu^2 vs + sigma^2)``, and
        variance ``c = vs sigma^2 / (mu^2 vs + sigma^2)``, so ``X | s_t ~ CN(A s_t, c + V)`` and
        the gradient is ``A (X - A s_t) / (c + V)``.

        Returns:
            ``f(S, t) -> grad``, to pass as ``likelihood=`` to ``posterior_sample``.

        Notebook: 08_posterior_udiffse.ipynb
        """
        def grad(S, t):
            mu2, sig2 = self._mu2_sig2(t)
            A = mu2.sqrt() * self.variance / (mu2 * self.variance + sig2)
            return A * (X - A * S) / (self.posterior_variance(t) + V)
        return grad


class ScorePrior(torch.nn.Module):
    """A trained score network with its SDE (and optionally a frozen lip encoder).

    ``score(s_t, t) = -net(s_t, t, v) / sigma_t``: the network predicts the
    (negated) standard normal noise ``z`` of ``s_t = mu_t s + sigma_t z``.

    Args:
        net: a ``udiffse_lite.unet.ScoreUNet`` (input (B, 2, F, T) real/imag, output the same).
        sde: the SDE it was trained with.
        lip_encoder: optional frozen ``udiffse_lite.visual.LipEncoder``; when given,
            ``video`` may be raw lip frames (B, T_v, 88, 88) instead of features.

    Notebook: 03_score_matching.ipynb
    """

    def __init__(self, net: torch.nn.Module, sde: OUVESDE | None = None,
                 lip_encoder: torch.nn.Module | None = None, meta: dict | None = None):
        super().__init__()
        self.net = net
        self.sde = sde or OUVESDE()
        cfg = getattr(net, "config", None)
        if getattr(cfg, "precond", "none") != "none" and tuple(cfg.precond_sde) != (
                self.sde.theta, self.sde.sigma_min, self.sde.sigma_max):
            raise ValueError(f"the network's preconditioning assumes the SDE (theta, sigma_min, sigma_max) = "
                             f"{tuple(cfg.precond_sde)}, the prior was given {self.sde}; build both from one SDE")
        self.lip_encoder = lip_encoder
        if lip_encoder is not None:
            lip_encoder.requires_grad_(False).eval()
        self.meta = dict(meta or {})
        self.n_evals = 0

    @property
    def conditional(self) -> bool:
        """True if the network has visual-conditioning blocks."""
        return bool(getattr(self.net.config, "video_dim", 0))

    def features(self, video: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """Turn ``video`` (features (T_v, p)/(B, T_v, p) or frames (T_v, H, W)/(B, T_v, H, W))
        into a float (B, T_v, p) batch for the network."""
        if video is None:
            return None
        if not self.conditional:
            raise ValueError("this prior is audio-only (trained without video); pass video=None "
                             "or load an audio-visual checkpoint such as 'tiny-av'")
        v = torch.as_tensor(video)
        p = self.net.config.video_dim
        is_frames = v.dim() >= 3 and v.shape[-1] != p and v.shape[-1] == v.shape[-2]
        if is_frames:
            if self.lip_encoder is None:
                raise ValueError(f"got lip frames of shape {tuple(v.shape)} but this prior has no lip "
                                 f"encoder; pass features of shape (T_v, {p}) instead")
            if v.dim() == 3:
                v = v[None]
            with torch.no_grad():
                v = self.lip_encoder(v.to(self._device()))
        if v.dim() == 2:
            v = v[None]
        if v.shape[-1] != p:
            raise ValueError(f"video features have dimension {v.shape[-1]}, the network expects {p}")
        if v.shape[0] == 1 and batch > 1:
            v = v.expand(batch, -1, -1)
        return v.to(self._device(), torch.float32)

    def _device(self):
        return next(self.net.parameters()).device

    precision: str = "fp32"  # "fp32" or "bf16" (autocast for the network's forward; see set_precision)
    bf16_min_t: float = 0.2  # in bf16, diffusion times below this still run in fp32 (see set_precision)

    def set_precision(self, precision: str) -> "ScorePrior":
        """Run the network in ``"fp32"``, ``"bf16"`` (autocast; fast on CPUs with AMX-BF16 and on
        recent GPUs) or ``"auto"``: bf16 where the hardware has it, except a CPU running
        channels-last (what :func:`load_pretrained` sets there), where fp32 measured as fast at
        2 chains and 15 % faster at 1 (``docs/speed.md``). Returns ``self``.

        In bf16 the network still runs in fp32 at diffusion times below ``bf16_min_t`` (0.2: the
        last fifth of the reverse steps, where the estimate is refined): on the 24 validation
        mixtures the SI-SDR gap to fp32 at 30 x 2 fell from 0.11 dB (all bf16) to 0.09 (fp32 below
        t = 0.1) and 0.07 dB (below 0.2) at no measured cost in speed. ``bf16_min_t = 0`` is bf16
        throughout.

        Notebook: 09_udiffse_plus.ipynb
        """
        if precision == "auto":
            dev = self._device()
            precision = "bf16" if bf16_is_fast(dev) and not (dev.type == "cpu" and self.channels_last) else "fp32"
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32', 'bf16' or 'auto', got {precision!r}")
        self.precision = precision
        return self

    channels_last: bool = False  # NHWC convolutions (see set_channels_last)

    def set_channels_last(self, enabled: bool = True) -> "ScorePrior":
        """Run the network's convolutions in channels-last (NHWC) memory format: measured 1.9x
        faster forwards in fp32 on the 2-core course CPU (``benchmarks/bench_inference.py``), the
        same numbers up to float rounding. Returns ``self``.

        Notebook: 09_udiffse_plus.ipynb
        """
        self.net.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)
        self.channels_last = bool(enabled)
        return self

    compiled: torch.nn.Module | None = None  # torch.compile'd view of net (see set_compiled)

    def set_compiled(self, mode: str | None = "reduce-overhead", backend: str = "inductor") -> "ScorePrior":
        """Run the network through ``torch.compile`` (``mode=None`` turns it off). Returns ``self``.

        On a GPU, ``"reduce-overhead"`` (CUDA graphs) halves the paper tier's UDiffSE+ time
        (RTF 0.364 -> 0.167 in bf16 on an H200, ``docs/speed.md``) for a one-off compile of about
        a minute per process and input shape; on the course CPU it does not pay (34-42 s of
        compile for less than channels-last gives). The weights stay in ``net``: saving,
        loading and ``state_dict`` are unchanged.

        Notebook: 09_udiffse_plus.ipynb
        """
        compiled = None if mode is None else torch.compile(self.net, mode=mode, backend=backend)
        object.__setattr__(self, "compiled", compiled)  # not a submodule: state_dict stays the net's
        return self

    def forward_net(self, s_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor | None,
                    uncond_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Network output as a complex tensor (B, F, T), padding and cropping the time axis."""
        x = torch.stack([s_t.real, s_t.imag], dim=1)  # (B, 2, F, T)
        x, T = pad_frames(x, self.net.downsample_factor)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        dev = x.device.type
        bf16 = self.precision == "bf16" and float(t.min()) >= self.bf16_min_t
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
            net = self.compiled if self.compiled is not None else self.net
            if uncond_mask is None:
                out = net(x, t, v)  # (B, 2, F, T_pad)
            else:
                out = net(x, t, v, uncond_mask)
        out = crop_frames(out.float(), T)
        return torch.complex(out[:, 0], out[:, 1])

    def score(self, s_t: torch.Tensor, t, video=None, guidance: float | None = None) -> torch.Tensor:
        """Score of the diffused speech prior.

        Args:
            s_t: (B, 256, T) complex64, compressed spectrogram at diffusion time t.
            t: scalar or (B,) diffusion time(s) in [t_eps, 1].
            video: optional visual features or lip frames (see :meth:`features`).
            guidance: classifier-free guidance weight ``w`` (AV priors with video only):
                ``score = s(v=None) + w (s(v) - s(v=None))``; ``w = 1`` (or None) is the plain
                conditional score, ``w = 0`` the audio-only one. Both halves run in one
                batched forward.

        Returns:
            (B, 256, T) complex64.
        """
        squeeze = s_t.dim() == 2
        if squeeze:
            s_t = s_t[None]
        B = s_t.shape[0]
        t = torch.as_tensor(t, dtype=torch.float32, device=s_t.device)
        if t.dim() == 0:
            t = t.expand(B)
        v = video if (video is None or torch.is_tensor(video) and video.dim() == 3
                      and video.shape[-1] == getattr(self.net.config, "video_dim", -1)
                      and video.shape[0] == B) else self.features(video, B)
        if guidance is not None and guidance != 1.0 and v is not None:
            mask = torch.arange(2 * B, device=s_t.device) >= B  # second half: the null video
            both = self.forward_net(torch.cat([s_t, s_t]), torch.cat([t, t]), torch.cat([v, v]), mask)
            out = both[B:] + guidance * (both[:B] - both[B:])
        else:
            out = self.forward_net(s_t, t, v)
        self.n_evals += 1
        score = -out / expand_like(self.sde.std(t), out)
        return score[0] if squeeze else score

    # ---------------------------------------------------------------- checkpoints
    def checkpoint(self, **meta) -> dict:
        """Everything needed to rebuild this prior, as plain types and tensors."""
        ckpt = {
            "format": FORMAT,
            "net_config": asdict(self.net.config),
            "sde": asdict(self.sde),
            "state_dict": self.net.state_dict(),
            "meta": {**self.meta, **meta},
        }
        if self.lip_encoder is not None:
            ckpt["lip_encoder_config"] = asdict(self.lip_encoder.config)
            ckpt["lip_encoder_state"] = self.lip_encoder.state_dict()
        return ckpt

    def save(self, path, half: bool = False, **meta) -> Path:
        """Write the checkpoint atomically (a partial file never replaces a good one).

        ``half=True`` stores the floating-point weights in float16 (half the file: how a
        colab-tier prior fits the 25 MB a shipped checkpoint may take); loading casts them
        back to float32.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        ckpt = self.checkpoint(**meta)
        if half:
            for key in ("state_dict", "lip_encoder_state"):
                if key in ckpt:
                    ckpt[key] = {k: v.half() if v.is_floating_point() else v for k, v in ckpt[key].items()}
            ckpt["meta"]["stored_as"] = "float16"
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def from_checkpoint(cls, path, map_location="cpu", expect_config: dict | None = None) -> "ScorePrior":
        """Load a prior saved by :meth:`save` (``torch.load(weights_only=True)``).

        Raises:
            FileNotFoundError: the file does not exist.
            ValueError: the file is not a udiffse_lite checkpoint, is corrupt, or its
                config disagrees with ``expect_config``.

        Notebook: 03_score_matching.ipynb
        """
        from .unet import ScoreUNet, UNetConfig

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {path} does not exist; train one with "
                                    "`python -m udiffse_lite train` or use load_pretrained('tiny-ao')")
        try:
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # truncated or foreign file
            raise ValueError(f"checkpoint {path} could not be read ({type(e).__name__}: {e}); "
                             "it is corrupt or not a torch file: re-download or re-train it") from e
        if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
            raise ValueError(f"{path} is not a udiffse_lite prior checkpoint (format {FORMAT!r} expected)")
        cfg_dict = ckpt["net_config"]
        if expect_config is not None:
            diff = {k: (cfg_dict.get(k), v) for k, v in expect_config.items() if cfg_dict.get(k) != v}
            if diff:
                raise ValueError(f"checkpoint {path} was trained with another config: "
                                 f"(found, expected) = {diff}")
        known = {f.name for f in fields(UNetConfig)}
        net = ScoreUNet(UNetConfig(**{k: v for k, v in cfg_dict.items() if k in known}))
        try:
            net.load_state_dict(ckpt["state_dict"])
        except RuntimeError as e:
            raise ValueError(f"checkpoint {path} does not match its own config: {e}") from e
        sde = OUVESDE(**ckpt["sde"])
        enc = None
        if "lip_encoder_config" in ckpt:
            from .visual import LipEncoder, LipEncoderConfig
            enc = LipEncoder(LipEncoderConfig(**ckpt["lip_encoder_config"]))
            enc.load_state_dict(ckpt["lip_encoder_state"])
        prior = cls(net, sde, enc, meta=ckpt.get("meta"))
        prior.eval()
        return prior.to(map_location)


def bf16_is_fast(device) -> bool:
    """True where bf16 matrix work is native: a CUDA GPU with bf16, or a CPU with AMX-BF16
    (or AVX512-BF16). Elsewhere bf16 autocast is emulated and slower than float32.

    Notebook: 09_udiffse_plus.ipynb
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


# Shipped teaching priors, written by scripts/ship_priors.py: name -> {"file", "sha256",
# "recipe", optional "url"}. Each has a sha256 so a download (for larger tiers hosted
# outside the repository) can be verified; the tiny ones live in the package itself.
def _registry() -> dict[str, dict]:
    import json

    f = CHECKPOINT_DIR / "registry.json"
    return json.loads(f.read_text()) if f.exists() else {}


PRETRAINED: dict[str, dict] = _registry()


def _sha256(path: Path) -> str:
    from .data.real import sha256_of  # the one sha256 helper of the package

    return sha256_of(str(path))


def load_pretrained(name: str, map_location="cpu", cache_dir=None, channels_last: bool | None = None) -> ScorePrior:
    """Load a teaching prior by name (``"tiny-ao"``, ``"tiny-av"``, ...), offline when shipped.

    ``channels_last`` (default: on a CPU) runs the convolutions in NHWC memory format, 1.9x
    faster forwards in fp32 on the course's CPU with the same numbers up to float rounding
    (:meth:`ScorePrior.set_channels_last`, ``docs/speed.md``).

    Notebook: 00_setup.ipynb
    """
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained prior {name!r}; available: {sorted(PRETRAINED)}")
    entry = PRETRAINED[name]
    path = CHECKPOINT_DIR / entry["file"]
    if not path.exists():
        if not entry.get("url"):
            raise FileNotFoundError(f"{path} is missing from the package; reinstall udiffse_lite or "
                                    f"re-train it with `{entry.get('recipe', 'python -m udiffse_lite train')}`")
        cache = Path(cache_dir or os.environ.get("UDIFFSE_CACHE", Path.home() / ".cache" / "udiffse_lite"))
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / entry["file"]
        if not path.exists():
            tmp = path.with_suffix(".part")
            urllib.request.urlretrieve(entry["url"], tmp)
            if entry.get("sha256") and _sha256(tmp) != entry["sha256"]:
                tmp.unlink()
                raise ValueError(f"download of {name} from {entry['url']} has the wrong sha256; "
                                 "the file was discarded: retry, or report a stale link")
            os.replace(tmp, path)
    if entry.get("sha256") and _sha256(path) != entry["sha256"]:
        raise ValueError(f"{path} has the wrong sha256 (corrupt or stale download); delete it and retry")
    prior = ScorePrior.from_checkpoint(path, map_location=map_location)
    if channels_last is None:
        channels_last = prior._device().type == "cpu"
    return prior.set_channels_last(channels_last) if channels_last else prior
