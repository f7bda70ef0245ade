"""Training a score prior by denoising score matching.

The loss (Vincent 2011; Song et al. 2021) for the OU-VE SDE: draw
``t ~ U(t_eps, 1)``, ``z ~ CN(0, I)``, form ``s_t = mu_t s + sigma_t z`` and
regress the network output onto ``z``:

    L = E |sigma_t * score(s_t, t) + z|^2 = E |z - net(s_t, t, v)|^2,

since the score is parametrised as ``-net / sigma_t``. At initialisation
(``net ~ 0``) the loss is ``E|z|^2 = 1``: a number to sanity-check against.

:class:`Trainer` adds what a real run needs: AdamW, an EMA of the weights with
warm-up, gradient clipping, AMP on CUDA, condition dropout for classifier-free
guidance, random 128/256-frame crops, periodic validation, atomic resumable
checkpoints, DistributedDataParallel under ``torchrun``, and a bit-identical
fixed-seed path on CPU. All randomness of step ``k`` (batch order, crop
offsets, ``t``, ``z``, condition dropout) comes from a generator seeded by
``(seed, k, rank)``, so resuming at step ``k`` replays exactly what an
uninterrupted run would have done.

Notebook: 03_score_matching.ipynb
"""
from __future__ import annotations

import copy
import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .priors import ScorePrior
from .sde import OUVESDE
from .spectral import HOP, SR, VIDEO_FPS, crop_frames, normalise, pad_frames, to_spec

TRAIN_FORMAT = "udiffse_lite/train/1"
FRAMES_PER_VIDEO_FRAME = round(SR / HOP / VIDEO_FPS)  # 5 STFT frames = 640 samples = one 25 fps frame


def _unwrap(net: torch.nn.Module) -> torch.nn.Module:
    """The bare network inside a ScorePrior, DistributedDataParallel or torch.compile wrapper."""
    if hasattr(net, "forward_net") and hasattr(net, "net"):  # ScorePrior
        net = net.net
    for attr in ("module", "_orig_mod"):
        while hasattr(net, attr):
            net = getattr(net, attr)
    return net


LOSS_WEIGHTS = ("noise", "snr", "edm")
SIGMA_DATA = 0.2  # rms of |S| of a normalised compressed crop (0.17-0.22 on the corpus): EDM's sigma_data


def loss_weight(sde: OUVESDE, t: torch.Tensor, kind: str = "noise") -> torch.Tensor:
    """Per-sample weight of the DSM loss at diffusion time ``t`` (B,).

    ``"noise"``: 1, the noise-prediction loss of SGMSE / UDiffSE. Its error at large ``t`` is
    small (``s_t`` is mostly noise, so predicting ``z`` is easy) and what a *video* can add, where
    speech is and roughly what it sounds like, matters exactly there: an AV prior trained with it
    got almost no gradient through its video pathway (validation loss with the true, another
    utterance's and no video: 0.1167 / 0.1170 / 0.1168 at t = 0.3 after 2,000 steps).
    ``"snr"``: ``1 + sigma_t^2 / mu_t^2``, adding the clean-data (x0) error
    ``|s0_hat - s0|^2 = (sigma/mu)^2 |z_hat - z|^2``: about 4x at t = 1, 1x at small t, the same
    optimum (any positive weighting of the conditional scores has it).
    ``"edm"``: ``1 + sigma_t^2 / (mu_t sigma_data)^2``, EDM's weighting (Karras et al. 2022)
    written for a noise-predicting network: at large ``t`` the loss is the clean-data error
    ``|s0_hat - s0|^2 / sigma_data^2``, so where the noisy input says little the network is paid for
    every bit of the speech it can infer from elsewhere (the lips); about 77x at t = 1, 1x at
    small t.

    Notebook: 03_score_matching.ipynb
    """
    if kind == "noise":
        return torch.ones_like(t)
    if kind == "snr":
        return 1.0 + (sde.std(t) / sde.mean_factor(t)) ** 2
    if kind == "edm":
        return 1.0 + (sde.std(t) / (sde.mean_factor(t) * SIGMA_DATA)) ** 2
    raise ValueError(f"loss weight must be one of {LOSS_WEIGHTS}, got {kind!r}")


