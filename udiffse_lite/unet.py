"""The score network: an NCSN++M-like U-Net over the compressed complex spectrogram.

Input and output are (B, 2, F, T) float tensors, the real and imaginary parts
of a compressed spectrogram (F = 256 bins). The network predicts the standard
normal noise ``z`` of ``s_t = mu_t s + sigma_t z`` (``ScorePrior`` turns that
into the score ``-net / sigma_t``). Its pieces, each a few lines below:

* a time embedding: Gaussian Fourier features of ``log t`` through a 2-layer MLP,
  added inside every residual block;
* BigGAN-style residual blocks (GroupNorm, SiLU, 3x3 convs, skip rescaled by
  1/sqrt(2)); down- and up-sampling blocks halve or double *both* frequency and
  time with a fixed [1, 3, 3, 1] binomial (FIR) filter;
* NCSN++'s input pyramid (the input, downsampled, is added at every level) and
  output pyramid (each decoder level adds its own 2-channel prediction);
* one self-attention block at the bottom;
* optional visual conditioning at every down/up stage, either the "light"
  cross-attention block of AV-UDiffSE (:class:`CrossAttentionBlock`) or FiLM
  (:class:`FiLMBlock`). ``v=None`` (or a per-sample ``uncond_mask``) swaps the
  video for a learned null embedding, so one audio-visual network is also an
  audio-only prior (classifier-free guidance).

Sizes: :meth:`UNetConfig.tier` gives ``tiny`` (CPU), ``colab`` (a T4 in under an
hour) and ``paper`` (NCSN++M of the reference code: 27.7 M parameters audio-only,
29.4 M with the light cross-attention blocks on 768-dim AV-HuBERT features).

Notebook: 03_score_matching.ipynb
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .spectral import HOP, SR, VIDEO_FPS, video_to_stft_frames

CONDITIONINGS = ("none", "cross_attention", "film")
_HAS_SDPA = hasattr(F, "scaled_dot_product_attention")  # torch >= 2.0


@dataclass
class UNetConfig:
    """Architecture of :class:`ScoreUNet` (plain types only: it is saved in checkpoints).

    Defaults are the reference NCSN++M (``ncsnpp28M`` of the AV-UDiffSE code).

    Notebook: 03_score_matching.ipynb
    """

    nf: int = 128  # base channel count; NCSN++M uses 128
    ch_mult: tuple = (1, 2, 2, 2)  # channels per level = nf * mult; len - 1 down-samplings
    num_res_blocks: int = 1  # residual blocks per level (NCSN++M: 1, full NCSN++: 2)
    n_freq: int = 256  # input height F; cross-attention layers are sized by it
    in_channels: int = 2  # real and imaginary parts of the compressed spectrogram
    fourier_scale: float = 16.0  # std of the random Fourier frequencies (as NCSN++)
    mid_attention: bool = True  # one self-attention block at the bottom (as NCSN++M)
    fir: bool = True  # [1,3,3,1] anti-aliasing filter when resampling (False: avg-pool / nearest)
    resample_blocks: bool = True  # resample inside residual blocks (NCSN++); False: bare resampling, ~2x cheaper
    dropout: float = 0.0  # inside residual blocks; the reference trains without
    video_dim: int = 0  # feature size p of the video (0 = audio-only network)
    conditioning: str = "none"  # "none", "cross_attention" (the papers) or "film" (separation chapter)
    attn_dim: int = 0  # d of the cross-attention; 0 = the level's frequency size (as the reference)
    attn_unscaled: bool = False  # True reproduces the reference code's softmax(QK^T) without 1/sqrt(d)
    xattn_zero_init: bool = True  # cross-attention starts as the identity (GroupNorm gain 0); False: the
    # reference's unit gain, which injects unit-variance video signals into every level from step 0
    video_norm: bool = False  # LayerNorm on each video frame's features before conditioning: the lip
    # encoder's features have norm ~20 (std 2.4), so without it every step swings the FiLM modulations
    cond_image: int = 0  # k > 0 (FiLM only): the video features also become a k-channel
    # frequency-resolved image (a linear map to k x n_freq per frame) added at the input level: FiLM
    # scales whole channels, so it cannot say *which bins* hold energy; re-synthesis needs exactly that
    envelope: bool = False  # True (FiLM only): a head predicts each STFT frame's log-magnitude envelope
    # from the features (trained with its own regression loss: training.envelope_loss) and the network
    # sees it as an input image; a learned map to an image (cond_image) stayed unused in training
    precond: str = "none"  # "none": the body predicts the noise z; "edm": it predicts a scaled clean
    # spectrogram through EDM's c_in / c_skip / c_out (Karras et al. 2022), the output still read as z;
    # "envelope" (needs envelope=True): the same with a per-bin sigma_data, the envelope head's magnitude,
    # so a zero body is the exact denoiser of the Gaussian CN(0, envelope^2) the features describe
    precond_sde: tuple = (1.5, 0.05, 0.5)  # (theta, sigma_min, sigma_max) of the SDE "edm" assumes
    sigma_data: float = 0.2  # rms |S| of a normalised compressed crop (training.SIGMA_DATA)

    def __post_init__(self):
        self.ch_mult = tuple(int(m) for m in self.ch_mult)
        self.precond_sde = tuple(float(x) for x in self.precond_sde)
        if self.precond not in ("none", "edm", "envelope"):
            raise ValueError(f"precond must be 'none', 'edm' or 'envelope', got {self.precond!r}")
        if self.precond == "envelope" and not self.envelope:
            raise ValueError("precond='envelope' needs the envelope head (envelope=True, conditioning='film')")
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {self.conditioning!r}")
        if self.conditioning != "none" and self.video_dim <= 0:
            raise ValueError(f"conditioning={self.conditioning!r} needs video_dim > 0 (the feature size "
                             "p of the video); set conditioning='none' for an audio-only network")
        if self.conditioning == "none" and self.video_dim:
            raise ValueError(f"video_dim={self.video_dim} given but conditioning='none'; choose "
                             "conditioning='cross_attention' or 'film', or set video_dim=0")
        if self.cond_image and self.conditioning != "film":
            raise ValueError(f"cond_image={self.cond_image} needs conditioning='film' (time-aligned features), "
                             f"got {self.conditioning!r}")
        if self.envelope and self.conditioning != "film":
            raise ValueError(f"envelope=True needs conditioning='film' (time-aligned features), "
                             f"got {self.conditioning!r}")
        if self.cond_image < 0:
            raise ValueError(f"cond_image must be >= 0 channels, got {self.cond_image}")
        if len(self.ch_mult) < 1 or self.nf < 4 or self.num_res_blocks < 1:
            raise ValueError("need at least one level (ch_mult), nf >= 4 and num_res_blocks >= 1")
        if self.n_freq % (2 ** (len(self.ch_mult) - 1)):
            raise ValueError(f"n_freq={self.n_freq} must be divisible by 2**{len(self.ch_mult) - 1}")

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    @classmethod
    def tier(cls, name: str, video_dim: int = 0, conditioning: str | None = None, **overrides) -> "UNetConfig":
        """A named size: ``"tiny"``, ``"colab"`` or ``"paper"``.

        Args:
            name: the tier.
            video_dim: video feature size p; 0 gives the audio-only network.
            conditioning: defaults to ``"cross_attention"`` when ``video_dim > 0``.
            **overrides: any other field.

        Notebook: 03_score_matching.ipynb
        """
        if name not in TIERS:
            raise ValueError(f"unknown tier {name!r}; choose one of {sorted(TIERS)}")
        if conditioning is None:
            conditioning = "cross_attention" if video_dim else "none"
        return cls(**{**TIERS[name], "video_dim": video_dim, "conditioning": conditioning, **overrides})


TIERS: dict[str, dict] = {
    # 12-24-48-96 channels, three down-samplings, bare resampling and a narrow cross-attention:
    # ~1.3 M parameters and ~80 GFLOP per training step (8 x 128 frames); nf=16 costs 141 GFLOP,
    # and on 2 shared CPU cores more steps of the smaller net gave the better prior
    "tiny": dict(nf=12, ch_mult=(1, 2, 4, 8), num_res_blocks=1, resample_blocks=False, attn_dim=64),
    # NCSN++M at 5/8 width: ~11 M parameters, under an hour on a Colab T4
    "colab": dict(nf=80, ch_mult=(1, 2, 2, 2), num_res_blocks=1),
    # the reference NCSN++M: 27.7 M (audio-only), 29.4 M with light cross-attention on 768-dim features
    "paper": dict(nf=128, ch_mult=(1, 2, 2, 2), num_res_blocks=1),
}


def _groups(ch: int) -> int:
    """GroupNorm groups as NCSN++ (min(ch // 4, 32)), lowered until they divide ch."""
    g = max(1, min(ch // 4, 32))
    while ch % g:
        g -= 1
    return g


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(_groups(ch), ch, eps=1e-6)


class Resample(nn.Module):
    """Halve (``"down"``) or double (``"up"``) both F and T, without parameters.

    With ``fir=True`` the [1, 3, 3, 1] binomial filter of NCSN++ (StyleGAN2's
    FIR resampling) removes the aliasing of plain strided convolutions;
    otherwise 2x2 average pooling / nearest-neighbour repetition.
    """

    def __init__(self, mode: str, fir: bool = True):
        super().__init__()
        self.mode, self.fir = mode, fir
        k = torch.tensor([1.0, 3.0, 3.0, 1.0])
        k2 = torch.outer(k, k)
        self.register_buffer("kernel", (k2 / k2.sum())[None, None], persistent=False)  # (1, 1, 4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        C = x.shape[1]
        if not self.fir:
            return F.avg_pool2d(x, 2) if self.mode == "down" else F.interpolate(x, scale_factor=2.0)
        w = self.kernel.to(x.dtype).expand(C, 1, 4, 4)
        if self.mode == "down":
            return F.conv2d(x, w, stride=2, padding=1, groups=C)  # (B, C, F/2, T/2)
        # zero-insertion upsampling loses 3/4 of the energy; the kernel gain 4 restores it
        return F.conv_transpose2d(x, 4 * w, stride=2, padding=1, groups=C)  # (B, C, 2F, 2T)


class GaussianFourierFeatures(nn.Module):
    """``[sin(2 pi W log t), cos(2 pi W log t)]`` with fixed random ``W ~ N(0, scale^2)``.

    Notebook: 03_score_matching.ipynb
    """

    def __init__(self, dim: int, scale: float = 16.0):
        super().__init__()
        # a parameter with requires_grad=False (not a buffer), as NCSN++, so it is counted and saved
        self.W = nn.Parameter(torch.randn(dim) * scale, requires_grad=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        proj = torch.log(t)[:, None] * self.W[None, :] * (2 * math.pi)  # (B, dim)
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)  # (B, 2 dim)


class ResBlock(nn.Module):
    """BigGAN-style residual block with the time embedding added after the first conv.

    ``out = (skip(x) + conv(act(norm(conv(act(norm(x)))) + dense(temb)))) / sqrt(2)``,
    optionally resampling both paths in the middle.
    """

    def __init__(self, in_ch: int, out_ch: int, temb_dim: int, resample: str | None = None,
                 fir: bool = True, dropout: float = 0.0):
        super().__init__()
        self.norm0 = _norm(in_ch)
        self.conv0 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.dense = nn.Linear(temb_dim, out_ch)
        self.norm1 = _norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv1 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.dense.bias)
        # a near-identity block at initialisation (NCSN++'s init_scale=0), so deep stacks start stable
        nn.init.normal_(self.conv1.weight, std=1e-5)
        nn.init.zeros_(self.conv1.bias)
        self.resample = Resample(resample, fir) if resample else None
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if (in_ch != out_ch or resample) else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm0(x))  # (B, C_in, F, T)
        if self.resample is not None:
            h, x = self.resample(h), self.resample(x)  # (B, C_in, F', T')
        h = self.conv0(h)  # (B, C_out, F', T')
        h = h + self.dense(F.silu(temb))[:, :, None, None]
        h = self.conv1(self.dropout(F.silu(self.norm1(h))))
        if self.skip is not None:
            x = self.skip(x)
        return (x + h) / math.sqrt(2.0)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """``softmax(q k^T * scale) v`` over the last two dims; SDPA when torch has it.

    Args:
        q: (B, H, N, d); k, v: (B, H, M, d).

    Returns:
        (B, H, N, d).

    Notebook: 10_seeing_speech.ipynb
    """
    if _HAS_SDPA:
        try:
            return F.scaled_dot_product_attention(q, k, v, scale=scale)
        except TypeError:  # torch 2.0 has no `scale` argument
            pass
    w = torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1)  # (B, H, N, M)
    return w @ v


class SelfAttention(nn.Module):
    """Single-head self-attention over all (F, T) positions, residual, skip rescaled by 1/sqrt(2)."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = _norm(ch)
        self.qkv = nn.Linear(ch, 3 * ch)
        self.out = nn.Linear(ch, ch)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, Fq, T = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, F*T, C)
        q, k, v = self.qkv(h)[:, None].chunk(3, dim=-1)  # 3 x (B, 1, F*T, C)
        h = self.out(attention(q, k, v, C ** -0.5)[:, 0])  # (B, F*T, C)
        return (x + h.transpose(1, 2).reshape(B, C, Fq, T)) / math.sqrt(2.0)


class CrossAttentionBlock(nn.Module):
    """The "light" audio-visual cross-attention block of AV-UDiffSE.

    Every (channel, frame) position of the feature map is one query token whose
    vector is its frequency column (length ``F_l`` at this level), projected to
    ``d``; the video frames (B, T_v, p) give keys and values. The attended
    values are projected back to ``F_l``, passed through GroupNorm and *added*
    to the input (no concatenation conv: that is what makes it "light").

    Scaling: ``1/sqrt(d)`` by default; ``unscaled=True`` reproduces the
    reference code, which omits it (its softmax then saturates more easily).

    Args:
        ch: channels C of the feature map.
        n_freq: its frequency size F_l.
        video_dim: p.
        d: attention width (the reference uses d = F_l).

    Notebook: 10_seeing_speech.ipynb
    """

    def __init__(self, ch: int, n_freq: int, video_dim: int, d: int = 0, unscaled: bool = False,
                 zero_init: bool = True):
        super().__init__()
        d = d or n_freq
        self.n_freq, self.scale = n_freq, 1.0 if unscaled else d ** -0.5
        self.to_q = nn.Linear(n_freq, d, bias=False)
        self.to_k = nn.Linear(video_dim, d, bias=False)
        self.to_v = nn.Linear(video_dim, d, bias=False)
        self.to_out = nn.Linear(d, n_freq)
        self.norm = _norm(ch)
        if zero_init:  # start as the identity: the audio path trains undisturbed, video is let in gradually
            nn.init.zeros_(self.norm.weight)

    def forward(self, h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        B, C, Fl, T = h.shape
        if Fl != self.n_freq:
            raise ValueError(f"cross-attention block built for {self.n_freq} frequency rows got {Fl}; "
                             "the network input must have config.n_freq bins")
        tokens = h.transpose(2, 3).reshape(B, 1, C * T, Fl)  # (B, 1, C*T, F_l): one token per (c, t)
        q = self.to_q(tokens)  # (B, 1, C*T, d)
        k, val = self.to_k(v)[:, None], self.to_v(v)[:, None]  # (B, 1, T_v, d)
        a = self.to_out(attention(q, k, val, self.scale))  # (B, 1, C*T, F_l)
        a = a.reshape(B, C, T, Fl).transpose(2, 3)  # (B, C, F_l, T)
        return h + self.norm(a)

    @torch.no_grad()
    def attention_map(self, h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The block's attention weights for input ``h`` (B, C, F_l, T) and video ``v``
        (B, T_v, p), averaged over the channels' query tokens.

        Returns:
            (B, T, T_v): for each audio frame, the weight each video frame receives (rows sum to 1).

        Notebook: 10_seeing_speech.ipynb
        """
        B, C, Fl, T = h.shape
        tokens = h.transpose(2, 3).reshape(B, C * T, Fl)  # (B, C*T, F_l)
        q, k = self.to_q(tokens), self.to_k(v)  # (B, C*T, d), (B, T_v, d)
        w = torch.softmax(q @ k.transpose(1, 2) * self.scale, dim=-1)  # (B, C*T, T_v)
        return w.reshape(B, C, T, -1).mean(1)


class FiLMBlock(nn.Module):
    """Feature-wise linear modulation from time-aligned video features.

    ``h <- h * (1 + gamma) + beta`` with per-(channel, frame) ``gamma, beta``
    predicted from the video feature of that frame (the features are aligned
    to STFT frames by :func:`udiffse_lite.spectral.video_to_stft_frames`, then
    average-pooled to this level's time resolution). Starts as the identity.

    Notebook: 10_seeing_speech.ipynb
    """

    def __init__(self, ch: int, video_dim: int):
        super().__init__()
        self.proj = nn.Linear(video_dim, 2 * ch)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, v_frames: torch.Tensor) -> torch.Tensor:
        T = h.shape[-1]
        factor = v_frames.shape[1] // T
        v = v_frames.transpose(1, 2)  # (B, p, T_full)
        if factor > 1:
            v = F.avg_pool1d(v, factor)  # (B, p, T)
        gamma, beta = self.proj(v.transpose(1, 2)).transpose(1, 2).chunk(2, dim=1)  # 2 x (B, C, T)
        return h * (1 + gamma[:, :, None, :]) + beta[:, :, None, :]


