"""Train a recipe for a fixed wall-clock budget, with the cosine schedule fitted to that budget.

    python scripts/train_for_minutes.py --config tiny-av --corpus data/corpus --features <dir> \\
        --init-from udiffse_lite/checkpoints/tiny-av.pt --out runs/tiny-av-gpu \\
        --minutes 6 --batch-size 32 [--device cuda] [--snapshots 0.5]

`train --steps N` needs N in advance; on a borrowed accelerator only the minutes are known.
This runs ``--calib-steps`` steps, measures the step time, sets the schedule's length so the
run ends inside ``--minutes`` (the learning rate decays to its floor at the end, as in the
recipe), and trains on. Items are cached in memory after their first read (a corpus split is
tens of MB), so the accelerator is not kept waiting for the decoder. Writes what
``train`` writes (prior.pt, last.pt, model_card.json) plus ``history.json``.
"""
from __future__ import annotations

import argparse
import functools
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--features", default=None)
    ap.add_argument("--init-from", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--steps", type=int, default=None,
                    help="instead of --minutes: this many steps (to repeat a timed run exactly)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calib-steps", type=int, default=100)
    ap.add_argument("--snapshots", type=float, nargs="*", default=[0.5],
                    help="also export the EMA prior at these fractions of the run")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if (args.minutes is None) == (args.steps is None):
        raise SystemExit("error: give exactly one of --minutes (a wall-clock budget) and --steps")
    if (args.minutes or 1) <= 0 or (args.steps or 1) <= 0:
        raise SystemExit("error: --minutes and --steps must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)

    import udiffse_lite.data.datasets as D
    from udiffse_lite.recipes import TrainConfig, build_net, get_recipe, warm_start
    from udiffse_lite.training import Trainer

    D.load_wav = functools.lru_cache(maxsize=None)(D.load_wav)  # items are read-only slices of it

    class CachedCrops(D.CropDataset):
        """CropDataset that reads each utterance's video features once."""

        def _video(self, r):
            if r["id"] not in self._features:
                self._features[r["id"]] = super()._video(r)
            return self._features[r["id"]]

    CachedCrops._features = {}

    recipe = get_recipe(args.config)
    over = {"seed": args.seed, "val_every": 0, "ckpt_every": 0, "snapshot_every": 0}
    if args.batch_size:
        over["batch_size"] = args.batch_size
    if args.lr:
        over["lr"] = args.lr
    tcfg = TrainConfig(**{**asdict(recipe.train), **over})
    feats = args.features if recipe.audio_visual else None
    if recipe.audio_visual and not feats:
        raise SystemExit(f"error: recipe {args.config} is audio-visual: pass --features <dir>")
    train_set = CachedCrops(args.corpus, split="train", features=feats, seed=tcfg.seed)
    val_set = CachedCrops(args.corpus, split="valid", features=feats, seed=tcfg.seed)
    video_dim = int(train_set[0]["video"].shape[-1]) if recipe.audio_visual else 0
    net = build_net(recipe, video_dim, seed=tcfg.seed)
    if args.init_from:
        print(f"initialised {warm_start(net, args.init_from)} tensors from {args.init_from}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"recipe": args.config, "data": {"corpus": str(args.corpus), "features": feats},
            "note": recipe.note, "init_from": args.init_from, "budget_minutes": args.minutes,
            "batch_size": tcfg.batch_size}
    tr = Trainer(net, train_set, tcfg, val_set=val_set, out_dir=out, device=args.device, meta=meta,
                 progress=False)
    t0 = time.perf_counter()
    v0 = tr.validate()
    print(f"device {tr.device}, batch {tcfg.batch_size}, val loss at start {v0:.4f}", flush=True)
    if args.steps is None:
        tr.cfg.steps = 10 ** 9  # no decay while calibrating
        for _ in range(args.calib_steps):
            tr.train_step()
        if tr.device.type == "cuda":
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / args.calib_steps
        budget = 60 * args.minutes
        total = args.calib_steps + int(max(0.0, 0.95 * budget - (time.perf_counter() - t0)) / dt)
        print(f"{1 / dt:.1f} steps/s -> {total} steps in {args.minutes} min", flush=True)
    else:
        # repeat a timed run: its first --calib-steps steps had no decay (the length was not known yet)
        total, budget = args.steps, float("inf")
        tr.cfg.steps = 10 ** 9
        for _ in range(min(args.calib_steps, total)):
            tr.train_step()
    tr.cfg.steps = total
    snaps = {max(1, int(f * total)) for f in args.snapshots if 0 < f < 1}
    hist = [{"step": 0, "val_loss": v0}]
    losses = []
    while tr.step < total and time.perf_counter() - t0 < budget:
        losses.append(tr.train_step())
        if tr.step % 500 == 0:
            print(f"step {tr.step}/{total} loss {np.mean(losses[-500:]):.4f} "
                  f"({tr.step / (time.perf_counter() - t0):.1f} steps/s)", flush=True)
        if tr.step in snaps:
            vl = tr.validate()
            hist.append({"step": tr.step, "val_loss": vl, "train_loss": float(np.mean(losses[-500:]))})
            tr.export_prior(out / f"prior_step{tr.step}.pt", **tr.metadata())
            print(f"snapshot at {tr.step}: val loss {vl:.4f}", flush=True)
    tr.wall_time = time.perf_counter() - t0
    tr.val_loss = tr.validate()
    hist.append({"step": tr.step, "val_loss": tr.val_loss, "train_loss": float(np.mean(losses[-500:]))})
    m = tr.metadata(last_loss=float(losses[-1]), steps_per_second=tr.step / tr.wall_time)
    tr.save_checkpoint(out / "last.pt")
    tr.export_prior(out / "prior.pt", **m)
    (out / "history.json").write_text(json.dumps(hist, indent=1))
    (out / "model_card.json").write_text(json.dumps({**m, "net_config": asdict(tr.net.config)}, indent=1,
                                                    default=str))
    print(f"done: {tr.step} steps in {tr.wall_time:.0f} s, val loss {v0:.4f} -> {tr.val_loss:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