def dsm_loss(prior_or_net, sde: OUVESDE, s: torch.Tensor, video: torch.Tensor | None = None,
             generator: torch.Generator | None = None, t: torch.Tensor | None = None,
             uncond_mask: torch.Tensor | None = None, weight: str = "noise") -> torch.Tensor:
    """Denoising score-matching loss ``mean |z - net(s_t, t, v)|^2``.

    Args:
        prior_or_net: a :class:`~udiffse_lite.priors.ScorePrior` or a network
            ``net(x, t, v, uncond_mask)`` (a ``ScoreUNet``, possibly DDP-wrapped).
        sde: the forward SDE (gives ``mu_t``, ``sigma_t`` and ``t_eps``).
        s: (B, F, T) complex64 clean compressed spectrograms.
        video: None or (B, T_v, p) float video features.
        generator: source of ``t`` and ``z`` (on ``s.device``); None uses the global RNG.
        t: optional (B,) diffusion times (default ``U(t_eps, 1)``).
        uncond_mask: optional (B,) bool, True drops that sample's video (classifier-free guidance).

    Returns:
        Scalar float32 loss: the mean over batch, bins and frames of ``|z - out|^2``
        (equal to ``mean |sigma_t score + z|^2``; 1.0 for a network that outputs 0).

    Notebook: 03_score_matching.ipynb
    """
    if not torch.is_complex(s) or s.dim() != 3:
        raise ValueError(f"s must be a (B, F, T) complex spectrogram (spectral.to_spec), got "
                         f"{tuple(s.shape)} {s.dtype}")
    B = s.shape[0]
    if t is None:
        u = torch.rand(B, generator=generator, device=generator.device if generator else s.device)
        t = sde.t_eps + (1.0 - sde.t_eps) * u.to(s.device)  # (B,)
    s_t, z = sde.perturb(s, t, generator)  # (B, F, T) complex each
    net = prior_or_net.net if hasattr(prior_or_net, "forward_net") else prior_or_net
    x = torch.stack([s_t.real, s_t.imag], dim=1)  # (B, 2, F, T)
    x, T = pad_frames(x, _unwrap(net).downsample_factor)
    if uncond_mask is None:
        out = net(x, t, video)
    else:
        out = net(x, t, video, uncond_mask)
    out = crop_frames(out, T).float()  # (B, 2, F, T); float32 even under autocast
    err = torch.stack([z.real, z.imag], dim=1) - out  # (B, 2, F, T)
    if weight == "noise":
        return err.pow(2).sum(dim=1).mean()
    w = loss_weight(sde, t.to(err.device), weight)  # (B,), normalised to mean 1 over the batch
    return (err.pow(2).sum(dim=1).mean(dim=(1, 2)) * w).sum() / w.sum()


def envelope_loss(prior_or_net, s: torch.Tensor, video: torch.Tensor,
                  uncond_mask: torch.Tensor | None = None) -> torch.Tensor:
    """L1 error of a network's envelope head (``UNetConfig(envelope=True)``) against ``unet.envelope_target``.

    Args:
        s: (B, F, T) complex clean compressed spectrograms; video: (B, T_v, p) their features.
        uncond_mask: optional (B,) bool; those samples (null video) do not count.

    Returns:
        Scalar float32: the mean absolute error in normalised log-magnitude units over the kept samples
        (about 0.8 for a head that predicts the mean envelope of speech).
    """
    from .unet import envelope_target

    net = _unwrap(prior_or_net.net if hasattr(prior_or_net, "forward_net") else prior_or_net)
    err = (net.envelope(video, s.shape[-1], batch=s.shape[0]).float() - envelope_target(s)).abs().mean(dim=(1, 2))
    if uncond_mask is None:
        return err.mean()
    keep = (~torch.as_tensor(uncond_mask, dtype=torch.bool, device=err.device)).float()
    return (err * keep).sum() / keep.sum().clamp(min=1.0)