ENV_FLOOR, ENV_MEAN, ENV_STD = 1e-3, -4.0, 1.7  # ln(|S| + floor) of max-normalised speech: mean, std


def envelope_target(s: torch.Tensor) -> torch.Tensor:
    """The envelope head's target: the normalised log-magnitude of a compressed spectrogram.

    Args:
        s: (B, F, T) complex compressed spectrogram (max |S| = 1 as in training).

    Returns:
        (B, F, T) float32 ``(ln(|S| + 1e-3) + 4) / 1.7``: about zero-mean and unit-variance on speech.
    """
    return (torch.log(s.abs().float() + ENV_FLOOR) - ENV_MEAN) / ENV_STD


def envelope_magnitude(env: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`envelope_target`: a compressed magnitude ``exp(1.7 e - 4) - 1e-3`` (>= 0)."""
    return (torch.exp(env.float() * ENV_STD + ENV_MEAN) - ENV_FLOOR).clamp_min(0.0)


class EnvelopeHead(nn.Module):
    """Video-rate features -> the log-magnitude envelope at the STFT rate, (B, F, T).

    Each 25 fps feature frame gives the ``SR / HOP / VIDEO_FPS`` (= 5) STFT frames it covers, so STFT
    frame ``j`` comes from feature frame ``j // 5`` (the alignment of ``video_to_stft_frames``).
    Two temporal convolutions (kernel 3: 120 ms of context) and a linear read-out to 5 x F values.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """

    def __init__(self, video_dim: int, n_freq: int, hidden: int = 256):
        super().__init__()
        sub = SR / HOP / VIDEO_FPS
        if sub != int(sub):
            raise ValueError(f"the envelope head needs an integer number of STFT frames per video frame, got {sub}")
        self.sub, self.n_freq = int(sub), n_freq
        self.net = nn.Sequential(nn.Conv1d(video_dim, hidden, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(hidden, hidden, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(hidden, self.sub * n_freq, 1))

    def forward(self, v: torch.Tensor, n_frames: int) -> torch.Tensor:
        e = self.net(v.transpose(1, 2))  # (B, sub * F, T_v)
        B, _, T_v = e.shape
        e = e.view(B, self.sub, self.n_freq, T_v).permute(0, 2, 3, 1).reshape(B, self.n_freq, T_v * self.sub)
        if e.shape[-1] < n_frames:  # the last video frame covers the remaining STFT frames
            e = torch.cat([e, e[..., -1:].expand(-1, -1, n_frames - e.shape[-1])], dim=-1)
        return e[..., :n_frames]  # (B, F, T)


class ScoreUNet(nn.Module):
    """NCSN++M-like score network, optionally conditioned on video features.

    ``forward(x, t, v=None, uncond_mask=None)``:

    Args:
        x: (B, 2, F, T) float32, real/imag channels of the compressed noisy
            spectrogram ``s_t``; F and T divisible by :attr:`downsample_factor`
            (``ScorePrior`` pads T); F must equal ``config.n_freq`` with cross-attention.
        t: (B,) float diffusion times in (0, 1].
        v: None or (B, T_v, p) float video features at 25 fps (B may be 1 and is broadcast).
            Ignored by an audio-only network; ``None`` uses the learned null embedding.
        uncond_mask: optional (B,) bool; True replaces that sample's video by the null
            embedding (condition dropout during training).

    Returns:
        (B, 2, F, T) float32: the predicted noise ``z`` (the score is ``-out / sigma_t``).

    Notebook: 03_score_matching.ipynb
    """

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or UNetConfig()
        if cfg.precond in ("edm", "envelope"):
            from .sde import OUVESDE

            th, smin, smax = cfg.precond_sde
            self._precond_sde = OUVESDE(theta=th, sigma_min=smin, sigma_max=smax)
        nf, n_levels = cfg.nf, len(cfg.ch_mult)
        self.downsample_factor = cfg.downsample_factor
        temb_dim = 4 * nf
        self.fourier = GaussianFourierFeatures(nf, cfg.fourier_scale)
        self.temb = nn.Sequential(nn.Linear(2 * nf, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        block = lambda i, o, r=None: ResBlock(i, o, temb_dim, r, cfg.fir, cfg.dropout)  # noqa: E731

        cond_ch: list[tuple[int, int]] = []  # (channels, freq size) at each conditioning point
        self.conv_in = nn.Conv2d(cfg.in_channels, nf, 3, padding=1)
        cond_ch.append((nf, cfg.n_freq))
        self.pyr_down = Resample("down", cfg.fir)
        self.down = nn.ModuleList()
        skips = [nf]
        ch = nf
        for i in range(n_levels):
            level = nn.Module()
            level.blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                level.blocks.append(block(ch, nf * cfg.ch_mult[i]))
                ch = nf * cfg.ch_mult[i]
                skips.append(ch)
            if i != n_levels - 1:
                level.downsample = block(ch, ch, "down") if cfg.resample_blocks else Resample("down", cfg.fir)
                level.combine = nn.Conv2d(cfg.in_channels, ch, 1)  # input pyramid, summed in
                cond_ch.append((ch, cfg.n_freq >> (i + 1)))
                skips.append(ch)
            self.down.append(level)

        self.mid1 = block(ch, ch)
        self.mid_attn = SelfAttention(ch) if cfg.mid_attention else nn.Identity()
        cond_ch.append((ch, cfg.n_freq >> (n_levels - 1)))
        self.mid2 = block(ch, ch)

        self.up = nn.ModuleList()
        self.pyr_up = Resample("up", cfg.fir)
        for i in reversed(range(n_levels)):
            level = nn.Module()
            level.blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                level.blocks.append(block(ch + skips.pop(), nf * cfg.ch_mult[i]))
                ch = nf * cfg.ch_mult[i]
            cond_ch.append((ch, cfg.n_freq >> i))
            level.out_norm = _norm(ch)
            level.out_conv = nn.Conv2d(ch, cfg.in_channels, 3, padding=1)  # output pyramid
            nn.init.normal_(level.out_conv.weight, std=1e-5)
            nn.init.zeros_(level.out_conv.bias)
            if i != 0:
                level.upsample = block(ch, ch, "up") if cfg.resample_blocks else Resample("up", cfg.fir)
            self.up.append(level)
        assert not skips
        self.conv_out = nn.Conv2d(cfg.in_channels, 2, 1)
        if cfg.precond == "envelope":  # start as the Gaussian denoiser of the predicted envelope
            nn.init.zeros_(self.conv_out.weight)
            nn.init.zeros_(self.conv_out.bias)

        self.cond = None
        if cfg.conditioning == "cross_attention":
            self.cond = nn.ModuleList(CrossAttentionBlock(c, fq, cfg.video_dim, cfg.attn_dim, cfg.attn_unscaled,
                                                          cfg.xattn_zero_init)
                                      for c, fq in cond_ch)
        elif cfg.conditioning == "film":
            self.cond = nn.ModuleList(FiLMBlock(c, cfg.video_dim) for c, _ in cond_ch)
        if self.cond is not None:
            # the "no video" token: condition dropout trains it, so v=None gives an audio-only prior
            self.null_video = nn.Parameter(torch.zeros(cfg.video_dim))
            self.video_norm = nn.LayerNorm(cfg.video_dim) if cfg.video_norm else None
        if cfg.cond_image:
            self.cond_img = nn.Linear(cfg.video_dim, cfg.cond_image * cfg.n_freq)  # (p) -> (k x F) per frame
            self.cond_img_in = nn.Conv2d(cfg.cond_image, nf, 1)
            nn.init.zeros_(self.cond_img_in.weight)  # starts as the plain FiLM network
            nn.init.zeros_(self.cond_img_in.bias)
        if cfg.envelope:
            self.env_head = EnvelopeHead(cfg.video_dim, cfg.n_freq)
            self.env_in = nn.Conv2d(1, nf, 3, padding=1)

    # ------------------------------------------------------------------ helpers
    def n_params(self) -> int:
        """Number of parameters (including the fixed Fourier frequencies, as NCSN++ counts them)."""
        return sum(p.numel() for p in self.parameters())

    def envelope(self, v: torch.Tensor | None, n_frames: int, uncond_mask: torch.Tensor | None = None,
                 batch: int | None = None) -> torch.Tensor:
        """The envelope head's prediction (B, F, T) from video-rate features (B, T_v, p) (needs ``envelope``)."""
        if not self.config.envelope:
            raise ValueError("this network has no envelope head (UNetConfig(envelope=True))")
        B = batch if batch is not None else (v.shape[0] if v is not None else 1)
        vf = self._video(v, uncond_mask, B, n_frames, self.null_video.device, align=False)
        return self.env_head(vf, n_frames)

    def _video(self, v, uncond_mask, B: int, T: int, device, align: bool = True) -> torch.Tensor | None:
        """Validate v and apply the null embedding; FiLM gets features aligned to T frames (align)."""
        if self.cond is None:
            return None
        p = self.config.video_dim
        null = self.null_video.to(device)[None, None, :]  # (1, 1, p)
        if v is None:
            v = null.expand(B, 1, p)
        else:
            if v.dim() != 3 or v.shape[-1] != p or v.shape[0] not in (1, B):
                raise ValueError(f"video features must have shape (B, T_v, {p}) with B in (1, {B}), got "
                                 f"{tuple(v.shape)}; pass v=None for the audio-only path")
            v = v.to(device, null.dtype).expand(B, -1, -1)
            if uncond_mask is not None:
                m = torch.as_tensor(uncond_mask, device=device, dtype=torch.bool).reshape(B, 1, 1)
                v = torch.where(m, null, v)  # (B, T_v, p)
        if getattr(self, "video_norm", None) is not None:
            v = self.video_norm(v)  # (B, T_v, p), each frame zero-mean and unit-variance, then scaled
        if self.config.conditioning == "film" and align:
            v = video_to_stft_frames(v, T)  # (B, T, p)
        return v

    @staticmethod
    def _resample(module: nn.Module, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return module(h, temb) if isinstance(module, ResBlock) else module(h)

    def _condition(self, j: int, h: torch.Tensor, v) -> torch.Tensor:
        return h if self.cond is None else self.cond[j](h, v)

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, t: torch.Tensor, v: torch.Tensor | None = None,
                uncond_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The noise prediction ``z_hat`` for the state ``x = mu_t s + sigma_t z``, (B, 2, F, T).

        With ``precond="edm"`` the body sees ``c_in x / mu_t`` and its output ``F`` makes the
        clean estimate ``D = c_skip x / mu_t + c_out F`` (``sigma' = sigma_t / mu_t``,
        ``c_skip = sd^2 / (sigma'^2 + sd^2)``, ``c_out = sigma' sd / sqrt(sigma'^2 + sd^2)``,
        ``c_in = 1 / sqrt(sigma'^2 + sd^2)``), returned as ``(x - mu_t D) / sigma_t``. A body that
        outputs 0 is then the Gaussian prior ``CN(0, sd^2)``'s exact denoiser, not "no noise".
        With ``precond="envelope"`` ``sd`` is per bin, ``exp(1.7 e - 4)`` from the envelope head's
        prediction ``e`` (B, F, T) (the inverse of ``envelope_target``): where the features say
        silence, a zero body already removes everything.
        """
        if self.config.precond == "none":
            return self._body(x, t, v, uncond_mask)
        B = x.shape[0]
        env = None
        if self.config.precond == "envelope":
            vf = self._video(v, uncond_mask, B, x.shape[-1], x.device, align=False)
            env = self.env_head(vf, x.shape[-1]).float()  # (B, F, T)
            sd = torch.exp(env * ENV_STD + ENV_MEAN).clamp(min=1e-4)[:, None]  # (B, 1, F, T)
        else:
            sd = self.config.sigma_data
        tt = torch.as_tensor(t, dtype=torch.float32, device=x.device)
        tt = tt.expand(B) if tt.dim() == 0 else tt
        mu = self._precond_sde.mean_factor(tt).view(B, 1, 1, 1)
        sig = self._precond_sde.std(tt).view(B, 1, 1, 1)
        sp = sig / mu
        norm = (sp ** 2 + sd ** 2).sqrt()
        xs = x.float() / mu
        out = self._body((xs / norm).to(x.dtype), t, v, uncond_mask,
                         **({"env": env} if env is not None else {})).float()
        D = (sd ** 2 / norm ** 2) * xs + (sp * sd / norm) * out
        return (x.float() - mu * D) / sig

    def _body(self, x: torch.Tensor, t: torch.Tensor, v: torch.Tensor | None = None,
              uncond_mask: torch.Tensor | None = None, env: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        if x.dim() != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"x must be (B, {cfg.in_channels}, F, T) (real/imag channels), got {tuple(x.shape)}")
        B, _, Fq, T = x.shape
        f = self.downsample_factor
        if Fq % f or T % f:
            raise ValueError(f"F={Fq} and T={T} must be multiples of {f} (2**n_downsamplings); pad the "
                             "time axis with spectral.pad_frames (ScorePrior.score does it for you)")
        if cfg.conditioning == "cross_attention" and Fq != cfg.n_freq:
            raise ValueError(f"this cross-attention network needs F={cfg.n_freq} frequency bins, got {Fq}")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.dim() == 0:
            t = t.expand(B)
        if t.shape != (B,):
            raise ValueError(f"t must be a scalar or of shape ({B},), got {tuple(t.shape)}")
        v = self._video(v, uncond_mask, B, T, x.device, align=False)  # (B, T_v, p) or None
        if cfg.envelope and env is None:
            env = self.env_head(v, T)  # (B, F, T)
        if cfg.conditioning == "film":
            v = video_to_stft_frames(v, T)  # (B, T, p)

        temb = self.temb(self.fourier(t))  # (B, 4 nf)
        pyramid_in = x  # (B, 2, F, T)
        h = self.conv_in(x)  # (B, nf, F, T)
        if self.config.cond_image:
            if Fq != cfg.n_freq:
                raise ValueError(f"cond_image needs F={cfg.n_freq} frequency bins, got {Fq}")
            img = self.cond_img(v).view(B, T, cfg.cond_image, Fq).permute(0, 2, 3, 1)  # (B, k, F, T)
            h = h + self.cond_img_in(img.to(h.dtype))
        if env is not None:
            if Fq != cfg.n_freq:
                raise ValueError(f"the envelope head needs F={cfg.n_freq} frequency bins, got {Fq}")
            h = h + self.env_in(env[:, None].to(h.dtype))
        h = self._condition(0, h, v)  # (B, nf, F, T)
        hs, j = [h], 1
        for level in self.down:
            for blk in level.blocks:
                h = blk(h, temb)
                hs.append(h)
            if hasattr(level, "downsample"):
                h = self._condition(j, self._resample(level.downsample, h, temb), v)  # (B, C, F/2, T/2)
                j += 1
                pyramid_in = self.pyr_down(pyramid_in)  # (B, 2, F/2, T/2)
                h = h + level.combine(pyramid_in)
                hs.append(h)

        h = self.mid1(h, temb)
        h = self._condition(j, self.mid_attn(h), v)
        j += 1
        h = self.mid2(h, temb)

        pyramid = None
        for level in self.up:
            for blk in level.blocks:
                h = blk(torch.cat([h, hs.pop()], dim=1), temb)  # (B, C, F_l, T_l)
            h = self._condition(j, h, v)
            j += 1
            out = level.out_conv(F.silu(level.out_norm(h)))  # (B, 2, F_l, T_l)
            pyramid = out if pyramid is None else self.pyr_up(pyramid) + out
            if hasattr(level, "upsample"):
                h = self._resample(level.upsample, h, temb)  # (B, C, 2 F_l, 2 T_l)
        return self.conv_out(pyramid)  # (B, 2, F, T)
