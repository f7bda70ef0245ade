"""Command line: ``python -m udiffse_lite {demo,enhance,corpus,train,examples,...}``.

Each subcommand maps its flags onto the library's functions and dataclasses;
no library class parses arguments itself.

Notebook: 00_setup.ipynb
"""
from __future__ import annotations

import argparse
import math
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


def _load_array(p: Path, what: str, key: str | None = None) -> np.ndarray:
    """A numpy array from .npy or .npz (``key``, else its only array), or a one-line error."""
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                keys = list(z.keys())
                if not keys:
                    raise SystemExit(f"error: {what} {p} is an empty .npz (no arrays)")
                k = key if key in keys else keys[0]
                return np.asarray(z[k])
        return np.asarray(np.load(p, allow_pickle=False))
    except SystemExit:
        raise
    except Exception as e:  # truncated, not numpy, pickled objects
        raise SystemExit(f"error: cannot read {what} {p} ({type(e).__name__}: {e}); "
                         "re-export it with numpy.save / numpy.savez") from e


def _read_video(lips: str | None, features: str | None):
    if lips and features:
        raise SystemExit("error: give either --lips or --features, not both")
    if lips:
        p = Path(lips)
        if not p.exists():
            raise SystemExit(f"error: lip video {p} does not exist")
        if p.suffix not in (".npz", ".npy"):
            raise SystemExit(f"error: --lips expects a .npz/.npy of (T, 88, 88) frames at 25 fps, got {p.name}")
        v = _load_array(p, "lip video", "frames")
        if v.ndim != 3 or v.shape[1:] != (88, 88):
            raise SystemExit(f"error: --lips {p.name} holds an array of shape {v.shape}; the lip encoder needs "
                             "(T, 88, 88) mouth crops at 25 fps (for features (T, p) use --features)")
        return v
    if features:
        p = Path(features)
        if not p.exists():
            raise SystemExit(f"error: feature file {p} does not exist")
        if p.suffix != ".npy":
            raise SystemExit(f"error: --features expects a .npy of shape (T, p) at 25 fps, got {p.name}")
        v = _load_array(p, "feature file")
        if v.ndim != 2:
            raise SystemExit(f"error: --features {p.name} has shape {v.shape}; expected (T, p) at 25 fps")
        return v
    return None


