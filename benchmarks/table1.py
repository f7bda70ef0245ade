"""Table I in miniature, from one command: ``python benchmarks/table1.py``.

Runs ``python -m udiffse_lite evaluate`` jobs side by side (one CPU thread each)
and merges their tables into ``udiffse_lite/assets/table1.md``. The default ``--size cpu`` is
what a 2-core CPU finishes in about half an hour; ``--size full`` is the complete
grid of the issue (every system, both schedules, matched at -10..10 dB,
mismatched at -5/5 dB, 4 chains) for a GPU.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

JOBS = {
    "cpu": [
        # the paper's conditions, UDiffSE+ with the posterior-score schedule, AO and AV; n = 8 gives
        # every utterance its own noise type, so each condition covers all 8 test noise types
        ["--conditions", "test_matched:-5,5", "--n", "8",
         "--methods", "udiffse+", "--schedules", "posterior-score", "--samples", "2"],
        # the reference schedule (audio-only) and UDiffSE (EM) at equal network and steps
        ["--conditions", "test_matched:-5,5", "--n", "3", "--methods", "udiffse+",
         "--schedules", "reference", "--no-av", "--samples", "2"],
        ["--conditions", "test_matched:5", "--n", "2", "--methods", "udiffse", "udiffse+",
         "--schedules", "posterior-score", "--no-av", "--samples", "2"],
        ["--conditions", "test_mismatched:-5,5", "--n", "8",
         "--methods", "udiffse+", "--schedules", "posterior-score", "--samples", "2"],
    ],
    "full": [
        ["--conditions", "test_matched:-10,-5,0,5,10", "--n", "12", "--samples", "4"],
        ["--conditions", "test_mismatched:-5,5", "--n", "12", "--samples", "4"],
    ],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=sorted(JOBS), default="cpu")
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--out", default="udiffse_lite/assets/table1.md")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: evaluate's)")
    ap.add_argument("--jobs", type=int, nargs="*", default=None, help="run only these jobs (0-based)")
    ap.add_argument("--merge-only", action="store_true", help="merge the parts already in docs/table1_parts")
    a = ap.parse_args()
    parts = ROOT / "docs" / "table1_parts"
    parts.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    procs, t0 = [], time.time()
    for k, job in enumerate(JOBS[a.size]):
        if a.merge_only or (a.jobs is not None and k not in a.jobs):
            continue
        cmd = [sys.executable, "-m", "udiffse_lite", "evaluate", "--corpus", a.corpus,
               "--out", str(parts / f"job{k}.md"), *job] + (["--device", a.device] if a.device else [])
        print("running:", " ".join(cmd[1:]), flush=True)
        log = open(parts / f"job{k}.log", "w")
        procs.append((subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    for p, log in procs:
        p.wait()
        log.close()
    failed = [k for k, (p, _) in enumerate(procs) if p.returncode != 0]
    if failed:
        sys.exit(f"jobs failed: see {parts}/job*.log")
    if a.jobs is not None and not a.merge_only:
        print(f"ran jobs {a.jobs}; merge with --merge-only when all parts exist")
        return
    took = "" if a.merge_only or a.jobs else f" in {(time.time() - t0) / 60:.0f} min"
    body = [f"# Table I in miniature\n\nMade by `python benchmarks/table1.py --size {a.size}`{took} "
            "(parts run side by side); each part below gives its own command, commit and hardware. "
            "SI-SDR in dB; PESQ wide-band (P.862.2) and narrow-band (raw P.862); mean ± 95 % interval.\n"]
    for k in range(len(JOBS[a.size])):
        text = (parts / f"job{k}.md").read_text().replace("# Table I in miniature", f"## Part {k + 1}", 1)
        body.append(text)
    Path(a.out).write_text("\n".join(body))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
