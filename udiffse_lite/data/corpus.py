"""The offline audio-visual teaching corpus: speech from Debian's voices, rendered lips, noise.

``build_corpus("small", "data/corpus")`` writes::

    data/corpus/
      corpus.json                  preset, seed, voices per split, counts, hours, build time
      train.jsonl valid.jsonl test_matched.jsonl test_mismatched.jsonl   one row per utterance
      train/<id>.wav  train/<id>.npz   16 kHz mono PCM16; npz: frames (T_v,88,88) uint8,
                                       visemes (T_v,) int64, art (T_v,5) float32
      ...
      noise/{train,test}/<type>_<k>.wav, noise.jsonl
      READY                        written last: the corpus is complete

Splits: ``train`` and ``valid`` (training voices), ``test_matched`` (new
sentences of the training voices) and ``test_mismatched`` (festival voices:
voices *and* an engine never used in training). Babble noise is made from yet
other espeak-ng voices, never used for clean speech.

The build is deterministic: every utterance draws from its own seed, so the
result does not depend on the number of worker processes.

Notebook: 10_seeing_speech.ipynb
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
import zlib
from dataclasses import asdict, replace

import numpy as np
import soundfile as sf

from ..spectral import SR, expected_video_frames
from . import lips as _lips
from .mix import active_power
from .noise import NOISE_TYPES, make_noise
from .text import make_sentences, normalise_text
from .tts import Voice, check_voice, synth_festival_many, synthesize

SPLITS = ("train", "valid", "test_matched", "test_mismatched")

TRAIN_VOICES = [
    Voice("mbrola-us1", "mbrola", "us1", 50, 165),
    Voice("mbrola-us2", "mbrola", "us2", 45, 160),
    Voice("mbrola-us3", "mbrola", "us3", 40, 170),
    Voice("mbrola-en1", "mbrola", "en1", 50, 160),
    Voice("flite-slt", "flite", "slt", 0, 100),
    Voice("flite-rms", "flite", "rms", 0, 100),
    Voice("flite-awb", "flite", "awb", 0, 100),
    Voice("flite-kal16", "flite", "kal16", 0, 100),
    Voice("espeak-us-f3", "espeak", "en-us+f3", 62, 155),
    Voice("espeak-us-m3", "espeak", "en-us+m3", 38, 150),
    Voice("espeak-rp-f4", "espeak", "en-gb-x-rp+f4", 70, 165),
    Voice("espeak-en-m1", "espeak", "en+m1", 30, 175),
]
MISMATCHED_VOICES = [  # an engine (festival) and voices that training never hears
    Voice("festival-kal", "festival", "kal_diphone", 0, 100),
    Voice("festival-rab", "festival", "rab_diphone", 0, 100),
    Voice("festival-don", "festival", "don_diphone", 0, 100),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", 0, 100),
]
BABBLE_VOICES = {  # held out: used only inside babble noise
    "train": [Voice("babble-029-m2", "espeak", "en-029+m2", 45, 170),
              Voice("babble-scot-f2", "espeak", "en-gb-scotland+f2", 60, 165),
              Voice("babble-nyc-m4", "espeak", "en-us-nyc+m4", 40, 175)],
    "test": [Voice("babble-gbclan-f1", "espeak", "en-gb-x-gbclan+f1", 65, 160),
             Voice("babble-wmd-m5", "espeak", "en-gb-x-gbcwmd+m5", 35, 170),
             Voice("babble-us-klatt2", "espeak", "en-us+klatt2", 50, 165)],
}

PRESETS = {
    # voices: training voices used; per-voice utterance counts per split; noise library size
    "tiny": dict(voices=["mbrola-us1", "flite-slt", "espeak-us-f3", "mbrola-us3"], train=5, valid=2,
                 test_matched=2, mismatched=["festival-kal"], test_mismatched=3,
                 noise_clips=1, noise_seconds=4.0, babble_utts=3),
    "small": dict(voices=[v.name for v in TRAIN_VOICES], train=150, valid=8, test_matched=8,
                  mismatched=[v.name for v in MISMATCHED_VOICES], test_mismatched=25,
                  noise_clips=3, noise_seconds=10.0, babble_utts=12),
    "full": dict(voices=[v.name for v in TRAIN_VOICES], train=600, valid=30, test_matched=30,
                 mismatched=[v.name for v in MISMATCHED_VOICES], test_mismatched=100,
                 noise_clips=10, noise_seconds=20.0, babble_utts=40),
}
_BY_NAME = {v.name: v for v in TRAIN_VOICES + MISMATCHED_VOICES + sum(BABBLE_VOICES.values(), [])}
TARGET_DBFS = -26.0  # active speech level of the stored clean speech (+-4 dB per utterance)


def _seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _jitter(v: Voice, rng: np.random.Generator) -> Voice:
    """Vary pitch and rate a little per utterance (espeak/mbrola: pitch units, wpm; flite: %)."""
    if v.engine in ("espeak", "mbrola"):
        return replace(v, pitch=int(np.clip(v.pitch + rng.integers(-8, 9), 0, 99)),
                       rate=int(v.rate * rng.uniform(0.9, 1.1)))
    if v.engine == "flite":
        return replace(v, rate=int(v.rate * rng.uniform(0.9, 1.1)))
    return v


def finish_utterance(s: np.ndarray, phones, rng: np.random.Generator, name: str = "utterance"):
    """Pad, level and check one synthesised utterance.

    Adds 0.1–0.3 s of silence at each end (shifting the phone timings), scales the
    active speech to ``-26 +- 4`` dBFS (peak at most 0.95) and checks that the phone
    timings cover the audio.

    Args:
        s: (L,) float32 at 16 kHz.
        phones: ``[(label, start_s, end_s), ...]``.
        rng: draws the padding and level.

    Returns:
        ``(s, phones, gain)``.

    Raises:
        RuntimeError: silent or non-finite audio, or phone timings that disagree with
            the audio length by more than 0.3 s.

    Notebook: 10_seeing_speech.ipynb
    """
    s = np.asarray(s, dtype=np.float64)
    if s.size < SR // 10 or not np.all(np.isfinite(s)) or np.abs(s).max() < 1e-4:
        raise RuntimeError(f"{name}: silent, too short or corrupt audio ({s.size} samples)")
    dur = len(s) / SR
    end = max(p[2] for p in phones)
    if abs(end - dur) > 0.3:
        raise RuntimeError(f"{name}: phone timings end at {end:.2f} s but the audio lasts {dur:.2f} s")
    a, b = rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.3)
    s = np.concatenate([np.zeros(int(a * SR)), s, np.zeros(int(b * SR))])
    a = int(a * SR) / SR
    phones = [(lab, round(st + a, 4), round(min(en, dur) + a, 4)) for lab, st, en in phones if en > st]
    p, _ = active_power(s)
    gain = 10 ** ((TARGET_DBFS + rng.uniform(-4, 4)) / 20) / np.sqrt(p)
    gain = min(gain, 0.95 / np.abs(s).max())
    return (s * gain).astype(np.float32), phones, float(gain)


def _write_utterance(job: dict, s: np.ndarray, phones, out: str) -> dict:
    s, phones, gain = finish_utterance(s, phones, np.random.default_rng(job["seed"]), job["id"])
    T_v = expected_video_frames(len(s))
    phoneset = _lips.PHONESET[job["engine"]]
    rel_wav = f"{job['split']}/{job['id']}.wav"
    rel_lips = f"{job['split']}/{job['id']}.npz"
    sf.write(os.path.join(out, rel_wav), s, SR, subtype="PCM_16")
    _render_to(os.path.join(out, rel_lips), phones, phoneset, T_v, job["voice"], job["seed"])
    return {"id": job["id"], "split": job["split"], "voice": job["voice"], "engine": job["engine"],
            "text": job["text"], "duration": round(len(s) / SR, 4), "n_samples": len(s),
            "n_video_frames": T_v, "phoneset": phoneset, "phones": [list(p) for p in phones],
            "wav": rel_wav, "lips": rel_lips, "gain": gain, "pitch": job["pitch"], "rate": job["rate"]}


def _render_to(path: str, phones, phoneset: str, T_v: int, voice: str, seed: int) -> None:
    # the video has its own random stream, so the lips can be re-rendered without re-synthesis
    frames, art, vis = _lips.render_lips(phones, phoneset, T_v, voice, np.random.default_rng([seed, 7]))
    if frames.shape[0] != T_v:
        raise RuntimeError(f"{path}: {frames.shape[0]} video frames for {T_v} expected")
    tmp = path[:-4] + ".tmp.npz"
    np.savez_compressed(tmp, frames=frames, visemes=vis, art=art)
    os.replace(tmp, path)  # atomic: readers never see a half-written file


def _rerender(row: dict) -> str:
    _render_to(row["lips"], [tuple(p) for p in row["phones"]], row["phoneset"], row["n_video_frames"],
               row["voice"], row["seed"])
    return row["id"]


def rerender_lips(corpus_dir: str, splits=SPLITS, workers: int | None = None, progress: bool = True) -> int:
    """Re-render every lip video of a corpus from its metadata (phone timings), keeping the audio.

    Use it after changing the renderer in :mod:`udiffse_lite.data.lips`; the result is
    what :func:`build_corpus` would write with the current code.

    Returns:
        Number of videos written.

    Notebook: 10_seeing_speech.ipynb
    """
    with open(os.path.join(corpus_dir, "corpus.json")) as f:
        seed = json.load(f)["seed"]
    rows = []
    for split in splits:
        for r in load_metadata(corpus_dir, split):
            rows.append(dict(r, seed=_seed(seed, r["id"])))
    workers = workers or min(2, os.cpu_count() or 1)
    t0 = time.time()
    with mp.get_context("fork").Pool(workers) as pool:
        for k, _ in enumerate(pool.imap_unordered(_rerender, rows, chunksize=8)):
            if progress and (k + 1) % 500 == 0:
                print(f"[corpus] re-rendered {k + 1}/{len(rows)} videos, {time.time() - t0:.0f} s", file=sys.stderr)
    return len(rows)


def _work(batch: list[dict]) -> list[dict]:
    """Synthesise and render a batch of jobs (one job, or many of one festival voice)."""
    out = batch[0]["out"]
    voices = [_jitter(_BY_NAME[j["voice"]], np.random.default_rng(j["seed"] + 1)) for j in batch]
    if batch[0]["engine"] == "festival":
        results = synth_festival_many(voices[0], [j["text"] for j in batch])
    else:
        results = [synthesize(v, j["text"]) for v, j in zip(voices, batch)]
    rows = []
    for j, v, (s, phones) in zip(batch, voices, results):
        j = dict(j, pitch=v.pitch, rate=v.rate)
        rows.append(_write_utterance(j, s, phones, out))
    return rows


def _noise_library(out: str, cfg: dict, seed: int, progress: bool) -> list[dict]:
    rows = []
    for split in ("train", "test"):
        os.makedirs(os.path.join(out, "noise", split), exist_ok=True)
        texts = make_sentences(cfg["babble_utts"], seed=_seed(seed, "babble", split))
        talkers = []
        for i, t in enumerate(texts):
            v = BABBLE_VOICES[split][i % len(BABBLE_VOICES[split])]
            talkers.append(synthesize(v, t)[0])
        n = int(cfg["noise_seconds"] * SR)
        for kind in NOISE_TYPES:
            for k in range(cfg["noise_clips"]):
                rng = np.random.default_rng(_seed(seed, "noise", split, kind, k))
                y = make_noise(kind, n, rng, split, speech=talkers)
                y = 0.1 * y / max(float(np.sqrt(np.mean(y ** 2))), 1e-12)
                y = y * min(1.0, 0.95 / float(np.abs(y).max()))
                rel = f"noise/{split}/{kind}_{k}.wav"
                sf.write(os.path.join(out, rel), y.astype(np.float32), SR, subtype="PCM_16")
                rows.append({"id": f"{kind}_{k}", "split": split, "type": kind, "wav": rel,
                             "duration": cfg["noise_seconds"]})
    if progress:
        print(f"[corpus] noise library: {len(rows)} clips", file=sys.stderr)
    return rows


def corpus_plan(preset: str, seed: int = 0) -> list[dict]:
    """The list of utterance jobs a preset makes (id, split, voice, engine, text, seed).

    Sentences are unique across the whole corpus, so test sentences are never heard in training.

    Notebook: 10_seeing_speech.ipynb
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {sorted(PRESETS)}")
    cfg = PRESETS[preset]
    used: set[str] = set()
    jobs = []
    plan = [(split, cfg["voices"], cfg[split]) for split in ("train", "valid", "test_matched")]
    plan.append(("test_mismatched", cfg["mismatched"], cfg["test_mismatched"]))
    for split, names, per_voice in plan:
        texts = make_sentences(per_voice * len(names), seed=_seed(seed, split), exclude=used)
        used.update(texts)
        for k, t in enumerate(texts):
            v = _BY_NAME[names[k % len(names)]]
            uid = f"{split}_{k:05d}_{v.name}"
            jobs.append({"id": uid, "split": split, "voice": v.name, "engine": v.engine,
                         "text": normalise_text(t), "seed": _seed(seed, uid)})
    return jobs


