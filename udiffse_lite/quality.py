"""A neural quality estimator (NQE): how clean is a recording, judged from the recording alone.

AV2Wav trains its synthesiser on a large, partly noisy corpus; a non-intrusive quality estimator
picks the nearly clean part. :class:`QualityNet` is that estimator at teaching size: log-mel frames,
three dilated temporal convolutions, mean and standard-deviation pooling over time, and two outputs,
the SI-SDR (dB) and the wide-band PESQ that the *intrusive* metrics would give against the clean
reference it never sees. It learns from corpus utterances passed through random degradations
(additive noise, reverberation, clipping, band-limiting) whose true scores are computed once.

    nqe = load_quality_estimator()
    nqe.predict(y, sr)                # {"si_sdr": 12.3, "pesq": 2.1}

Notebook: none yet (the re-synthesis chapter of issue 11)
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .spectral import SR

DEFAULT_CKPT = os.path.join(os.path.dirname(__file__), "checkpoints", "nqe.pt")
KINDS = ("noise", "reverb", "clip", "lowpass")


# ---------------------------------------------------------------- degradations
def reverberate(s: np.ndarray, rt60: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """Convolve with a synthetic room response: exponentially decaying noise reaching -60 dB at
    ``rt60`` seconds, direct path first. The output keeps the input's length and RMS.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    if rt60 <= 0:
        raise ValueError(f"rt60 must be positive, got {rt60}")
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    h = rng.standard_normal(n) * 10 ** (-3 * t / rt60)
    h[0] = 1.0
    out = np.convolve(s, h)[:len(s)]
    return (out * np.sqrt(np.mean(s ** 2) / max(np.mean(out ** 2), 1e-12))).astype(np.float32)


def clip(s: np.ndarray, fraction: float) -> np.ndarray:
    """Hard clipping at ``fraction`` of the peak (0 < fraction <= 1).

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    a = fraction * np.max(np.abs(s))
    return np.clip(s, -a, a).astype(np.float32)


def lowpass(s: np.ndarray, cutoff: float, sr: int = SR) -> np.ndarray:
    """Band-limiting: an 8th-order Butterworth low-pass at ``cutoff`` Hz, zero phase.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    from scipy.signal import butter, sosfiltfilt

    if not 0 < cutoff < sr / 2:
        raise ValueError(f"cutoff must lie in (0, {sr / 2:g}) Hz, got {cutoff}")
    return sosfiltfilt(butter(8, cutoff, fs=sr, output="sos"), s).astype(np.float32)


