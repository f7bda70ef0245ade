"""Re-synthesis (AV2Wav-lite) against AV-UDiffSE+ and the input: the table of docs/resynthesis.md.

    python benchmarks/resynthesis.py --corpus data/corpus --prior runs/tiny-resynth/prior.pt \
        [--finetuned runs/tiny-resynth-ft/prior.pt] [--splits test_matched test_mismatched] \
        [--n 4] [--seconds 3] [--no-udiffse]

For every split: mixtures at -5 / 0 / +5 dB (the test noise library's types in turn) and babble at
0 dB (the weak case), ``--n`` utterances each. Systems: the input; AV2Wav-lite (``resynthesize``,
30 steps, lips, its defaults: Griffin-Lim phase on the mean magnitude of 4 chains) before and after
fine-tuning; the envelope head's magnitude with Griffin-Lim phase (no diffusion: the baseline);
AV-UDiffSE+ (``enhance`` with tiny-av, defaults); and, as the synthesiser's ceiling, re-synthesis from the *clean* audio's features. Metrics:
SI-SDR, PESQ-WB, ESTOI, the phone error rate of the course's phone recogniser (the WER stand-in,
:mod:`udiffse_lite.phones`; lower is better) and the scale-invariant log-spectral distance
(phase-blind; lower is better). Every cell is a mean +- 95 % interval over the mixtures.

Tune on ``--splits valid``; the test splits are for the table. Run it alone with every core.

Notebook: none yet (the re-synthesis chapter of issue 11)
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from udiffse_lite import metrics
from udiffse_lite.data.corpus import load_metadata
from udiffse_lite.data.mix import make_test_mixtures
from udiffse_lite.evaluation import _lips, _load_prior
from udiffse_lite.phones import load_phone_recognizer, phone_error_rate
from udiffse_lite.resynthesis import resynthesize
from udiffse_lite.samplers import enhance
from udiffse_lite.spectral import expected_video_frames

METRICS = ("si_sdr", "pesq", "estoi", "per", "lsd")


def conditions(corpus: str, split: str, n: int, seconds: float) -> list[tuple[str, list[dict]]]:
    out = []
    for label, snr, types in (("-5 dB", -5, None), ("0 dB", 0, None), ("+5 dB", 5, None), ("babble 0 dB", 0, ["babble"])):
        mixes = make_test_mixtures(corpus, split=split, snrs=[snr], noise_types=types, seed=1)
        if types is None:  # one mixture per utterance, the noise types in turn
            by_utt: dict = {}
            for m in mixes:
                by_utt.setdefault(m["utt_id"], []).append(m)
            utts = sorted(by_utt)[:n]
            mixes = [by_utt[u][i % len(by_utt[u])] for i, u in enumerate(utts)]
        else:
            mixes = sorted(mixes, key=lambda m: m["utt_id"])[:n]
        L = int(seconds * 16000)
        out.append((label, [dict(m, x=m["x"][:L], s=m["s"][:L]) for m in mixes]))
    return out


def score(y, m, row, rec) -> dict:
    s = m["s"]
    return {"si_sdr": metrics.si_sdr(y, s), "pesq": metrics.pesq(y, s, 16000, mode="wb"),
            "estoi": metrics.estoi(y, s, 16000), "per": phone_error_rate(rec, y, row), "lsd": metrics.lsd(y, s)}


def cell(v) -> str:
    mean, half = metrics.mean_ci(v)
    return f"{mean:.2f} +- {half:.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--prior", required=True, help="the re-synthesis prior (prior.pt or a name)")
    ap.add_argument("--finetuned", default=None, help="the fine-tuned re-synthesis prior")
    ap.add_argument("--av", default="tiny-av")
    ap.add_argument("--splits", nargs="+", default=["test_matched", "test_mismatched"])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--no-udiffse", action="store_true", help="skip AV-UDiffSE+ (the slow row)")
    args = ap.parse_args(argv)
    rec = load_phone_recognizer()
    systems = {"input": None, "AV2Wav-lite": _load_prior(args.prior, "cpu")}
    systems["envelope head + Griffin-Lim (no diffusion)"] = systems["AV2Wav-lite"]
    if args.finetuned:
        systems["AV2Wav-lite fine-tuned"] = _load_prior(args.finetuned, "cpu")
    if not args.no_udiffse:
        systems["AV-UDiffSE+"] = _load_prior(args.av, "cpu")
    systems["AV2Wav-lite from clean features (ceiling)"] = systems["AV2Wav-lite"]
    wall: dict = {}
    print(f"{args.n} utterances per condition, {args.seconds} s; mean +- 95 % interval; PER and LSD: lower is better\n")
    for split in args.splits:
        rows = {r["id"]: r for r in load_metadata(args.corpus, split)}
        for label, mixes in conditions(args.corpus, split, args.n, args.seconds):
            res = {k: {m: [] for m in METRICS} for k in systems}
            for m in mixes:
                lips, row = _lips(m)[:expected_video_frames(len(m["x"]))], rows[m["utt_id"]]
                for name, prior in systems.items():
                    t0 = time.perf_counter()
                    if prior is None:
                        y = m["x"]
                    elif name == "AV-UDiffSE+":
                        y = enhance(m["x"], 16000, prior=prior, video=lips, precision="auto")
                    elif name.startswith("envelope head"):
                        y = resynthesize(m["x"], 16000, lips=lips, prior=prior, precision="auto", magnitude="envelope")
                    elif "clean features" in name:
                        y = resynthesize(m["s"], 16000, lips=lips, prior=prior, precision="auto")
                    else:
                        y = resynthesize(m["x"], 16000, lips=lips, prior=prior, precision="auto")
                    w = wall.setdefault(name, [0.0, 0.0])
                    w[0] += time.perf_counter() - t0
                    w[1] += len(m["x"]) / 16000
                    for k, v in score(y, m, row, rec).items():
                        res[name][k].append(v)
            print(f"\n**{split}, {label}** ({len(mixes)} mixtures)\n")
            print("| system | SI-SDR (dB) | PESQ-WB | ESTOI | PER | LSD (dB) |")
            print("|---|---:|---:|---:|---:|---:|")
            for name in systems:
                print(f"| {name} | " + " | ".join(cell(res[name][k]) for k in METRICS) + " |", flush=True)
    print("\nreal-time factor: " + ", ".join(f"{k} {w[0] / w[1]:.2f}" for k, w in wall.items() if k != "input"))


if __name__ == "__main__":
    main()