def build_corpus(preset: str = "small", out: str = "data/corpus", seed: int = 0, progress: bool = True,
                 workers: int | None = None) -> dict:
    """Build the teaching corpus (speech, lip videos, metadata, noise library).

    Installs nothing: missing engines or voices stop the build before any work
    with a ``RuntimeError`` naming the apt package (see ``scripts/install_system_deps.sh``).

    Args:
        preset: ``"tiny"`` (seconds; tests), ``"small"`` (12 training voices, ~1.5 h; the
            course's priors) or ``"full"``.
        out: output folder; an existing complete build with the same preset and seed is
            kept, anything else in the split folders is rebuilt.
        seed: master seed; the corpus is a deterministic function of (preset, seed).
        progress: print progress to stderr.
        workers: processes (default ``min(2, cpu_count)``).

    Returns:
        The summary also written to ``out/corpus.json``.

    Raises:
        ValueError: unknown preset.
        RuntimeError: missing engine/voice, or an utterance that fails its checks.

    Notebook: 10_seeing_speech.ipynb
    """
    jobs = corpus_plan(preset, seed)
    cfg = PRESETS[preset]
    ready = os.path.join(out, "READY")
    if os.path.exists(ready):
        try:
            with open(os.path.join(out, "corpus.json")) as f:
                summary = json.load(f)
            if summary.get("preset") == preset and summary.get("seed") == seed:
                if progress:
                    print(f"[corpus] {out} already holds preset {preset!r} seed {seed}", file=sys.stderr)
                return summary
        except (OSError, json.JSONDecodeError):
            pass
        os.remove(ready)
    for name in set(cfg["voices"] + cfg["mismatched"]) | {v.name for v in sum(BABBLE_VOICES.values(), [])}:
        check_voice(_BY_NAME[name])
    t0 = time.time()
    for split in SPLITS:
        os.makedirs(os.path.join(out, split), exist_ok=True)
    for j in jobs:
        j["out"] = out
    batches = [[j] for j in jobs if j["engine"] != "festival"]
    fest = [j for j in jobs if j["engine"] == "festival"]
    for name in sorted({j["voice"] for j in fest}):
        mine = [j for j in fest if j["voice"] == name]
        batches += [mine[i:i + 10] for i in range(0, len(mine), 10)]
    batches.sort(key=lambda b: -len(b))  # long festival batches first, for load balance
    workers = workers or min(2, os.cpu_count() or 1)
    rows: list[dict] = []
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            for r in pool.imap_unordered(_work, batches):
                rows += r
                if progress and len(rows) % 200 < len(r):
                    print(f"[corpus] {len(rows)}/{len(jobs)} utterances, {time.time() - t0:.0f} s",
                          file=sys.stderr)
    else:
        for b in batches:
            rows += _work(b)
    noise_rows = _noise_library(out, cfg, seed, progress)
    rows.sort(key=lambda r: r["id"])
    summary = {"preset": preset, "seed": seed, "sr": SR, "video_fps": 25, "splits": {}}
    for split in SPLITS:
        mine = [r for r in rows if r["split"] == split]
        with open(os.path.join(out, f"{split}.jsonl"), "w") as f:
            for r in mine:
                f.write(json.dumps(r) + "\n")
        summary["splits"][split] = {
            "utterances": len(mine), "hours": round(sum(r["duration"] for r in mine) / 3600, 4),
            "voices": sorted({r["voice"] for r in mine}), "engines": sorted({r["engine"] for r in mine})}
    with open(os.path.join(out, "noise.jsonl"), "w") as f:
        for r in noise_rows:
            f.write(json.dumps(r) + "\n")
    summary["noise"] = {"types": NOISE_TYPES, "clips": len(noise_rows)}
    summary["voices"] = {v: asdict(_BY_NAME[v]) for v in cfg["voices"] + cfg["mismatched"]}
    summary["babble_voices"] = {k: [v.name for v in vs] for k, vs in BABBLE_VOICES.items()}
    summary["visemes"] = _lips.VISEMES
    summary["build_seconds"] = round(time.time() - t0, 1)
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(ready, "w") as f:
        f.write(f"preset={preset} seed={seed} utterances={len(rows)}\n")
    if progress:
        print(f"[corpus] {preset}: {len(rows)} utterances in {summary['build_seconds']} s -> {out}",
              file=sys.stderr)
    return summary


