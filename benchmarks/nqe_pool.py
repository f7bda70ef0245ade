"""AV2Wav's data-selection experiment in miniature: train the re-synthesiser on a partly degraded
pool, or only on what the neural quality estimator (NQE) keeps, and compare.

    # 1. the pool: the corpus' train split with a known fraction degraded (noise at -5..10 dB, and
    #    reverberation on some), its robust AV features, the NQE's verdict on every utterance
    python benchmarks/nqe_pool.py build --corpus data/corpus --out data/corpus_pool [--fraction 0.4]
    # 2. two synthesisers, the same recipe and steps: the whole pool, and the NQE-selected subset
    python -m udiffse_lite train --config tiny-resynth --corpus data/corpus_pool \
        --features data/corpus_pool/features/robust --out runs/pool-all --steps 1000
    python -m udiffse_lite train --config tiny-resynth --corpus data/corpus_pool/nqe \
        --features data/corpus_pool/features/robust --out runs/pool-nqe --steps 1000
    # 3. re-synthesis of valid utterances from clean and from noisy (0 dB) features, both priors
    python benchmarks/nqe_pool.py evaluate --corpus data/corpus --priors runs/pool-all/prior.pt \
        runs/pool-nqe/prior.pt [--n 12]

The pool keeps the lips and the text of every utterance; only the audio (the synthesiser's target
*and* the source of its features, as in a crawled corpus) is degraded. The NQE
(:mod:`udiffse_lite.quality`, the shipped estimator) keeps an utterance when its predicted PESQ-WB
is at least ``--threshold`` (3.0: "fair" on the PESQ scale, fixed before looking at the pool);
``build`` prints how well that separates the degraded utterances from the clean ones. ``evaluate``
prints, per prior, the log-spectral distance (LSD, phase-blind), the phone error rate (PER, the
WER stand-in), PESQ-WB and ESTOI of the re-synthesis against the clean utterance, with paired
95 % intervals of the differences. Tune nothing on the test splits: this uses ``valid``.

Notebook: 13_resynthesis.ipynb
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def build(corpus: str, out: str, fraction: float, threshold: float, seed: int) -> dict:
    import soundfile as sf
    import torch

    from udiffse_lite.data.corpus import load_metadata
    from udiffse_lite.quality import load_quality_estimator, reverberate
    from udiffse_lite.robust_features import _mix_at, _noises, extract_robust_features, load_robust_encoder

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"--fraction must be in (0, 1), got {fraction}")
    if os.path.abspath(out) == os.path.abspath(corpus):
        raise ValueError("--out must be a new folder, not the corpus itself (its train split is kept intact)")
    for split in ("train", "valid"):  # the robust encoder reads the first lip reader's features
        if not os.path.isdir(os.path.join(corpus, "features", "lips", split)):
            raise FileNotFoundError(
                f"{corpus}/features/lips/{split} missing: extract the first lip reader's features first "
                f"(`python -m udiffse_lite lip-encoder extract --corpus {corpus} --ckpt "
                f"udiffse_lite/checkpoints/lip_encoder_v1.pt --features {corpus}/features/lips`)")
    t0 = time.time()
    rng = np.random.default_rng(seed)
    rows = load_metadata(corpus, "train")
    bad = set(rng.choice(len(rows), int(round(fraction * len(rows))), replace=False).tolist())
    noises = _noises(corpus)
    os.makedirs(os.path.join(out, "train"), exist_ok=True)
    nqe = load_quality_estimator()
    pool = []
    for k, r in enumerate(rows):
        r = dict(r)
        y, sr = sf.read(r["wav"], dtype="float32")
        if k in bad:
            if rng.random() < 0.3:
                y = reverberate(y, float(rng.uniform(0.3, 0.9)), rng)
            y = _mix_at(y, noises[rng.integers(len(noises))], float(rng.uniform(-5, 10)), rng)
            y = (y * min(1.0, 0.99 / max(np.abs(y).max(), 1e-9))).astype(np.float32)
            r["wav"] = os.path.abspath(os.path.join(out, "train", r["id"] + ".wav"))
            sf.write(r["wav"], y, sr)
        with torch.no_grad():
            r["nqe_pesq"] = round(nqe.predict(y, sr)["pesq"], 3)
        r["pool_degraded"] = k in bad
        pool.append(r)
    _write_split(out, "train", pool)
    keep = [r for r in pool if r["nqe_pesq"] >= threshold]
    _write_split(os.path.join(out, "nqe"), "train", keep)
    for d in (out, os.path.join(out, "nqe")):
        _write_split(d, "valid", load_metadata(corpus, "valid"))
        lips = os.path.join(d, "features", "lips")
        os.makedirs(os.path.dirname(lips), exist_ok=True)
        if not os.path.exists(lips):
            os.symlink(os.path.abspath(os.path.join(corpus, "features", "lips")), lips)
    # the features of the pool's audio (degraded where it is): what a crawled corpus would give
    enc = load_robust_encoder()
    n = extract_robust_features(out, enc, os.path.join(out, "features", "robust"), splits=("train", "valid"))
    deg = np.array([r["pool_degraded"] for r in pool])
    kept = np.array([r["nqe_pesq"] >= threshold for r in pool])
    q = np.array([r["nqe_pesq"] for r in pool])
    summary = {
        "utterances": len(pool), "degraded": int(deg.sum()), "kept_by_nqe": int(kept.sum()),
        "degraded_among_kept": int((deg & kept).sum()), "clean_dropped": int((~deg & ~kept).sum()),
        "precision_clean": float((~deg & kept).sum() / max(kept.sum(), 1)),
        "recall_clean": float((~deg & kept).sum() / max((~deg).sum(), 1)),
        "nqe_pesq_clean_median": float(np.median(q[~deg])), "nqe_pesq_degraded_median": float(np.median(q[deg])),
        "threshold": threshold, "fraction": fraction, "seed": seed, "feature_files": n,
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(out, "pool.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def _write_split(d: str, split: str, rows: list[dict]) -> None:
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{split}.jsonl"), "w") as f:
        for r in rows:  # absolute paths: load_metadata keeps them as they are
            f.write(json.dumps({**r, "wav": os.path.abspath(r["wav"]), "lips": os.path.abspath(r["lips"])}) + "\n")


def evaluate(corpus: str, priors: list[str], n: int, seconds: float, snr: float, seed: int) -> dict:
    from scipy import stats

    from udiffse_lite import metrics
    from udiffse_lite.data.corpus import load_metadata
    from udiffse_lite.data.mix import make_test_mixtures
    from udiffse_lite.evaluation import _lips, _load_prior
    from udiffse_lite.phones import load_phone_recognizer, phone_error_rate
    from udiffse_lite.resynthesis import resynthesize
    from udiffse_lite.spectral import expected_video_frames

    rec = load_phone_recognizer()
    rows = {r["id"]: r for r in load_metadata(corpus, "valid")}
    mixes = make_test_mixtures(corpus, split="valid", snrs=[snr], seed=seed)
    by_utt: dict = {}
    for m in mixes:
        by_utt.setdefault(m["utt_id"], []).append(m)
    utts = [sorted(by_utt)[i] for i in np.linspace(0, len(by_utt) - 1, n).round().astype(int)]
    mixes = [by_utt[u][i % len(by_utt[u])] for i, u in enumerate(utts)]
    L = int(seconds * 16000)
    loaded = {p: _load_prior(p, "cpu") for p in priors}
    res = {(p, src): {k: [] for k in ("lsd", "per", "pesq", "estoi")} for p in priors for src in ("clean", "noisy")}
    for m in mixes:
        x, s = m["x"][:L], m["s"][:L]
        lips = _lips(m)[:expected_video_frames(L)]
        for p, prior in loaded.items():
            for src, inp in (("clean", s), ("noisy", x)):
                y = resynthesize(inp, 16000, lips=lips, prior=prior, precision="auto", seed=0)
                r = res[(p, src)]
                r["lsd"].append(metrics.lsd(y, s))
                r["per"].append(phone_error_rate(rec, y, rows[m["utt_id"]]))
                r["pesq"].append(metrics.pesq(y, s, 16000, mode="wb"))
                r["estoi"].append(metrics.estoi(y, s, 16000))
    print(f"{len(mixes)} valid utterances, {seconds} s; features from the clean audio, or from the mixture at "
          f"{snr:+g} dB (+ lips); LSD and PER: lower is better\n")
    print("| prior | features | LSD (dB) | PER | PESQ-WB | ESTOI |")
    print("|---|---|---:|---:|---:|---:|")
    for (p, src), r in res.items():
        print(f"| {p} | {src} | " + " | ".join(f"{np.mean(r[k]):.3f}" for k in ("lsd", "per", "pesq", "estoi")) + " |")
    if len(priors) == 2:
        a, b = priors
        print(f"\npaired differences, {b} - {a} (mean +- 95 %):\n")
        print("| features | LSD | PER | PESQ-WB | ESTOI |")
        print("|---|---:|---:|---:|---:|")
        for src in ("clean", "noisy"):
            cells = []
            for k in ("lsd", "per", "pesq", "estoi"):
                d = np.asarray(res[(b, src)][k]) - np.asarray(res[(a, src)][k])
                half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
                cells.append(f"{d.mean():+.3f} +- {half:.3f}")
            print(f"| {src} | " + " | ".join(cells) + " |")
    return {f"{p}|{src}": {k: float(np.mean(v)) for k, v in r.items()} for (p, src), r in res.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="the partly degraded pool, its features and the NQE's selection")
    b.add_argument("--corpus", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--fraction", type=float, default=0.4, help="share of train utterances degraded")
    b.add_argument("--threshold", type=float, default=3.0, help="keep utterances with NQE PESQ-WB >= this")
    b.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("evaluate", help="re-synthesis of valid utterances by each prior")
    e.add_argument("--corpus", required=True)
    e.add_argument("--priors", nargs="+", required=True)
    e.add_argument("--n", type=int, default=12)
    e.add_argument("--seconds", type=float, default=3.0)
    e.add_argument("--snr", type=float, default=0.0)
    e.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.action == "build":
        print(json.dumps(build(a.corpus, a.out, a.fraction, a.threshold, a.seed), indent=1))
    else:
        evaluate(a.corpus, a.priors, a.n, a.seconds, a.snr, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
