"""Noise-robust audio-visual features: the front-end of re-synthesis (AV2Wav, in miniature).

AV2Wav re-synthesises clean speech from features that a *noise-robust* AV-HuBERT extracts
from the noisy audio and the lips. What makes those features robust is how the encoder is
trained: whatever it is shown (clean audio, noisy audio, video only, audio and video), it must
predict the *same* frame targets, computed from the clean signal. Its features then stop
carrying the noise and the modality, and keep what both modalities say about the speech.

:class:`RobustAVEncoder` is that idea at teaching size:

* inputs per video frame (25 fps): five 40-band log-mel frames of the audio (125 fps, stacked)
  and the 64 features of the first frozen lip reader (``udiffse_lite.visual.V1_CKPT``: the shipped
  encoder was trained on its features; ``<corpus>/features/lips`` holds them);
* modality dropout (audio only, video only, both) and noise augmentation (the corpus' train
  noises at -5 to 20 dB) during training, the targets always from the clean utterance;
* two heads: k-means clusters of clean log-mel frames (HuBERT's first iteration) and the
  corpus' phone labels (a checkable head: its frame accuracy is a phone-recognition measure).

    enc = load_robust_encoder()                      # udiffse_lite/checkpoints/robust_av.pt
    f = enc.features(y, lips_features)               # (T_v, 128)

Notebook: none yet (the re-synthesis chapter of issue 11)
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .spectral import HOP, N_FFT, SR, VIDEO_FPS

DEFAULT_CKPT = os.path.join(os.path.dirname(__file__), "checkpoints", "robust_av.pt")
STACK = int(round(SR / HOP / VIDEO_FPS))  # 125 STFT frames/s over 25 video frames/s = 5 per video frame


def mel_filterbank(n_mels: int = 40, n_fft: int = N_FFT, sr: int = SR, fmin: float = 50.0,
                   fmax: float | None = None) -> torch.Tensor:
    """Triangular filters on the mel scale, (n_mels, n_fft // 2 + 1), each summing the power of its band.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    fmax = fmax or sr / 2
    if not 0 <= fmin < fmax <= sr / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sr/2, got fmin={fmin}, fmax={fmax}, sr={sr}")
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = inv(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, mid, hi = edges[m:m + 3]
        fb[m] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    return torch.from_numpy(fb).float()


def log_mel(y: torch.Tensor, n_mels: int = 40) -> torch.Tensor:
    """Log-mel power (dB / 10) of a waveform at the STFT's 125 frames/s: (..., L) -> (..., T, n_mels).

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    from .spectral import stft

    P = stft(y).abs().pow(2)  # (..., 256, T) power; the STFT's 510-point frame gives 256 bins
    fb = mel_filterbank(n_mels, n_fft=2 * (P.shape[-2] - 1)).to(P.device)
    return torch.log10(torch.einsum("mf,...ft->...tm", fb, P) + 1e-8)


def stack_frames(m: torch.Tensor, n_video: int) -> torch.Tensor:
    """(..., T, d) audio frames -> (..., n_video, STACK * d): the ``STACK`` frames of each video frame
    (cut or padded by repeating the last frame).

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    need = n_video * STACK
    T = m.shape[-2]
    if T < need:
        m = torch.cat([m, m[..., -1:, :].expand(*m.shape[:-2], need - T, m.shape[-1])], dim=-2)
    m = m[..., :need, :]
    return m.reshape(*m.shape[:-2], n_video, STACK * m.shape[-1])


@dataclass
class RobustAVConfig:
    """Sizes of :class:`RobustAVEncoder`.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """

    n_mels: int = 40
    video_dim: int = 64  # the lip encoder's p
    width: int = 128  # feature size per video frame (what the synthesiser is conditioned on)
    layers: int = 4  # temporal convolutions, kernel 5, dilations 1, 2, 4, 1
    n_clusters: int = 50
    n_phones: int = 0  # set from the corpus' phone inventory
    phones: list = field(default_factory=list)  # the inventory, index = class


class RobustAVEncoder(nn.Module):
    """Per-video-frame features from stacked log-mel frames and lip features, either may be absent.

    ``forward(audio, video)`` with ``audio`` (B, T_v, STACK * n_mels) or None and ``video``
    (B, T_v, video_dim) or None returns (B, T_v, width). A missing modality is replaced by a
    learned embedding, so the same network runs audio-only, video-only or audio-visual.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """

    def __init__(self, config: RobustAVConfig | None = None):
        super().__init__()
        self.config = cfg = config or RobustAVConfig()
        w = cfg.width
        self.audio_in = nn.Sequential(nn.LayerNorm(STACK * cfg.n_mels), nn.Linear(STACK * cfg.n_mels, w))
        self.video_in = nn.Sequential(nn.LayerNorm(cfg.video_dim), nn.Linear(cfg.video_dim, w))
        self.no_audio = nn.Parameter(torch.zeros(w))
        self.no_video = nn.Parameter(torch.zeros(w))
        dil = [1, 2, 4, 1, 2, 4][:cfg.layers]
        self.convs = nn.ModuleList(nn.Conv1d(w, w, 5, padding=2 * d, dilation=d) for d in dil)
        self.norms = nn.ModuleList(nn.LayerNorm(w) for _ in dil)
        self.out_norm = nn.LayerNorm(w)
        self.cluster_head = nn.Linear(w, cfg.n_clusters)
        self.phone_head = nn.Linear(w, max(cfg.n_phones, 1))
        # the k-means targets: centroids of the standardised clean stacked log-mel frames (set in training)
        d = STACK * cfg.n_mels
        self.register_buffer("centroids", torch.zeros(cfg.n_clusters, d))
        self.register_buffer("feat_mean", torch.zeros(d))
        self.register_buffer("feat_std", torch.ones(d))

    def targets(self, m: torch.Tensor) -> torch.Tensor:
        """The k-means cluster of each clean stacked log-mel frame, (..., T_v, d) -> (..., T_v)."""
        return torch.cdist((m - self.feat_mean) / self.feat_std, self.centroids).argmin(-1)

    def forward(self, audio: torch.Tensor | None, video: torch.Tensor | None) -> torch.Tensor:
        if audio is None and video is None:
            raise ValueError("RobustAVEncoder needs audio, video or both")
        ref = audio if audio is not None else video
        B, T = ref.shape[:2]
        a = self.audio_in(audio) if audio is not None else self.no_audio.expand(B, T, -1)
        v = self.video_in(video) if video is not None else self.no_video.expand(B, T, -1)
        if a.shape[:2] != v.shape[:2]:
            raise ValueError(f"audio has {a.shape[1]} video frames, video {v.shape[1]}: align them first "
                             "(stack_frames(log_mel(y), n_video))")
        h = a + v  # (B, T_v, w)
        for conv, norm in zip(self.convs, self.norms):
            h = h + F.gelu(conv(norm(h).transpose(1, 2)).transpose(1, 2))
        return self.out_norm(h)

    @torch.no_grad()
    def features(self, y=None, video=None, sr: int = SR) -> torch.Tensor:
        """Features of one utterance: waveform ``y`` (L,) at 16 kHz and/or lip features (T_v, 64).

        Returns:
            (T_v, width) float32, T_v the number of video frames of the audio (or of the video).

        Notebook: none yet (the re-synthesis chapter of issue 11)
        """
        if sr != SR:
            raise ValueError(f"features need {SR} Hz audio, got {sr}: resample first (ul.load_audio(..., sr=16000))")
        a = v = None
        if y is not None:
            y = torch.as_tensor(np.asarray(y, dtype=np.float32))
            n_video = int(round(len(y) / SR * VIDEO_FPS)) if video is None else len(video)
            a = stack_frames(log_mel(y), n_video)[None]
        if video is not None:
            v = torch.as_tensor(np.asarray(video, dtype=np.float32))[None]
        self.eval()
        return self(a, v)[0]


# ---------------------------------------------------------------- targets
def kmeans(X: torch.Tensor, k: int, iters: int = 25, seed: int = 0) -> torch.Tensor:
    """Plain k-means (k-means++ start, Lloyd iterations) on the rows of X (N, d): (k, d) centroids.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    if X.shape[0] < k:
        raise ValueError(f"k-means needs at least k={k} points, got {X.shape[0]}")
    g = torch.Generator().manual_seed(seed)
    C = X[torch.randint(len(X), (1,), generator=g)]
    for _ in range(1, k):
        d = torch.cdist(X, C).min(1).values.pow(2)
        C = torch.cat([C, X[torch.multinomial(d / d.sum(), 1, generator=g)]])
    for _ in range(iters):
        lab = torch.cdist(X, C).argmin(1)
        for j in range(k):
            sel = X[lab == j]
            if len(sel):
                C[j] = sel.mean(0)
    return C


def phone_labels(row: dict, n_video: int, inventory: dict) -> np.ndarray:
    """The phone shown in each video frame (its centre time), as indices of ``inventory``;
    -100 (ignored by the loss) outside the phone timings or for unknown labels.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    out = np.full(n_video, -100, dtype=np.int64)
    centres = (np.arange(n_video) + 0.5) / VIDEO_FPS
    for label, a, b in row["phones"]:
        key = f"{row['phoneset']}:{label}"
        if key in inventory:
            out[(centres >= a) & (centres < b)] = inventory[key]
    return out


# ---------------------------------------------------------------- training
@dataclass
class RobustTrainConfig:
    """How :func:`train_robust_encoder` trains (modality dropout and noise augmentation).

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """

    steps: int = 1500
    batch: int = 16
    clip_frames: int = 40  # video frames per crop (1.6 s)
    lr: float = 2e-3
    p_audio_only: float = 0.25
    p_video_only: float = 0.25
    p_noisy: float = 0.6  # of the crops with audio
    snr_range: tuple = (-5.0, 20.0)
    phone_weight: float = 1.0
    consistency: float = 1.0  # weight of |f(view) - f(clean AV)|^2 / |f(clean AV)|^2 (clean AV detached)
    seed: int = 0


def _utterances(corpus: str, split: str, limit: int | None = None):
    import soundfile as sf

    from .data.corpus import load_metadata

    rows = load_metadata(corpus, split)
    if limit is not None and len(rows) > limit:
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, limit).round().astype(int)]
    feat_dir = os.path.join(corpus, "features", "lips", split)
    out = []
    for r in rows:
        fp = os.path.join(feat_dir, r["id"] + ".npy")
        if not os.path.exists(fp):
            raise FileNotFoundError(f"{fp} missing: extract the lip features first "
                                    f"(`python -m udiffse_lite lip-encoder extract --corpus {corpus} "
                                    f"--features {corpus}/features/lips`)")
        y, sr = sf.read(r["wav"], dtype="float32")
        out.append(dict(row=r, y=y, v=np.load(fp).astype(np.float32)))
    return out