def load_metadata(corpus_dir: str, split: str) -> list[dict]:
    """Rows of ``<corpus_dir>/<split>.jsonl`` with absolute ``wav``/``lips`` paths.

    Raises:
        FileNotFoundError: no such split table (names the command that builds one).

    Notebook: 10_seeing_speech.ipynb
    """
    p = os.path.join(corpus_dir, f"{split}.jsonl")
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p} not found: build a corpus with "
                                f"`python -m udiffse_lite corpus --preset small --out {corpus_dir}` "
                                f"(splits: {', '.join(SPLITS)})")
    rows = []
    with open(p) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                for k in ("wav", "lips"):
                    if r.get(k) and not os.path.isabs(r[k]):
                        r[k] = os.path.join(corpus_dir, r[k])
                rows.append(r)
    return rows


# ---------------------------------------------------------------- command line
def _cmd_corpus(args) -> None:
    s = build_corpus(args.preset, args.out, seed=args.seed, progress=True, workers=args.workers)
    for k, v in s["splits"].items():
        print(f"{k:16s} {v['utterances']:5d} utterances {v['hours']:.3f} h  voices: {', '.join(v['voices'])}")


def _cmd_real(args) -> None:
    from .real import build_real_speech
    rows = build_real_speech(args.out)
    print(f"{len(rows)} real recordings in {args.out}")


