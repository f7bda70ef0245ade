"""Command line: ``python -m udiffse_lite {demo,enhance,corpus,train,examples,...}``.

Each subcommand maps its flags onto the library's functions and dataclasses;
no library class parses arguments itself.

Notebook: 00_setup.ipynb
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _load_prior(checkpoint: str | None, want_video: bool):
    from .priors import ScorePrior, load_pretrained

    if checkpoint is None:
        return load_pretrained("tiny-av" if want_video else "tiny-ao")
    if Path(checkpoint).suffix == "" and not Path(checkpoint).exists():
        return load_pretrained(checkpoint)
    return ScorePrior.from_checkpoint(checkpoint)


def _read_video(lips: str | None, features: str | None):
    if lips and features:
        raise SystemExit("error: give either --lips or --features, not both")
    if lips:
        p = Path(lips)
        if not p.exists():
            raise SystemExit(f"error: lip video {p} does not exist")
        if p.suffix == ".npz":
            z = np.load(p)
            key = "frames" if "frames" in z else list(z.keys())[0]
            return z[key]
        if p.suffix == ".npy":
            return np.load(p)
        raise SystemExit(f"error: --lips expects a .npz/.npy of (T, 88, 88) frames at 25 fps, got {p.name}")
    if features:
        p = Path(features)
        if not p.exists():
            raise SystemExit(f"error: feature file {p} does not exist")
        return np.load(p)
    return None


# ------------------------------------------------------------------ enhance
def cmd_enhance(args) -> int:
    from .audio import load_audio, save_audio
    from .samplers import enhance

    inp, out = Path(args.input), Path(args.out)
    if not inp.exists():
        raise SystemExit(f"error: input {inp} does not exist")
    if out.resolve() == inp.resolve():
        raise SystemExit("error: --out is the input file; choose another path (the input is never overwritten)")
    if out.exists() and not args.overwrite:
        raise SystemExit(f"error: {out} exists; pass --overwrite to replace it")
    y, sr = load_audio(inp, sr=None)
    video = _read_video(args.lips, args.features)
    prior = _load_prior(args.checkpoint, video is not None)
    if args.device:
        prior = prior.to(args.device)
    if video is not None and not prior.conditional:
        raise SystemExit("error: this checkpoint is audio-only; drop --lips/--features or use tiny-av")
    t0 = time.perf_counter()
    s_hat = enhance(y, sr, prior=prior, method=args.method, video=video, n_steps=args.steps,
                    n_samples=args.samples, seed=args.seed, schedule=args.schedule,
                    em_iters=args.em_iters, progress=True)
    save_audio(out, s_hat, sr)
    dur = len(y) / sr
    print(f"enhanced {inp} ({dur:.1f} s at {sr} Hz) -> {out} in {time.perf_counter() - t0:.1f} s "
          f"({args.method}, {'audio-visual' if video is not None else 'audio-only'})")
    return 0


def _add_enhance(sub):
    p = sub.add_parser("enhance", help="enhance a noisy recording",
                       description="Enhance a noisy wav with UDiffSE+ or UDiffSE (any length, any rate).")
    p.add_argument("input", help="noisy audio file (wav/flac/ogg; mono or mixed down)")
    p.add_argument("--out", required=True, help="output wav (written atomically, never over the input)")
    p.add_argument("--lips", help="lip frames (.npz with 'frames' (T, 88, 88) or .npy) at 25 fps")
    p.add_argument("--features", help="precomputed visual features (.npy, (T, p)) at 25 fps")
    p.add_argument("--method", default="udiffse+", choices=["udiffse+", "udiffse"])
    p.add_argument("--checkpoint", help="prior checkpoint path or name (default tiny-ao / tiny-av)")
    p.add_argument("--schedule", default="posterior-score", choices=["posterior-score", "reference"])
    p.add_argument("--steps", type=int, default=30, help="reverse steps N")
    p.add_argument("--samples", type=int, default=4, help="parallel chains b")
    p.add_argument("--em-iters", type=int, default=5, help="EM iterations (udiffse only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu or cuda (default: where the checkpoint loads)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_enhance)


# ------------------------------------------------------------------ demo
def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(Path(args.out), n_steps=args.steps, n_samples=args.samples, seed=args.seed)
    return 0


def _add_demo(sub):
    p = sub.add_parser("demo", help="enhance built-in noisy examples (audio-only and audio-visual)")
    p.add_argument("--out", default="outputs/demo", help="folder for the wavs, figure and table")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--samples", type=int, default=2, help="parallel chains (2 keeps the demo under 2 min)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)


def _add_examples(sub):
    def run(args):
        from .examples import build_examples
        print("wrote", build_examples(Path(args.out)) if args.out else build_examples())
        return 0
    p = sub.add_parser("examples", help="regenerate the built-in examples (needs the speech engines)")
    p.add_argument("--out", help="folder (default: the package's assets/examples)")
    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m udiffse_lite",
                                     description="Diffusion-based unsupervised audio-visual speech enhancement.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo(sub)
    _add_enhance(sub)
    _add_examples(sub)
    from .data.corpus import add_cli as add_data_cli
    from .recipes import add_cli as add_train_cli
    add_data_cli(sub)
    add_train_cli(sub)
    try:
        from .evaluation import add_cli as add_eval_cli
        add_eval_cli(sub)
    except ImportError:
        pass
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)  # some commands return their results (e.g. train's metadata)
        return rc if isinstance(rc, int) else 0
    except (ValueError, FileNotFoundError) as e:  # bad input: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