def _noises(corpus: str) -> list[np.ndarray]:
    import soundfile as sf

    from .recipes import noise_rows

    return [sf.read(r["wav"], dtype="float32")[0] for r in noise_rows(corpus, "train")]


def _mix_at(s: np.ndarray, n: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    from .data.mix import mix

    x, _, _, _ = mix(s, n, snr_db, rng=rng)
    return x


def train_robust_encoder(corpus: str, out_path: str = DEFAULT_CKPT, config: RobustTrainConfig | None = None,
                         net_config: RobustAVConfig | None = None, limit: int | None = None,
                         progress: bool = True) -> tuple["RobustAVEncoder", dict]:
    """Train the encoder on the corpus' train split; k-means targets from its clean log-mel frames.

    Returns:
        ``(encoder, report)`` where report holds the loss curve and the wall time.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    from tqdm.auto import tqdm

    cfg = config or RobustTrainConfig()
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    utts = _utterances(corpus, "train", limit)
    noises = _noises(corpus)
    inventory = sorted({f"{u['row']['phoneset']}:{p[0]}" for u in utts for p in u["row"]["phones"]})
    ncfg = net_config or RobustAVConfig()
    ncfg.n_phones, ncfg.phones = len(inventory), inventory
    index = {p: i for i, p in enumerate(inventory)}
    for u in utts:  # clean stacked log-mel and phone labels per video frame, once
        n_v = len(u["v"])
        u["m"] = stack_frames(log_mel(torch.from_numpy(u["y"])), n_v)
        u["ph"] = torch.from_numpy(phone_labels(u["row"], n_v, index))
    X = torch.cat([u["m"] for u in utts])
    sub = X[torch.randperm(len(X), generator=torch.Generator().manual_seed(cfg.seed))[:20000]]
    mu, sd = X.mean(0), X.std(0).clamp_min(1e-3)
    C = kmeans((sub - mu) / sd, ncfg.n_clusters, seed=cfg.seed)
    enc = RobustAVEncoder(ncfg)
    enc.centroids.copy_(C)
    enc.feat_mean.copy_(mu)
    enc.feat_std.copy_(sd)
    for u in utts:
        u["cl"] = enc.targets(u["m"])
    opt = torch.optim.AdamW(enc.parameters(), lr=cfg.lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    T, hop = cfg.clip_frames, SR // int(VIDEO_FPS)
    losses, t0 = [], time.time()
    bar = tqdm(range(cfg.steps), desc="robust AV encoder", disable=not progress)
    for step in bar:
        A, A0, V, Yc, Yp = [], [], [], [], []
        for i in rng.integers(0, len(utts), cfg.batch):
            u = utts[i]
            n_v = len(u["v"])
            a = int(rng.integers(0, max(1, n_v - T + 1)))
            b = min(n_v, a + T)
            seg = u["y"][a * hop:b * hop]
            pad = T - (b - a)
            A0.append(F.pad(u["m"][a:b], (0, 0, 0, pad)))
            if rng.random() < cfg.p_noisy:
                seg = _mix_at(seg, noises[rng.integers(len(noises))], float(rng.uniform(*cfg.snr_range)), rng)
            m = stack_frames(log_mel(torch.from_numpy(np.ascontiguousarray(seg))), b - a)
            A.append(F.pad(m, (0, 0, 0, pad)))
            V.append(F.pad(torch.from_numpy(u["v"][a:b]), (0, 0, 0, pad)))
            Yc.append(F.pad(u["cl"][a:b], (0, pad), value=-100))
            Yp.append(F.pad(u["ph"][a:b], (0, pad), value=-100))
        A, A0, V, Yc, Yp = map(torch.stack, (A, A0, V, Yc, Yp))
        r = rng.random()
        mode = "audio" if r < cfg.p_audio_only else "video" if r < cfg.p_audio_only + cfg.p_video_only else "av"
        h = enc(A if mode != "video" else None, V if mode != "audio" else None)
        loss = F.cross_entropy(enc.cluster_head(h).flatten(0, 1), Yc.flatten(), ignore_index=-100)
        loss = loss + cfg.phone_weight * F.cross_entropy(enc.phone_head(h).flatten(0, 1), Yp.flatten(),
                                                         ignore_index=-100)
        if cfg.consistency > 0:  # pull the view's features onto the clean audio-visual ones (the teacher)
            with torch.no_grad():
                h0 = enc(A0, V)
            valid = (Yc >= 0).float()[..., None]
            loss = loss + cfg.consistency * ((h - h0).pow(2) * valid).sum() / (h0.pow(2) * valid).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    enc.eval()
    report = dict(steps=cfg.steps, minutes=(time.time() - t0) / 60, final_loss=float(np.mean(losses[-100:])),
                  train=asdict(cfg), threads=torch.get_num_threads())
    if out_path:
        save_robust_encoder(enc, out_path, report)
    return enc, report


def save_module(module: nn.Module, path: str, fmt: str, meta: dict | None = None) -> None:
    """A small network with a dataclass ``config`` as one file: format tag, config, weights, meta."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save({"format": fmt, "config": asdict(module.config), "state_dict": module.state_dict(),
                "meta": json.loads(json.dumps(meta or {}))}, path)