def _check_out(out: Path, inp: Path, overwrite: bool) -> None:
    """The output path is a writable .wav file that is not the input (checked before any work)."""
    import os

    if out.exists() and out.is_dir():
        raise SystemExit(f"error: --out {out} is a directory; give a file name such as {out / 'enhanced.wav'}")
    if out.suffix.lower() != ".wav":
        raise SystemExit(f"error: --out {out.name}: the output is written as WAV; name it *.wav")
    if inp.exists() and out.resolve() == inp.resolve():
        raise SystemExit("error: --out is the input file; choose another path (the input is never overwritten)")
    if out.exists() and not overwrite:
        raise SystemExit(f"error: {out} exists; pass --overwrite to replace it")
    parent = out.resolve().parent
    if not parent.exists():
        raise SystemExit(f"error: the folder of --out ({parent}) does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise SystemExit(f"error: cannot write into {parent} (permission denied); choose another --out")


def _check_device(device: str | None) -> None:
    import torch

    if device is None:
        return
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise SystemExit(f"error: --device {device!r} is not a device name; use cpu or cuda") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but this machine has no usable CUDA GPU; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise SystemExit(f"error: --device {device!r}: only cpu and cuda are supported")


# ------------------------------------------------------------------ enhance
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def _batch_inputs(inputs: list[str]) -> list[Path] | None:
    """The files of a batch run (several inputs, or one folder), or None for a single file."""
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise SystemExit(f"error: input {p} does not exist")
    if len(paths) == 1 and not paths[0].is_dir():
        return None
    files = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise SystemExit(f"error: folder {p} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
            files += found
        else:
            files.append(p)
    names = [f.stem for f in files]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SystemExit(f"error: several inputs are named {dup[0]}; their outputs would collide in --out")
    return files


def cmd_enhance_many(args, files: list[Path]) -> int:
    """Batch mode: many recordings into the folder --out, several per network call."""
    import os

    from .audio import load_audio, save_audio
    from .samplers import enhance_batch

    if args.lips or args.features:
        raise SystemExit("error: --lips/--features apply to one recording; enhance audio-visual files one by one")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: with several inputs --out must be a folder, and {out} is a file")
    targets = [out / f"{f.stem}.wav" for f in files]
    clash = [t for t in targets if t.exists()]
    if clash and not args.overwrite:
        raise SystemExit(f"error: {clash[0]} exists ({len(clash)} of the outputs do); pass --overwrite to replace them")
    if any(t.resolve() == f.resolve() for t, f in zip(targets, files)):
        raise SystemExit("error: --out is the folder of the inputs; choose another folder (inputs are never overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise SystemExit(f"error: cannot write into {out} (permission denied); choose another --out")
    if args.method != "udiffse+":
        raise SystemExit("error: batch mode runs udiffse+; enhance files one by one for --method udiffse")
    if args.noise_model != "nmf":
        raise SystemExit("error: batch mode runs the NMF noise model; enhance files one by one for "
                         "--noise-model diffusion")
    _check_device(args.device)
    loaded = [load_audio(f, sr=None) for f in files]  # every file read (and checked) before any work
    prior = _load_prior(args.checkpoint, False)
    if args.device:
        prior = prior.to(args.device)
    t0 = time.perf_counter()
    outs = enhance_batch([y for y, _ in loaded], [sr for _, sr in loaded], prior=prior, n_steps=args.steps,
                         n_samples=args.samples, seed=args.seed, schedule=args.schedule, preset=args.preset,
                         batch_size=args.batch, progress=True, **_floor_option(args))
    for t, o, (_, sr) in zip(targets, outs, loaded):
        save_audio(t, o, sr)
    dt = time.perf_counter() - t0
    audio = sum(len(y) / sr for y, sr in loaded)
    print(f"enhanced {len(files)} files ({audio:.1f} s of audio) -> {out} in {dt:.1f} s "
          f"({60 * len(files) / dt:.1f} files per minute, batches of {args.batch})")
    return 0


def _floor_option(args) -> dict:
    """``--noise-floor`` and ``--output-noise-prior`` as sampler options, checked before any work."""
    opts = {}
    if args.noise_floor is not None:
        if not (math.isfinite(args.noise_floor) and args.noise_floor >= 0):
            raise SystemExit(f"error: --noise-floor must be a number >= 0 (0: no floor), got {args.noise_floor}")
        if args.noise_model == "diffusion":
            raise SystemExit("error: --noise-floor applies to the NMF noise model; drop it with --noise-model diffusion")
        opts["noise_floor"] = args.noise_floor
    if args.output_noise_prior is not None:
        from .samplers import _check_output_noise_prior

        if args.noise_model == "diffusion":
            raise SystemExit("error: --output-noise-prior applies to the NMF noise model; drop it with "
                             "--noise-model diffusion")
        spec = None if args.output_noise_prior.lower() == "none" else args.output_noise_prior
        try:
            _check_output_noise_prior(spec)
        except ValueError as e:
            raise SystemExit(f"error: --output-noise-prior: {e}") from e
        opts["output_noise_prior"] = spec
    return opts


def cmd_enhance(args) -> int:
    from .audio import load_audio, save_audio
    from .samplers import enhance

    floor = _floor_option(args)
    files = _batch_inputs(args.input)
    if files is not None:
        return cmd_enhance_many(args, files)
    inp, out = Path(args.input[0]), Path(args.out)
    if not inp.exists():
        raise SystemExit(f"error: input {inp} does not exist")
    _check_out(out, inp, args.overwrite)
    _check_device(args.device)
    y, sr = load_audio(inp, sr=None)
    video = _read_video(args.lips, args.features)
    try:
        prior = _load_prior(args.checkpoint, video is not None)
    except (KeyError, TypeError) as e:  # a checkpoint with missing or unknown fields
        raise SystemExit(f"error: checkpoint {args.checkpoint} is not a complete udiffse_lite prior "
                         f"({type(e).__name__}: {e}); re-export it with ScorePrior.save") from e
    if args.device:
        prior = prior.to(args.device)
    if video is not None and not prior.conditional:
        raise SystemExit("error: this checkpoint is audio-only; drop --lips/--features or use tiny-av")
    noise = {}
    if args.noise_model == "diffusion":
        if args.method != "udiffse+":
            raise SystemExit("error: --noise-model diffusion runs with udiffse+; drop --method udiffse")
        noise = dict(noise_model="diffusion", noise_prior=_load_prior(args.noise_prior or "tiny-noise", False))
        if args.device:
            noise["noise_prior"] = noise["noise_prior"].to(args.device)
    elif args.noise_prior:
        raise SystemExit("error: --noise-prior applies to --noise-model diffusion; add it or drop --noise-prior")
    t0 = time.perf_counter()
    s_hat = enhance(y, sr, prior=prior, method=args.method, video=video, n_steps=args.steps,
                    n_samples=args.samples, seed=args.seed, schedule=args.schedule, preset=args.preset,
                    em_iters=args.em_iters, progress=True, **noise, **floor)
    save_audio(out, s_hat, sr)
    dur = len(y) / sr
    what = "diffusion noise prior" if noise else "NMF noise"
    print(f"enhanced {inp} ({dur:.1f} s at {sr} Hz) -> {out} in {time.perf_counter() - t0:.1f} s "
          f"({args.method}, {'audio-visual' if video is not None else 'audio-only'}, {what})")
    return 0


def _add_enhance(sub):
    p = sub.add_parser("enhance", help="enhance a noisy recording",
                       description="Enhance a noisy wav with UDiffSE+ or UDiffSE (any length, any rate).")
    p.add_argument("input", nargs="+", help="noisy audio file (wav/flac/ogg; mono or mixed down); several "
                                             "files or a folder enhance them in batches into the folder --out")
    p.add_argument("--out", required=True, help="output wav (written atomically, never over the input); "
                                                "a folder when several inputs are given")
    p.add_argument("--batch", type=int, default=8, help="recordings per network call in batch mode")
    p.add_argument("--lips", help="lip frames (.npz with 'frames' (T, 88, 88) or .npy) at 25 fps")
    p.add_argument("--features", help="precomputed visual features (.npy, (T, p)) at 25 fps")
    p.add_argument("--method", default="udiffse+", choices=["udiffse+", "udiffse"])
    p.add_argument("--checkpoint", help="prior checkpoint path or name (default tiny-ao / tiny-av)")
    p.add_argument("--schedule", default=None, choices=["posterior-score", "reference"],
                   help="likelihood schedule (default: the preset's)")
    p.add_argument("--preset", default="default", help="named settings: default, fast (real time on a 2-core CPU), best, reference")
    p.add_argument("--steps", type=int, default=None, help="reverse steps N (default: the preset's, 30)")
    p.add_argument("--samples", type=int, default=None, help="parallel chains b (default: the preset's, 2)")
    p.add_argument("--em-iters", type=int, default=5, help="EM iterations (udiffse only)")
    p.add_argument("--noise-model", default="nmf", choices=["nmf", "diffusion"],
                   help="the noise model: NMF fitted to the recording (default) or a diffusion noise prior")
    p.add_argument("--noise-prior", help="noise prior name or path for --noise-model diffusion (default tiny-noise)")
    p.add_argument("--noise-floor", type=float, default=None,
                   help="scale of the stationary noise floor under the output filter's noise power (default 1; "
                        "0: the NMF alone, the papers' output). The floor is ramped down on mixtures whose quiet part is not "
                        "steady, such as babble (SamplerConfig.noise_floor_gate)")
    p.add_argument("--output-noise-prior", default=None,
                   help="the noise prior that reads the chains' residual for the output filter's noise power "
                        "(default tiny-noise; a name or prior.pt; 'none': the NMF refitted on the residual, the "
                        "papers' output)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu or cuda (default: where the checkpoint loads)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_enhance)


# ------------------------------------------------------------------ demo
def cmd_demo(args) -> int:
    from .demo import run_demo

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: --out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise SystemExit(f"error: {out} already holds files (an earlier demo?); pass --overwrite to replace "
                         "them or choose another --out")
    run_demo(out, n_steps=args.steps, n_samples=args.samples, seed=args.seed)
    return 0


def _add_demo(sub):
    p = sub.add_parser("demo", help="enhance built-in noisy examples (audio-only and audio-visual)")
    p.add_argument("--out", default="outputs/demo", help="folder for the wavs, figure and table")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--samples", type=int, default=2, help="parallel chains (2 keeps the demo under 2 min)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace the files of an earlier demo in --out")
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
    from .quality import add_cli as add_nqe_cli
    from .robust_features import add_cli as add_robust_cli
    from .phones import add_cli as add_phones_cli
    add_data_cli(sub)
    add_train_cli(sub)
    add_robust_cli(sub)
    add_nqe_cli(sub)
    add_phones_cli(sub)
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
    except (ValueError, FileNotFoundError, FileExistsError, FloatingPointError, PermissionError,
            IsADirectoryError) as e:  # bad input: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