def degrade(s: np.ndarray, noises: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """A random chain of degradations (each kind with its own probability, at least one; about one
    in ten signals stays clean). Returns the degraded signal and the kinds applied, in order.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    from .data.mix import mix

    x, kinds = s.astype(np.float32), []
    if rng.random() < 0.1:
        return x, kinds
    while not kinds:
        if rng.random() < 0.3:
            x, kinds = reverberate(x, float(rng.uniform(0.2, 0.9)), rng), kinds + ["reverb"]
        if rng.random() < 0.2:
            x, kinds = lowpass(x, float(rng.uniform(1000, 4000))), kinds + ["lowpass"]
        if rng.random() < 0.2:
            x, kinds = clip(x, float(rng.uniform(0.05, 0.4))), kinds + ["clip"]
        if rng.random() < 0.75:
            x = mix(x, noises[rng.integers(len(noises))], float(rng.uniform(-5, 30)), rng=rng)[0]
            kinds = kinds + ["noise"]
    return x.astype(np.float32), kinds


def make_quality_set(corpus: str, split: str, noise_split: str, n: int, seconds: float = 2.0,
                     seed: int = 0) -> dict:
    """``n`` degraded crops of ``split`` with their true SI-SDR and PESQ-WB against the clean crop.

    Returns:
        ``{"x": (n, L) float32, "si_sdr": (n,), "pesq": (n,), "kinds": [..]}``.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    import soundfile as sf

    from . import metrics
    from .data.corpus import load_metadata
    from .data.mix import _noise_library

    rng = np.random.default_rng(seed)
    rows = load_metadata(corpus, split)
    lib, _ = _noise_library(corpus, noise_split)
    noises = [sf.read(r["wav"] if os.path.isabs(r["wav"]) else os.path.join(corpus, r["wav"]), dtype="float32")[0]
              for r in lib]
    L = int(seconds * SR)
    X, sis, pq, kinds = [], [], [], []
    while len(X) < n:
        y, _ = sf.read(rows[rng.integers(len(rows))]["wav"], dtype="float32")
        if len(y) < L:
            y = np.pad(y, (0, L - len(y)))
        a = int(rng.integers(0, len(y) - L + 1))
        s = y[a:a + L]
        if np.sqrt(np.mean(s ** 2)) < 1e-3:
            continue
        x, k = degrade(s, noises, rng)
        if np.max(np.abs(x)) > 0.99:
            s, x = s * 0.99 / np.max(np.abs(x)), x * 0.99 / np.max(np.abs(x))
        X.append(x)
        sis.append(min(metrics.si_sdr(x, s), 50.0) if k else 50.0)  # a clean copy scores "very high"
        pq.append(metrics.pesq(x, s, SR, mode="wb"))
        kinds.append("+".join(k) or "clean")
    return {"x": np.stack(X), "si_sdr": np.asarray(sis, np.float32), "pesq": np.asarray(pq, np.float32),
            "kinds": kinds}


# ---------------------------------------------------------------- the estimator
@dataclass
class QualityConfig:
    """Sizes of :class:`QualityNet`.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """

    n_mels: int = 40
    width: int = 64
    layers: int = 3


class QualityNet(nn.Module):
    """Log-mel frames (B, T, n_mels) -> predicted (SI-SDR in dB, PESQ-WB), each (B,).

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """

    SI_SDR_SCALE, PESQ_OFFSET = 10.0, 2.5  # the outputs are learned as si_sdr / 10 and pesq - 2.5

    def __init__(self, config: QualityConfig | None = None):
        super().__init__()
        self.config = cfg = config or QualityConfig()
        self.inp = nn.Sequential(nn.LayerNorm(cfg.n_mels), nn.Linear(cfg.n_mels, cfg.width))
        self.convs = nn.ModuleList(nn.Conv1d(cfg.width, cfg.width, 5, padding=2 * d, dilation=d)
                                   for d in [1, 2, 4, 8][:cfg.layers])
        self.head = nn.Sequential(nn.Linear(2 * cfg.width, cfg.width), nn.GELU(), nn.Linear(cfg.width, 2))

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        h = self.inp(m).transpose(1, 2)  # (B, w, T)
        for conv in self.convs:
            h = h + F.gelu(conv(h))
        pooled = torch.cat([h.mean(-1), h.std(-1)], dim=-1)
        out = self.head(pooled)
        return torch.stack([out[:, 0] * self.SI_SDR_SCALE, out[:, 1] + self.PESQ_OFFSET], dim=-1)

    @torch.no_grad()
    def predict(self, y, sr: int = SR) -> dict:
        """The estimated SI-SDR (dB) and PESQ-WB of a recording, from the recording alone.

        Notebook: none yet (the re-synthesis chapter of issue 11)
        """
        from .robust_features import log_mel
        from .samplers import _resample, check_sample_rate, check_waveform

        sr = check_sample_rate(sr)
        y = check_waveform(y, "audio")
        if sr != SR:
            y = _resample(y, sr, SR)
        self.eval()
        out = self(log_mel(torch.from_numpy(y), self.config.n_mels)[None])[0]
        return {"si_sdr": float(out[0]), "pesq": float(out[1])}


def _features(X: np.ndarray, n_mels: int) -> torch.Tensor:
    from .robust_features import log_mel

    return log_mel(torch.from_numpy(X), n_mels)  # (n, T, n_mels)


def correlations(pred: np.ndarray, true: np.ndarray) -> dict:
    """Pearson and Spearman correlation of predictions with the true metric.

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    from scipy.stats import pearsonr, spearmanr

    return {"pearson": float(pearsonr(pred, true)[0]), "spearman": float(spearmanr(pred, true)[0])}


def train_quality_estimator(corpus: str, out_path: str = DEFAULT_CKPT, n_train: int = 2000, n_test: int = 300,
                            steps: int = 2000, batch: int = 32, lr: float = 2e-3, seed: int = 0,
                            progress: bool = True) -> tuple[QualityNet, dict]:
    """Train on degraded ``train`` utterances with the train noises; report the correlations on
    degraded ``valid`` utterances with the *test* noises (voices' sentences and noises it never saw).

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    from tqdm.auto import tqdm

    t0 = time.time()
    torch.manual_seed(seed)
    tr = make_quality_set(corpus, "train", "train", n_train, seed=seed)
    te = make_quality_set(corpus, "valid", "test", n_test, seed=seed + 1)
    data_minutes = (time.time() - t0) / 60
    net = QualityNet()
    Mtr, Mte = _features(tr["x"], net.config.n_mels), _features(te["x"], net.config.n_mels)
    Ytr = torch.from_numpy(np.stack([tr["si_sdr"], tr["pesq"]], 1))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(steps), desc="NQE", disable=not progress):
        idx = torch.randint(len(Mtr), (batch,), generator=g)
        pred = net(Mtr[idx])
        loss = F.smooth_l1_loss(pred[:, 0] / QualityNet.SI_SDR_SCALE, Ytr[idx, 0] / QualityNet.SI_SDR_SCALE) + \
            F.smooth_l1_loss(pred[:, 1], Ytr[idx, 1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        p = net(Mte).numpy()
    report = {"si_sdr": correlations(p[:, 0], te["si_sdr"]), "pesq": correlations(p[:, 1], te["pesq"]),
              "n_train": n_train, "n_test": n_test, "steps": steps, "data_minutes": data_minutes,
              "train_minutes": (time.time() - t0) / 60 - data_minutes, "threads": torch.get_num_threads()}
    if out_path:
        from .robust_features import save_module

        save_module(net, out_path, "udiffse_lite/nqe/1", report)
    return net, report | {"test_predictions": p, "test_set": te}


def load_quality_estimator(path: str = DEFAULT_CKPT) -> QualityNet:
    """Load a trained estimator (eval mode, no gradients).

    Notebook: none yet (the re-synthesis chapter of issue 11)
    """
    from .robust_features import load_module

    return load_module(path, "udiffse_lite/nqe/1", lambda c: QualityNet(QualityConfig(**c)), "quality-estimator",
                       "python -m udiffse_lite nqe train --corpus data/corpus")


def add_cli(subparsers) -> None:
    import argparse

    p = subparsers.add_parser("nqe", help="train the neural quality estimator (re-synthesis data filter)",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("action", choices=["train"])
    p.add_argument("--corpus", default="data/corpus")
    p.add_argument("--out", default=DEFAULT_CKPT)
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=300)
    p.add_argument("--steps", type=int, default=2000)
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    if not os.path.isdir(args.corpus):
        raise FileNotFoundError(f"corpus {args.corpus} not found: build it with "
                                f"`python -m udiffse_lite corpus --preset small --out {args.corpus}`")
    _, rep = train_quality_estimator(args.corpus, args.out, args.n_train, args.n_test, args.steps)
    print(f"wrote {args.out}: data {rep['data_minutes']:.1f} min, training {rep['train_minutes']:.1f} min")
    print("| metric | Pearson | Spearman |\n|---|---:|---:|")
    for k in ("si_sdr", "pesq"):
        print(f"| {k} | {rep[k]['pearson']:.3f} | {rep[k]['spearman']:.3f} |")
    return 0