def load_module(path: str, fmt: str, build, what: str, train_cmd: str) -> nn.Module:
    """Inverse of :func:`save_module`: ``build(config_dict)`` makes the network; eval mode, no gradients.

    Raises:
        FileNotFoundError: with ``train_cmd``; ValueError: a file of another format.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: train it with `{train_cmd}`")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    if ck.get("format") != fmt:
        raise ValueError(f"{path} is not a {what} checkpoint (format {ck.get('format')!r})")
    net = build(ck["config"])
    net.load_state_dict(ck["state_dict"])
    net.meta = ck.get("meta", {})
    return net.requires_grad_(False).eval()


def save_robust_encoder(enc: RobustAVEncoder, path: str, meta: dict | None = None) -> None:
    save_module(enc, path, "udiffse_lite/robust_av/1", meta)


def load_robust_encoder(path: str = DEFAULT_CKPT) -> RobustAVEncoder:
    """Load a trained encoder (eval mode, no gradients).

    Raises:
        FileNotFoundError: with the command that trains one.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    return load_module(path, "udiffse_lite/robust_av/1", lambda c: RobustAVEncoder(RobustAVConfig(**c)),
                       "robust AV encoder", "python -m udiffse_lite robust-av train --corpus data/corpus")


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def invariance_report(enc: RobustAVEncoder, corpus: str, split: str = "valid", snrs=(-5, 0, 5),
                      limit: int | None = 48, seed: int = 0) -> dict:
    """Frame accuracy of both heads and the feature distance to the clean AV features, per condition.

    Conditions: clean AV, clean audio only, video only, and noisy AV / noisy audio only at each SNR
    (one test-library noise per utterance, cycling). The *distance* of a condition is the mean over
    frames of ``|f(cond) - f(clean AV)| / |f(clean AV)|``: 0 is perfect invariance.

    Returns:
        ``{condition: {"cluster_acc", "phone_acc", "distance"}}``.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    import soundfile as sf

    from .data.mix import _noise_library

    rng = np.random.default_rng(seed)
    utts = _utterances(corpus, split, limit)
    lib, _ = _noise_library(corpus, "test")
    noises = [sf.read(r["wav"] if os.path.isabs(r["wav"]) else os.path.join(corpus, r["wav"]), dtype="float32")[0]
              for r in lib]
    index = {p: i for i, p in enumerate(enc.config.phones)}
    conds = ["clean AV", "clean audio only", "video only"]
    conds += [f"{k} {s:+d} dB" for s in snrs for k in ("noisy AV", "noisy audio only")]
    acc = {c: dict(cl=[], ph=[], dist=[]) for c in conds}
    enc.eval()
    for i, u in enumerate(utts):
        n_v = len(u["v"])
        v = torch.from_numpy(u["v"])[None]
        m = stack_frames(log_mel(torch.from_numpy(u["y"])), n_v)
        yc = enc.targets(m)
        yp = torch.from_numpy(phone_labels(u["row"], n_v, index))
        ref = enc(m[None], v)[0]
        inputs = {"clean AV": (m, v), "clean audio only": (m, None), "video only": (None, v)}
        for s in snrs:
            x = _mix_at(u["y"], noises[i % len(noises)], float(s), rng)
            mx = stack_frames(log_mel(torch.from_numpy(x)), n_v)
            inputs[f"noisy AV {s:+d} dB"] = (mx, v)
            inputs[f"noisy audio only {s:+d} dB"] = (mx, None)
        for c, (a, vv) in inputs.items():
            h = enc(a[None] if a is not None else None, vv)[0]
            acc[c]["cl"].append((enc.cluster_head(h).argmax(-1) == yc).float().mean().item())
            ok = yp >= 0
            acc[c]["ph"].append((enc.phone_head(h).argmax(-1)[ok] == yp[ok]).float().mean().item()
                                if ok.any() else float("nan"))
            acc[c]["dist"].append(((h - ref).norm(dim=-1) / ref.norm(dim=-1).clamp_min(1e-8)).mean().item())
    return {c: dict(cluster_acc=float(np.mean(d["cl"])), phone_acc=float(np.nanmean(d["ph"])),
                    distance=float(np.mean(d["dist"]))) for c, d in acc.items()}


@torch.no_grad()
def extract_robust_features(corpus: str, enc: RobustAVEncoder, out_dir: str, splits=("train", "valid"),
                            noisy_snr: tuple | None = None, seed: int = 0) -> int:
    """Audio-visual features of every utterance into ``<out_dir>/<split>/<id>.npy`` ((T_v, width)
    float32, the layout ``CropDataset(features=out_dir)`` reads): what the synthesiser trains on.

    Args:
        noisy_snr: None for the clean audio's features (training); ``(lo, hi)`` for the features of
            a *noisy* version of each utterance (a train-split noise at an SNR drawn in the range,
            one draw per utterance, seeded): the clean/noisy pairs of fine-tuning.

    Returns:
        Number of files written.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    if noisy_snr is not None and not (len(noisy_snr) == 2 and noisy_snr[0] <= noisy_snr[1]):
        raise ValueError(f"noisy_snr must be (lo, hi) in dB with lo <= hi, got {noisy_snr!r}")
    rng = np.random.default_rng(seed)
    noises = _noises(corpus) if noisy_snr is not None else None
    n = 0
    for split in splits:
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
        for u in _utterances(corpus, split):
            y = u["y"]
            if noises is not None:
                y = _mix_at(y, noises[rng.integers(len(noises))], float(rng.uniform(*noisy_snr)), rng)
            f = enc.features(y, u["v"])
            np.save(os.path.join(out_dir, split, u["row"]["id"] + ".npy"), f.numpy().astype(np.float32))
            n += 1
    return n