def _cmd_lip(args) -> None:
    from .. import visual
    if args.action == "train":
        res = visual.train_lip_encoder(args.corpus, args.ckpt, steps=args.steps, seed=args.seed,
                                       batch=args.batch, clip_frames=args.clip_frames, p_new_face=args.p_new_face,
                                       threads=args.threads)
        print(json.dumps(res.get("accuracy", {}), indent=1))
    elif args.action == "extract":
        enc = visual.load_lip_encoder(args.ckpt)
        for split in args.splits:
            n = visual.extract_features(args.corpus, enc, args.features, split=split, face=args.face)
            print(f"{split}: {n} feature files in {args.features}/{split}")
    else:
        enc = visual.load_lip_encoder(args.ckpt)
        for split in args.splits:
            print(split, json.dumps(visual.frame_accuracy(args.corpus, enc, split, face=args.face)))


def add_cli(subparsers) -> None:
    """Register the ``corpus``, ``real-speech`` and ``lip-encoder`` subcommands.

    Notebook: 10_seeing_speech.ipynb
    """
    p = subparsers.add_parser("corpus", help="build the offline audio-visual teaching corpus")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small")
    p.add_argument("--out", default="data/corpus")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=_cmd_corpus)
    p = subparsers.add_parser("real-speech", help="collect real recordings shipped in packages (eval only)")
    p.add_argument("--out", default="data/real_speech")
    p.set_defaults(func=_cmd_real)
    p = subparsers.add_parser("lip-encoder", help="train / evaluate the lip encoder, extract features")
    p.add_argument("action", choices=["train", "extract", "eval"])
    p.add_argument("--corpus", default="data/corpus")
    p.add_argument("--ckpt", default=os.path.join(os.path.dirname(os.path.dirname(__file__)),
                                                  "checkpoints", "lip_encoder.pt"))
    p.add_argument("--features", default="data/corpus/features/lips")
    p.add_argument("--splits", nargs="+", default=list(SPLITS))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--clip-frames", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads while training (train)")
    p.add_argument("--p-new-face", type=float, default=0.0,
                   help="share of training clips re-rendered on a random unseen face (train)")
    p.add_argument("--face", default=None,
                   help="eval, extract: re-render every clip with this face name, or 'random' for a new face per clip")
    p.set_defaults(func=_cmd_lip)
