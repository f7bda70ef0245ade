"""A small, lossless copy of a corpus to take to a borrowed accelerator.

    python scripts/pack_corpus.py --corpus data/corpus --out data/corpus_pack --per-voice 50 --valid-per-voice 2

The same utterances every time (evenly spaced within each voice, in the split's order), the audio
as FLAC (about 46 % of the wav size), the lip-encoder features as float16 (``--features``, default
``<corpus>/features/lips``); the split tables point at the new files. Session 5's GPU experiment
(docs/training.md §7; not shipped) used 50 + 2 utterances per voice: 600 of the 1,800 training
utterances, all 12 voices, 38 MB, because a device call carries at most 64 MiB.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil

import numpy as np
import soundfile as sf


def pack(corpus: str, out: str, per_voice: dict[str, int], features: str | None = None) -> dict[str, int]:
    """Write the pack; returns the number of utterances per split."""
    features = features or os.path.join(corpus, "features", "lips")
    if os.path.exists(out) and os.listdir(out):
        raise FileExistsError(f"{out} exists and is not empty; remove it or choose another --out")
    counts = {}
    for split, k in per_voice.items():
        table = os.path.join(corpus, f"{split}.jsonl")
        if not os.path.exists(table):
            raise FileNotFoundError(f"{table} not found: build the corpus first (`python -m udiffse_lite corpus`)")
        rows = [json.loads(line) for line in open(table) if line.strip()]
        by_voice = collections.defaultdict(list)
        for r in rows:
            by_voice[r["voice"]].append(r)
        os.makedirs(os.path.join(out, split), exist_ok=True)
        os.makedirs(os.path.join(out, "features", "lips", split), exist_ok=True)
        kept = []
        for voice in sorted(by_voice):
            rs = by_voice[voice]
            for i in sorted(set(np.linspace(0, len(rs) - 1, min(k, len(rs))).round().astype(int))):
                r = dict(rs[i])
                wav = r["wav"] if os.path.isabs(r["wav"]) else os.path.join(corpus, r["wav"])
                y, sr = sf.read(wav, dtype="int16")
                sf.write(os.path.join(out, split, r["id"] + ".flac"), y, sr, format="FLAC")
                f = np.load(os.path.join(features, split, r["id"] + ".npy"))
                np.save(os.path.join(out, "features", "lips", split, r["id"] + ".npy"), f.astype(np.float16))
                r["wav"] = f"{split}/{r['id']}.flac"
                r.pop("lips", None)
                kept.append(r)
        with open(os.path.join(out, f"{split}.jsonl"), "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in kept)
        counts[split] = len(kept)
    if os.path.exists(os.path.join(corpus, "corpus.json")):
        shutil.copy(os.path.join(corpus, "corpus.json"), out)
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-voice", type=int, default=50)
    ap.add_argument("--valid-per-voice", type=int, default=2)
    ap.add_argument("--features", default=None)
    args = ap.parse_args(argv)
    counts = pack(args.corpus, args.out, {"train": args.per_voice, "valid": args.valid_per_voice}, args.features)
    print(f"packed {counts} into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