def report_markdown(rep: dict, baseline: dict | None = None) -> str:
    """The invariance report as a markdown table (with an untrained encoder's distance beside it)."""
    head = "| condition | cluster acc. | phone acc. | distance to clean AV |" + (
        " untrained encoder's distance |" if baseline else "")
    lines = [head, "|---|---:|---:|---:|" + ("---:|" if baseline else "")]
    for c, r in rep.items():
        line = f"| {c} | {r['cluster_acc']:.3f} | {r['phone_acc']:.3f} | {r['distance']:.3f} |"
        lines.append(line + (f" {baseline[c]['distance']:.3f} |" if baseline else ""))
    return "\n".join(lines)


def add_cli(subparsers) -> None:
    import argparse

    p = subparsers.add_parser("robust-av", help="train / evaluate the noise-robust AV encoder (re-synthesis)",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("action", choices=["train", "evaluate", "extract"])
    p.add_argument("--corpus", default="data/corpus")
    p.add_argument("--out", default=DEFAULT_CKPT, help="checkpoint to write (train) or read (evaluate)")
    p.add_argument("--steps", type=int, default=RobustTrainConfig.steps)
    p.add_argument("--limit", type=int, default=None, help="train on this many utterances (spread evenly)")
    p.add_argument("--split", default="valid", help="evaluate on this split")
    p.add_argument("--features", default=None, help="extract: output directory (default <corpus>/features/robust, "
                   "or robust_noisy with --noisy-snr)")
    p.add_argument("--noisy-snr", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="extract: features of noisy versions (train noise, SNR in [LO, HI] dB): fine-tuning pairs")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    if not os.path.isdir(args.corpus):
        raise FileNotFoundError(f"corpus {args.corpus} not found: build it with "
                                f"`python -m udiffse_lite corpus --preset small --out {args.corpus}`")
    if args.action == "extract":
        out = args.features or os.path.join(args.corpus, "features", "robust_noisy" if args.noisy_snr else "robust")
        n = extract_robust_features(args.corpus, load_robust_encoder(args.out), out,
                                    noisy_snr=tuple(args.noisy_snr) if args.noisy_snr else None)
        print(f"wrote {n} feature files under {out}")
        return 0
    if args.action == "train":
        enc, rep = train_robust_encoder(args.corpus, args.out, RobustTrainConfig(steps=args.steps), limit=args.limit)
        print(f"wrote {args.out}: {rep['steps']} steps in {rep['minutes']:.1f} min, loss {rep['final_loss']:.3f}")
        enc = load_robust_encoder(args.out)
    else:
        enc = load_robust_encoder(args.out)
    torch.manual_seed(0)
    untrained = RobustAVEncoder(enc.config)
    for name in ("centroids", "feat_mean", "feat_std"):
        getattr(untrained, name).copy_(getattr(enc, name))
    print(report_markdown(invariance_report(enc, args.corpus, args.split),
                          invariance_report(untrained, args.corpus, args.split)))
    return 0