def score_dsm_loss(score_fn, sde: OUVESDE, s: torch.Tensor, t: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte Carlo DSM loss at one diffusion time, from any score function:
    ``mean |sigma_t score(s_t, t) + z|^2`` (the same number as :func:`dsm_loss` for a network).

    Args:
        score_fn: ``score_fn(s_t, t) -> score`` (``prior.score``; a ``GaussianPrior``'s is exact).
        s: (B, F, T) complex clean spectrograms.

    Notebook: 03_score_matching.ipynb
    """
    s_t, z = sde.perturb(s, t, generator)
    return (sde.std(t) * score_fn(s_t, t) + z).abs().pow(2).mean()


@dataclass
class TrainConfig:
    """Hyperparameters of :class:`Trainer` (the CLI maps flags onto these fields).

    Notebook: 03_score_matching.ipynb
    """

    batch_size: int = 8  # global batch (split across DDP ranks)
    crop_frames: int = 256  # 256 frames = 2.04 s as the papers; 128 halves the cost on a CPU
    lr: float = 1e-4  # AdamW learning rate of SGMSE / UDiffSE
    weight_decay: float = 0.0  # the reference trains without
    steps: int = 1000  # total optimiser steps of the run
    ema_decay: float = 0.999  # EMA of SGMSE / UDiffSE
    ema_warmup: bool = True  # decay_k = min(ema_decay, (1 + k) / (10 + k)): see Trainer.ema_decay_at
    grad_clip: float = 1.0  # max global grad norm; 0 disables (guards the first steps' large gradients)
    p_uncond: float = 0.0  # condition dropout for classifier-free guidance (0.1 for AV priors)
    amp: str = "auto"  # "auto" (CUDA: bf16 if supported else fp16; CPU: fp32), "native" (bf16 wherever the
    # hardware runs it natively: CUDA with bf16, a CPU with AMX-BF16 / AVX512-BF16; else as "auto"), "bf16",
    # "fp16" (CUDA only) or "none"
    seed: int = 0  # every random choice of step k is a function of (seed, k, rank)
    val_every: int = 500  # steps between validation losses (0: only at the end)
    val_batches: int = 4  # batches of the fixed validation set
    ckpt_every: int = 500  # steps between last.pt checkpoints (0: only at the end)
    num_workers: int = 0  # DataLoader workers; 0 keeps the CPU path simple and reproducible
    normalise: bool = True  # scale each crop to max|S| = 1, the scale samplers see after normalise()
    crop_gain_db: float = 0.0  # > 0: after normalise, scale each crop's compressed magnitude by a random gain
    # in [-crop_gain_db, 0] dB, so that the level is no cue (the noise prior, docs/separation.md section 5)
    gaussian_crops: float = 0.0  # fraction of crops replaced by complex Gaussian noise with the crop's own
    # long-term spectrum: the textureless states a noise prior meets along its own reverse process
    speed_perturb: float = 0.0  # resample each item by a random factor in [1-x, 1+x] (pitch, tempo and
    # vocal-tract length together, as Kaldi's speed perturbation): more "voices" from the same TTS engines
    formant_shift: float = 0.0  # warp each item's spectral envelope by a random factor in [1-x, 1+x] and keep
    # its pitch (the vocal tract alone); with speed_perturb, pitch and vocal-tract length vary independently
    lr_warmup: int = 0  # linear learning-rate warm-up over this many steps (0: none)
    lr_decay: str = "none"  # "none" or "cosine" (to lr_min_ratio * lr at `steps`)
    lr_min_ratio: float = 0.1  # floor of the cosine decay
    cond_lr_mult: float = 1.0  # learning-rate multiplier of the video-conditioning blocks (and null video)
    snapshot_every: int = 0  # also export the EMA prior as prior_step{k}.pt every k steps (learning curves)
    loss_weight: str = "noise"  # "noise" (SGMSE), "snr" (1 + sigma^2/mu^2) or "edm" (1 + sigma^2/(mu sd)^2)
    envelope_weight: float = 0.0  # weight of envelope_loss (networks with an envelope head; re-synthesis)

    def __post_init__(self):
        if self.crop_frames < 8:
            raise ValueError(f"crop_frames={self.crop_frames} is too short; use 128 or 256")
        if not 0.0 <= self.p_uncond < 1.0:
            raise ValueError(f"p_uncond must lie in [0, 1), got {self.p_uncond}")
        if self.amp not in ("auto", "native", "bf16", "fp16", "none"):
            raise ValueError(f"amp must be 'auto', 'native', 'bf16', 'fp16' or 'none', got {self.amp!r}")
        if self.loss_weight not in LOSS_WEIGHTS:
            raise ValueError(f"loss_weight must be one of {LOSS_WEIGHTS}, got {self.loss_weight!r}")
        if not (math.isfinite(self.crop_gain_db) and 0.0 <= self.crop_gain_db <= 60.0):
            raise ValueError(f"crop_gain_db must lie in [0, 60] dB, got {self.crop_gain_db}")
        if not 0.0 <= self.gaussian_crops <= 1.0:
            raise ValueError(f"gaussian_crops is a fraction of the crops, in [0, 1]; got {self.gaussian_crops}")
        if not 0.0 <= self.speed_perturb < 0.5:
            raise ValueError(f"speed_perturb must lie in [0, 0.5), got {self.speed_perturb}")
        if not 0.0 <= self.formant_shift < 0.5:
            raise ValueError(f"formant_shift must lie in [0, 0.5), got {self.formant_shift}")
        if self.lr_decay not in ("none", "cosine"):
            raise ValueError(f"lr_decay must be 'none' or 'cosine', got {self.lr_decay!r}")
        if self.lr_warmup < 0 or self.cond_lr_mult <= 0 or not 0 <= self.lr_min_ratio <= 1:
            raise ValueError("need lr_warmup >= 0, cond_lr_mult > 0 and 0 <= lr_min_ratio <= 1")
        if self.envelope_weight < 0:
            raise ValueError(f"envelope_weight must be >= 0, got {self.envelope_weight}")
        if self.batch_size < 1 or self.steps < 0:
            raise ValueError("batch_size must be >= 1 and steps >= 0")


def gaussian_texture(S: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Replace a random fraction ``p`` of the crops ``S`` (B, F, T) by Gaussian noise of the same spectrum.

    A replaced crop becomes ``sqrt(mean_t |S[b, f, :]|^2) * z`` with ``z ~ CN(0, 1)`` per bin: the same
    long-term power per frequency, no texture (no temporal modulation, no harmonics, no compressed-
    magnitude statistics). A noise prior trained on real noise alone shrinks such states, and its own
    reverse process produces them (``docs/separation.md`` section 5); trained with some of them it
    learns that they are noise too. Each crop is chosen with probability ``p`` from ``g``.
    """
    B = S.shape[0]
    pick = (torch.rand(B, generator=g, device=g.device) < p).to(S.device)
    if not bool(pick.any()):
        return S
    env = S.abs().pow(2).mean(-1, keepdim=True).sqrt()  # (B, F, 1)
    z = torch.randn(S.shape + (2,), generator=g, device=g.device).to(S.device)
    z = torch.complex(z[..., 0], z[..., 1]) / math.sqrt(2.0)
    return torch.where(pick[:, None, None], env * z.to(S.dtype), S)


def step_generator(seed: int, step: int, rank: int = 0, device="cpu") -> torch.Generator:
    """A generator whose stream depends only on ``(seed, step, rank)`` (counter-based RNG).

    Notebook: 03_score_matching.ipynb
    """
    state = np.random.SeedSequence([seed, step, rank]).generate_state(2, dtype=np.uint32)
    g = torch.Generator(device=device)
    g.manual_seed(int(state[0]) << 31 ^ int(state[1]))
    return g


def setup_distributed(device: str | None = None) -> tuple[int, int, torch.device]:
    """Initialise torch.distributed when ``WORLD_SIZE > 1`` (as set by ``torchrun``).

    Returns:
        ``(rank, world_size, device)``; ``(0, 1, device)`` for a single process.

    Notebook: 03_score_matching.ipynb
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if world <= 1:
        return 0, 1, torch.device(device or ("cuda" if use_cuda else "cpu"))
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    rank = dist.get_rank()
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", rank % max(torch.cuda.device_count(), 1)))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def speed_perturb(audio: torch.Tensor, video: torch.Tensor | None, max_change: float,
                  g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Speed perturbation: resample each waveform by a random factor ``r`` in ``[1 - x, 1 + x]``.

    Playing speech ``r`` times faster raises its pitch and formants by ``r`` and shortens it by
    ``1/r`` (a smaller speaker, talking faster): cheap new voices from the same TTS engines. The
    video follows the audio's new clock (frame ``j`` shows original time ``j r / 25`` s). All
    items are cut to the shortest result.

    Args:
        audio: (B, L) float waveforms at 16 kHz.
        video: None or (B, T_v, p) features (or (B, T_v, H, W) frames) at 25 fps.
        max_change: x, e.g. 0.15.
        g: the step's generator (the factors are a function of it).

    Returns:
        (B, L') audio and (B, ceil(L' / 640), ...) video.

    Notebook: 03_score_matching.ipynb
    """
    from fractions import Fraction

    from scipy.signal import resample_poly

    u = torch.rand(audio.shape[0], generator=g, device=g.device).cpu().numpy()
    rates = 1.0 + max_change * (2 * u - 1)
    outs, vids = [], []
    for b, r in enumerate(rates):
        fr = Fraction(float(r)).limit_denominator(40)  # r = speed: down/up samples
        y = resample_poly(audio[b].cpu().numpy(), fr.denominator, fr.numerator).astype(np.float32)
        outs.append(torch.from_numpy(y))
        if video is not None:
            n_v = video.shape[1]
            idx = (torch.arange(math.ceil(len(y) / (SR / VIDEO_FPS))) * float(fr)).long().clamp(max=n_v - 1)
            vids.append(video[b, idx.to(video.device)])
    L = min(len(o) for o in outs)
    audio = torch.stack([o[:L] for o in outs]).to(audio.device)
    if video is not None:
        n_v = math.ceil(L / (SR / VIDEO_FPS))
        video = torch.stack([v[:n_v] for v in vids])
    return audio, video


def spectral_envelope(logmag: torch.Tensor, n_fft: int, n_cep: int) -> torch.Tensor:
    """The cepstrally smoothed log-magnitude envelope of (..., n_fft // 2 + 1, T) log-magnitudes.

    Keeps the quefrencies below ``n_cep`` samples: the vocal tract's slow variation over frequency,
    without the harmonics (a pitch period is >= 40 samples at 16 kHz for voices below 400 Hz).
    """
    c = torch.fft.irfft(logmag, n=n_fft, dim=-2)  # real, even cepstrum (..., n_fft, T)
    lifter = torch.zeros(n_fft, 1, dtype=c.dtype, device=c.device)
    lifter[:n_cep] = 1.0
    lifter[n_fft - n_cep + 1:] = 1.0
    return torch.fft.rfft(c * lifter, dim=-2).real


def formant_shift(audio: torch.Tensor, max_change: float, g: torch.Generator, n_fft: int = 512,
                  hop: int = 128, n_cep: int = 30) -> torch.Tensor:
    """Vocal-tract length perturbation that keeps the pitch: warp each item's spectral envelope.

    For a random factor ``a`` in ``[1 - x, 1 + x]`` per item, every STFT frame is multiplied by
    ``exp(E(f / a) - E(f))``, where ``E`` is its cepstrally smoothed log-magnitude envelope
    (:func:`spectral_envelope`): the formants move to ``a`` times their frequency, the harmonics
    (the pitch), the phase and the timing stay. Speed perturbation moves pitch and formants
    together; the two in a row give voices whose pitch and vocal-tract length vary independently.

    Args:
        audio: (B, L) float waveforms at 16 kHz.
        max_change: x, e.g. 0.15.
        g: the step's generator (the factors are a function of it).

    Returns:
        (B, L) audio (the same length and clock, so video stays aligned).

    Notebook: 03_score_matching.ipynb
    """
    B, L = audio.shape
    u = torch.rand(B, generator=g, device=g.device).to(audio.device)
    a = 1.0 + max_change * (2 * u - 1)  # (B,)
    win = torch.hann_window(n_fft, device=audio.device)
    X = torch.stft(audio.float(), n_fft, hop, window=win, return_complex=True)  # (B, F, T)
    F = X.shape[1]
    env = spectral_envelope(torch.log(X.abs().clamp_min(1e-7)), n_fft, n_cep)  # (B, F, T)
    src = (torch.arange(F, device=audio.device)[None, :] / a[:, None]).clamp(max=F - 1)  # (B, F) bins
    lo = src.floor().long().clamp(max=F - 2)
    w = (src - lo)[:, :, None]
    take = lambda idx: torch.gather(env, 1, idx[:, :, None].expand(-1, -1, env.shape[-1]))  # noqa: E731
    warped = (1 - w) * take(lo) + w * take(lo + 1)
    gain = torch.exp((warped - env).clamp(-10.0, 10.0))
    y = torch.istft(X * gain, n_fft, hop, window=win, length=L)
    return y.to(audio.dtype)


def hardware() -> str:
    """A one-line description of the machine (for checkpoint metadata)."""
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        return f"{n} x {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


class Trainer:
    """Train a score network on crops of clean speech (and optionally video features).

    Args:
        net: a ``ScoreUNet`` (build it after ``torch.manual_seed(seed)`` for a reproducible run).
        train_set: a map-style dataset whose items are dicts ``{"audio": float32 (L,)
            waveform at 16 kHz, "video": float32 (T_v, p) at 25 fps (optional)}``, e.g.
            ``udiffse_lite.data.CropDataset``.
        config: :class:`TrainConfig`.
        sde: the forward SDE (default OU-VE).
        val_set: optional dataset of the same kind for the validation loss.
        out_dir: where ``last.pt`` and ``prior.pt`` go (None: nothing is written).
        device: "cpu", "cuda", ... (default: cuda if available). Under torchrun the
            local GPU is used.
        lip_encoder: optional frozen encoder shipped inside the prior; items may then
            hold raw lip frames (T_v, H, W) that it turns into features.
        meta: extra metadata written into the prior (recipe name, data description, ...).
        progress: show a tqdm progress bar (rank 0 only).

    Notebook: 03_score_matching.ipynb
    """

    def __init__(self, net: torch.nn.Module, train_set, config: TrainConfig | None = None,
                 sde: OUVESDE | None = None, val_set=None, out_dir=None, device: str | None = None,
                 lip_encoder: torch.nn.Module | None = None, meta: dict | None = None,
                 progress: bool = True):
        self.cfg = cfg = config or TrainConfig()
        self.sde = sde or OUVESDE()
        ncfg = getattr(_unwrap(net), "config", None)
        if getattr(ncfg, "precond", "none") != "none" and tuple(ncfg.precond_sde) != (
                self.sde.theta, self.sde.sigma_min, self.sde.sigma_max):
            raise ValueError(f"the network's preconditioning assumes the SDE {tuple(ncfg.precond_sde)} "
                             f"(theta, sigma_min, sigma_max), training uses {self.sde}: build both from one SDE")
        self.rank, self.world, self.device = setup_distributed(device)
        if cfg.batch_size % self.world:
            raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the {self.world} processes")
        self.local_batch = cfg.batch_size // self.world
        self.train_set, self.val_set = train_set, val_set
        if len(train_set) == 0:
            raise ValueError("the training set is empty: build the corpus first "
                             "(`python -m udiffse_lite data ...`) or check the split name")
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.lip_encoder = lip_encoder.to(self.device).eval() if lip_encoder is not None else None
        self.meta = dict(meta or {})
        self.progress = progress and self.rank == 0

        self.net = net.to(self.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False).eval()
        self.model = self.net
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.model = DDP(self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        cond = [p for n, p in self.net.named_parameters()
                if n.startswith(("cond.", "video_norm.")) or n == "null_video"]
        ids = {id(p) for p in cond}
        rest = [p for p in self.net.parameters() if id(p) not in ids]
        groups = [{"params": rest, "lr_mult": 1.0}]
        if cond:
            groups.append({"params": cond, "lr_mult": cfg.cond_lr_mult})
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step = 0
        self.wall_time = 0.0  # seconds of training, summed over resumed runs
        self.val_loss: float | None = None
        self.env_loss: torch.Tensor | None = None  # the last step's envelope_loss (envelope_weight > 0)
        self.history: list[dict] = []

    # ------------------------------------------------------------------ helpers
    @property
    def conditional(self) -> bool:
        return bool(getattr(self.net.config, "video_dim", 0))

    def _amp_dtype(self):
        if self.cfg.amp == "none":
            return None
        if self.device.type != "cuda":
            # CPU: bf16 autocast when asked for ("bf16"), or with "native" on a CPU with AMX-BF16, where
            # a step is ~2.5x faster (benchmarks/bench_training.py); without it bf16 is emulated and
            # several times *slower* than float32, so "native" keeps float32 there. "auto" keeps
            # float32, the bit-reproducible path the exactness tests use.
            if self.cfg.amp == "fp16":
                raise ValueError("amp='fp16' needs CUDA; use amp='bf16' on a CPU")
            if self.cfg.amp == "native":
                from .priors import bf16_is_fast

                return torch.bfloat16 if bf16_is_fast(self.device) else None
            return torch.bfloat16 if self.cfg.amp == "bf16" else None
        if self.cfg.amp == "bf16" or (self.cfg.amp in ("auto", "native") and torch.cuda.is_bf16_supported()):
            return torch.bfloat16
        return torch.float16

    def lr_at(self, step: int) -> float:
        """Learning rate of optimiser step ``step``: linear warm-up, then constant or cosine decay."""
        cfg = self.cfg
        f = 1.0
        if cfg.lr_warmup:
            f = min(1.0, (step + 1) / cfg.lr_warmup)
        if cfg.lr_decay == "cosine" and cfg.steps > cfg.lr_warmup:
            x = min(1.0, max(0.0, (step - cfg.lr_warmup) / (cfg.steps - cfg.lr_warmup)))
            f *= cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * x))
        return cfg.lr * f

    @staticmethod
    def ema_decay_at(step: int, ema_decay: float, warmup: bool = True) -> float:
        """EMA decay used after optimiser step ``step`` (0-based).

        An EMA started from the initial weights keeps ``decay**k`` of them after k
        steps: 20 % after 1,600 steps at 0.999, so a short run would ship a
        half-initialised model. With warm-up, ``decay_k = min(ema_decay, (1 + k) / (10 + k))``:
        0.1 at the first step (the EMA jumps to the trained weights), 0.5 at k = 8,
        0.99 at k = 890, and the nominal 0.999 only after ~9,000 steps. The weight
        left on the initialisation is ``prod_k decay_k``, which falls like ``k**-9``
        (below 1e-6 after ~50 steps). The averaging window thus grows with the run,
        as an average over the recent ~10 % of training.

        Notebook: 03_score_matching.ipynb
        """
        return min(ema_decay, (1.0 + step) / (10.0 + step)) if warmup else ema_decay

    @torch.no_grad()
    def _update_ema(self):
        d = self.ema_decay_at(self.step, self.cfg.ema_decay, self.cfg.ema_warmup)
        for e, p in zip(self.ema.parameters(), self.net.parameters()):
            e.lerp_(p.detach(), 1.0 - d)
        for e, b in zip(self.ema.buffers(), self.net.buffers()):
            e.copy_(b)

    def _indices(self, step: int) -> list[tuple[int, int]]:
        """This rank's ``(index, epoch)`` pairs for ``step``: a fresh permutation per epoch,
        seeded by ``(seed, epoch)`` and shared by all ranks, each rank taking every world-th
        sample (DistributedSampler's split, but a function of the step so resuming is exact)."""
        n, B = len(self.train_set), self.cfg.batch_size
        out = []
        for pos in range(step * B, (step + 1) * B):
            epoch, i = divmod(pos, n)
            if epoch != self._perm_epoch:  # the permutation is a pure function of (seed, epoch)
                self._perm = torch.randperm(n, generator=step_generator(self.cfg.seed, epoch, 1 << 20))
                self._perm_epoch = epoch
            out.append((int(self._perm[i]), epoch))
        return out[self.rank::self.world]

    _perm_epoch = -1
    _perm = None

    @staticmethod
    def _get(dataset, i: int, epoch: int = 0) -> dict:
        if hasattr(dataset, "set_epoch"):  # CropDataset draws its crop from (seed, epoch, index)
            dataset.set_epoch(epoch)
        return dataset[i]

    def _load(self, indices: list[tuple[int, int]], dataset) -> tuple[torch.Tensor, torch.Tensor | None]:
        items = [self._get(dataset, i, e) for i, e in indices]
        for it in items:
            if "audio" not in it:
                raise ValueError("dataset items must be dicts with an 'audio' waveform (and 'video')")
        audio = torch.stack([torch.as_tensor(np.asarray(it["audio"]), dtype=torch.float32) for it in items])
        video = None
        if self.conditional:
            if any("video" not in it for it in items):
                raise ValueError("this network is audio-visual but the dataset has no 'video': build it "
                                 "with features='lips' or a feature directory, or train an '-ao' recipe")
            video = torch.stack([torch.as_tensor(np.asarray(it["video"]), dtype=torch.float32) for it in items])
        return audio, video

    def make_batch(self, audio: torch.Tensor, video: torch.Tensor | None, g: torch.Generator,
                   augment: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Waveforms (B, L) -> random crops of ``crop_frames`` compressed frames, with their video.

        The crop starts at an STFT frame ``5 k`` (a multiple of 640 samples = one 25 fps
        frame), so video frame ``k`` starts exactly with it; the video crop covers
        ``ceil(crop_frames / 5)`` frames. Crops are taken from the spectrogram of the
        whole item, so they have no edge effects.

        Returns:
            S: (B, 256, crop_frames) complex64 on the training device; v: (B, T_v, p) or None.
        """
        if augment and self.cfg.speed_perturb > 0:
            audio, video = speed_perturb(audio, video, self.cfg.speed_perturb, g)
        if augment and self.cfg.formant_shift > 0:
            audio = formant_shift(audio, self.cfg.formant_shift, g)
        S = to_spec(audio.to(self.device))  # (B, 256, T_full)
        T_full, n = S.shape[-1], self.cfg.crop_frames
        if T_full < n:
            raise ValueError(f"items give {T_full} frames, fewer than crop_frames={n}; use longer "
                             f"crops ({(n - 1) * HOP} samples) or a smaller crop_frames")
        k_max = (T_full - n) // FRAMES_PER_VIDEO_FRAME
        k = torch.randint(0, k_max + 1, (S.shape[0],), generator=g, device=g.device).tolist()
        S = torch.stack([S[b, :, FRAMES_PER_VIDEO_FRAME * kb:FRAMES_PER_VIDEO_FRAME * kb + n]
                         for b, kb in enumerate(k)])  # (B, 256, n)
        if self.cfg.normalise:
            S, _ = normalise(S)
        if augment and self.cfg.gaussian_crops > 0:
            S = gaussian_texture(S, self.cfg.gaussian_crops, g)
        if augment and self.cfg.crop_gain_db > 0:
            u = torch.rand(S.shape[0], generator=g, device=g.device).to(S.device)
            S = S * (10 ** (-self.cfg.crop_gain_db * u / 20))[:, None, None]
        if video is not None:
            video = video.to(self.device)
            if video.dim() == 4:  # raw lip frames (B, T_v, H, W)
                if self.lip_encoder is None:
                    raise ValueError("items hold lip frames but no lip_encoder was given to the Trainer")
                with torch.no_grad():
                    video = self.lip_encoder(video)
            n_v = math.ceil(n / FRAMES_PER_VIDEO_FRAME)
            idx = torch.tensor(k, device=self.device)[:, None] + torch.arange(n_v, device=self.device)
            idx = idx.clamp(max=video.shape[1] - 1)  # (B, n_v)
            video = torch.gather(video, 1, idx[:, :, None].expand(-1, -1, video.shape[-1]))  # (B, n_v, p)
        return S, video

    # ------------------------------------------------------------------ steps
    def train_step(self) -> float:
        """One optimiser step (step ``self.step``); returns its loss."""
        cfg = self.cfg
        g = step_generator(cfg.seed, self.step, self.rank, device=self.device)
        audio, video = self._load(self._indices(self.step), self.train_set)
        S, v = self.make_batch(audio, video, g)
        mask = None
        if v is not None and cfg.p_uncond > 0:
            mask = torch.rand(S.shape[0], generator=g, device=g.device) < cfg.p_uncond
        self.model.train()
        for grp in self.opt.param_groups:
            grp["lr"] = self.lr_at(self.step) * grp.get("lr_mult", 1.0)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            loss = dsm_loss(self.model, self.sde, S, v, g, uncond_mask=mask, weight=self.cfg.loss_weight)
            total = loss
            if cfg.envelope_weight > 0 and v is not None:
                env = envelope_loss(self.model, S, v, mask)
                self.env_loss = env.detach()
                total = loss + cfg.envelope_weight * env
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self._update_ema()
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def validate(self, net: torch.nn.Module | None = None) -> float:
        """Mean DSM loss of the EMA network on a fixed set of validation crops, times and noise
        (the same every call, so the numbers are comparable across the run)."""
        ds = self.val_set if self.val_set is not None else self.train_set
        net = net or self.ema
        B, losses = self.local_batch, []
        n = min(len(ds), self.cfg.val_batches * B)
        for i in range(0, n, B):
            g = step_generator(self.cfg.seed, i, 10_000 + self.rank, device=self.device)
            audio, video = self._load([(j, 0) for j in range(i, min(i + B, n))], ds)
            S, v = self.make_batch(audio, video, g, augment=False)  # the real voices, comparable across runs
            losses.append(float(dsm_loss(net, self.sde, S, v, g)))
        return float(np.mean(losses)) if losses else float("nan")

    def train(self, steps: int | None = None, max_minutes: float | None = None) -> dict:
        """Train until ``steps`` total steps (default ``config.steps``) or ``max_minutes``.

        Writes ``out_dir/last.pt`` every ``ckpt_every`` steps and at the end, and
        ``out_dir/prior.pt`` (the EMA prior) at the end.

        Returns:
            The metadata dict written into the prior (steps, wall time, val loss, ...).
        """
        from tqdm.auto import tqdm

        total = self.cfg.steps if steps is None else steps
        t_start = time.perf_counter()
        wall0 = self.wall_time
        bar = tqdm(total=total, initial=self.step, disable=not self.progress, desc="train", dynamic_ncols=True)
        loss = float("nan")
        while self.step < total:
            loss = self.train_step()
            self.wall_time = wall0 + time.perf_counter() - t_start
            bar.update(1)
            if self.cfg.val_every and self.step % self.cfg.val_every == 0:
                self.val_loss = self.validate()
                self.history.append({"step": self.step, "loss": loss, "val_loss": self.val_loss,
                                     **({"env_loss": float(self.env_loss)} if self.env_loss is not None else {})})
            bar.set_postfix(loss=f"{loss:.4f}", val=f"{self.val_loss:.4f}" if self.val_loss else "-",
                            **({"env": f"{float(self.env_loss):.3f}"} if self.env_loss is not None else {}))
            if self.out_dir is not None and self.cfg.ckpt_every and self.step % self.cfg.ckpt_every == 0:
                self.save_checkpoint(self.out_dir / "last.pt")
            if self.out_dir is not None and self.cfg.snapshot_every and self.step % self.cfg.snapshot_every == 0:
                self.export_prior(self.out_dir / f"prior_step{self.step}.pt", **self.metadata())
            if max_minutes and self.wall_time - wall0 > 60 * max_minutes:
                break
        bar.close()
        if self.val_set is not None or self.cfg.val_every:
            self.val_loss = self.validate()
        meta = self.metadata(last_loss=loss)
        if self.out_dir is not None:
            self.save_checkpoint(self.out_dir / "last.pt")
            self.export_prior(self.out_dir / "prior.pt", **meta)
        return meta

    # ------------------------------------------------------------------ checkpoints
    def metadata(self, **extra) -> dict:
        """Model-card facts: steps, wall time, hardware, val loss, data, configs."""
        return {
            **self.meta,
            "steps": self.step,
            "wall_time_s": round(self.wall_time, 1),
            "hardware": hardware() + (f" x {self.world} processes" if self.world > 1 else ""),
            "val_loss": self.val_loss,
            "train_config": asdict(self.cfg),
            "n_params": sum(p.numel() for p in self.net.parameters()),
            "torch": str(torch.__version__),
            **extra,
        }

    def state_dict(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "format": TRAIN_FORMAT,
            "step": self.step,
            "wall_time": self.wall_time,
            "val_loss": self.val_loss,
            "history": self.history,
            "model": self.net.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),
            "net_config": asdict(self.net.config),
            "train_config": asdict(self.cfg),
            "rng": rng,  # the per-step generators need only (seed, step); the global states are kept too
        }

    def save_checkpoint(self, path) -> Path | None:
        """Write a resumable checkpoint atomically (rank 0 only)."""
        if self.rank != 0:
            return None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def load_checkpoint(self, path) -> int:
        """Restore a checkpoint written by :meth:`save_checkpoint`; returns the step.

        Raises:
            ValueError: not a training checkpoint, or written for another network config.
        """
        ckpt = torch.load(path, map_location=self.device, weights_only=True)
        if not isinstance(ckpt, dict) or ckpt.get("format") != TRAIN_FORMAT:
            raise ValueError(f"{path} is not a udiffse_lite training checkpoint; pass the run's last.pt")
        if ckpt["net_config"] != asdict(self.net.config):
            raise ValueError(f"{path} was trained with net config {ckpt['net_config']}, this network has "
                             f"{asdict(self.net.config)}; resume with the same recipe")
        self.net.load_state_dict(ckpt["model"])
        self.ema.load_state_dict(ckpt["ema"])
        self.opt.load_state_dict(ckpt["opt"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step, self.wall_time = int(ckpt["step"]), float(ckpt["wall_time"])
        self.val_loss, self.history = ckpt.get("val_loss"), list(ckpt.get("history", []))
        torch.set_rng_state(ckpt["rng"]["torch"].cpu())
        if "cuda" in ckpt["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in ckpt["rng"]["cuda"]])
        return self.step

    def export_prior(self, path, **meta) -> Path | None:
        """Save the EMA network as a :class:`ScorePrior` checkpoint (rank 0 only)."""
        if self.rank != 0:
            return None
        ema = copy.deepcopy(self.ema).cpu()
        enc = copy.deepcopy(self.lip_encoder).cpu() if self.lip_encoder is not None else None
        return ScorePrior(ema, self.sde, enc).save(path, **meta)
