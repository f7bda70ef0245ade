"""Where does re-synthesis lose: the generator's magnitude, or its phase? The table of
docs/resynthesis.md ("A consistent phase").

    python benchmarks/resynthesis_phase.py --corpus data/corpus [--prior tiny-resynth] [--n 4]

For ``--n`` utterances of ``--split`` (default ``valid``; 0 dB mixtures, the test-noise types in
turn, ``--seconds`` long), re-synthesis from the clean speech's features and from the noisy
audio's (both with the true lips), by every route of ``ul.resynthesize``: the generated complex
spectrogram through the inverse STFT; Griffin-Lim phase on one chain's magnitude, on the mean
magnitude of ``--chains`` chains, and on the envelope head's magnitude (no diffusion); and Griffin-Lim
on the *clean* magnitude (the ceiling of any magnitude-then-phase route). LSD (scale-invariant,
phase-blind), phone error rate (the course recogniser; the WER stand-in), ESTOI and PESQ-WB
against the clean speech; means over the utterances. Run it alone with every core.

Notebook: none yet (the re-synthesis chapter of issue 11)
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from udiffse_lite import metrics, spectral
from udiffse_lite.data.corpus import load_metadata
from udiffse_lite.data.mix import make_test_mixtures
from udiffse_lite.evaluation import _lips, _load_prior
from udiffse_lite.phones import load_phone_recognizer, phone_error_rate
from udiffse_lite.resynthesis import resynthesize

ROUTES = {  # label -> resynthesize keywords (chains filled in from --chains)
    "generated spectrogram, inverse STFT": dict(phase="generated", n_samples=1),
    "Griffin-Lim, one chain's magnitude": dict(n_samples=1),
    "Griffin-Lim, mean magnitude of the chains": dict(n_samples=None),
    "Griffin-Lim, the envelope head's magnitude": dict(magnitude="envelope"),
}


def mixtures_at_0db(corpus: str, split: str, n: int) -> list[dict]:
    """One 0 dB mixture for each of the first ``n`` utterances of ``split``, the noise types in turn."""
    by_utt: dict = {}
    for m in make_test_mixtures(corpus, split=split, snrs=[0], seed=1):
        by_utt.setdefault(m["utt_id"], []).append(m)
    return [dict(by_utt[u][i % len(by_utt[u])]) for i, u in enumerate(sorted(by_utt)[:n])]


def score(y, s, row, rec) -> tuple:
    """LSD, PER, ESTOI and PESQ-WB of ``y`` against the clean ``s``."""
    return (metrics.lsd(y, s), phone_error_rate(rec, y, row), metrics.estoi(y, s, 16000),
            metrics.pesq(y, s, 16000, mode="wb"))


def print_table(res: dict, second_column: str) -> None:
    """``res``: (features, route) -> list of score() tuples; prints their means as a markdown table."""
    print(f"| features | {second_column} | LSD (dB) | PER | ESTOI | PESQ-WB |")
    print("|---|---|---:|---:|---:|---:|")
    for (source, label), v in res.items():
        v = np.mean(np.array(v), 0)
        print(f"| {source} | {label} | {v[0]:.1f} | {v[1]:.2f} | {v[2]:.2f} | {v[3]:.2f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--prior", default="tiny-resynth")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--chains", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args(argv)
    prior, rec = _load_prior(args.prior, "cpu"), load_phone_recognizer()
    rows = {r["id"]: r for r in load_metadata(args.corpus, args.split)}
    L = int(args.seconds * 16000)
    mixes = mixtures_at_0db(args.corpus, args.split, args.n)
    res: dict = {}
    for m in mixes:
        s, x = m["s"][:L].astype(np.float32), m["x"][:L].astype(np.float32)
        lips, row = _lips(m)[:spectral.expected_video_frames(L)], rows[m["utt_id"]]
        outs = {}
        for source, audio in (("clean features", s), ("noisy 0 dB audio + lips", x)):
            for label, kw in ROUTES.items():
                kw = dict(kw, n_samples=kw.get("n_samples", 1) or args.chains)
                outs[(source, label)] = resynthesize(audio, 16000, lips=lips, prior=prior, precision=args.precision, **kw)
        oracle = spectral.griffin_lim(spectral.to_spec(torch.from_numpy(s)).abs(), len(s), generator=torch.Generator().manual_seed(0))
        outs[("clean features", "Griffin-Lim, the clean magnitude (ceiling)")] = oracle.numpy()
        outs[("-", "the noisy 0 dB input itself")] = x
        for key, y in outs.items():
            res.setdefault(key, []).append(score(y, s, row, rec))
    print(f"{len(mixes)} `{args.split}` utterances, {args.seconds} s, prior `{args.prior}`, {args.chains} chains, "
          f"{args.precision}; means\n")
    print_table(res, "waveform from")


if __name__ == "__main__":
    main()
