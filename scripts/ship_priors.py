"""Package trained runs as the shipped teaching priors.

    python scripts/ship_priors.py --run tiny-ao=runs/tiny-ao --run tiny-av=runs/tiny-av \
        [--lip-encoder udiffse_lite/checkpoints/lip_encoder.pt] [--metrics docs/table1.md]

For each run: load ``prior.pt`` (the EMA weights), attach the frozen lip encoder to
audio-visual priors (so ``enhance(..., video=lip_frames)`` works from raw frames),
save ``udiffse_lite/checkpoints/NAME.pt`` in half precision-free float32, write a
model card ``NAME.md`` from the run's metadata, and record the file's sha256 in
``registry.json`` (what ``udiffse_lite.load_pretrained`` reads).

The whole chain is reproducible: ``make corpus``, the lip encoder command of
``data/README.md``, ``python -m udiffse_lite train --config NAME ...``, then this.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from udiffse_lite.priors import CHECKPOINT_DIR, ScorePrior, _sha256

MAX_MB = 20


def _recipe_note(recipe: str | None) -> str | None:
    from udiffse_lite.recipes import RECIPES

    return RECIPES[recipe].note if recipe in RECIPES else None


def card(name: str, prior: ScorePrior, meta: dict, extra: str) -> str:
    n = sum(p.numel() for p in prior.net.parameters())
    cfg = prior.net.config
    data = meta.get("data")
    kind = data.get("kind", "speech") if isinstance(data, dict) else "speech"
    lines = [f"# {name}", "",
             f"A teaching {kind} prior for udiffse_lite: `{type(prior.net).__name__}` "
             f"({n / 1e6:.2f} M parameters, channels {cfg.nf} x {cfg.ch_mult}, conditioning `{cfg.conditioning}`"
             + (f", {cfg.video_dim}-d lip features from the bundled frozen lip encoder" if cfg.video_dim else "")
             + ").", "",
             "| fact | value |", "|---|---|"]
    facts = {
        "recipe": meta.get("recipe"),
        "training data": meta.get("data"),
        "noise types": ", ".join(meta["noise_types"]) if meta.get("noise_types") else None,
        "steps": meta.get("steps") or meta.get("step"),
        "wall time (min)": round(meta["wall_time_s"] / 60, 1) if "wall_time_s" in meta else meta.get("wall_time"),
        "hardware": meta.get("hardware"),
        "validation loss (EMA)": meta.get("val_loss"),
        "train loss (last)": meta.get("train_loss"),
        "SDE": "OU-VE theta=1.5, sigma 0.05..0.5, t_eps=0.03",
        "how": _recipe_note(meta.get("recipe")) or meta.get("note"),
    }
    for k, v in facts.items():
        if v is not None:
            lines.append(f"| {k} | {v} |")
    lines += ["", "Reproduce: see `scripts/ship_priors.py` and `data/README.md`.", ""]
    if extra:
        lines += ["## Metrics", "", extra, ""]
    if kind == "noise":
        limits = ("Trained for a short time on a 2-core CPU on the noise library's procedurally generated "
                  "training clips (2 x 10 s per type) of the types above: it is a teaching model. It "
                  "denoises those types better than a Gaussian of their long-term spectrum, knows nothing "
                  "of other types (babble and clatter are held out on purpose), and its samples from the "
                  "prior alone are far too quiet (docs/separation.md, section 5): use it in the likelihood "
                  "(enhance(noise_model='diffusion')) or to read UDiffSE+'s residual for the output filter "
                  "(SamplerConfig.output_noise_prior, the default: docs/sweep_sampler.md, session 24), not as "
                  "a noise generator.")
    else:
        limits = ("Trained for a short time on a 2-core CPU on synthetic (TTS) speech with rendered lips: "
                  "it is a teaching model. It knows the corpus' voices best and generalises to unseen "
                  "voices and real recordings only partly; see the metrics above.")
    lines += ["## Limits", "", limits, ""]
    return "\n".join(lines)


def prior_from_last(path: Path) -> ScorePrior:
    """The EMA weights of a resumable training checkpoint as a prior."""
    import torch

    from udiffse_lite.unet import ScoreUNet, UNetConfig

    ck = torch.load(path, map_location="cpu", weights_only=True)
    net = ScoreUNet(UNetConfig(**ck["net_config"]))
    net.load_state_dict(ck["ema"])
    meta = {"steps": ck["step"], "val_loss": ck.get("val_loss"), "wall_time_s": ck.get("wall_time"),
            "history": ck.get("history")}
    return ScorePrior(net, meta=meta).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", action="append", required=True, help="NAME=RUN_DIR")
    ap.add_argument("--lip-encoder", default=str(CHECKPOINT_DIR / "lip_encoder.pt"))
    ap.add_argument("--metrics", help="a markdown file whose content goes into the model cards")
    ap.add_argument("--cards-only", action="store_true",
                    help="rewrite the model cards of already shipped priors (weights untouched)")
    ap.add_argument("--from-last", action="store_true",
                    help="take the EMA weights of RUN_DIR/last.pt (a run still in progress)")
    a = ap.parse_args()
    reg_path = CHECKPOINT_DIR / "registry.json"
    registry = json.loads(reg_path.read_text()) if reg_path.exists() else {}
    extra = Path(a.metrics).read_text() if a.metrics else ""
    for spec in a.run:
        name, run = spec.split("=", 1)
        run = Path(run)
        if a.cards_only:
            prior = ScorePrior.from_checkpoint(CHECKPOINT_DIR / f"{name}.pt")
            meta = dict(prior.meta)
            mc = run / "model_card.json"
            if mc.exists():
                meta.update({k: v for k, v in json.loads(mc.read_text()).items() if k != "net_config"})
            (CHECKPOINT_DIR / f"{name}.md").write_text(card(name, prior, meta, extra))
            print(f"rewrote the card of {name}")
            continue
        if a.from_last or not (run / "prior.pt").exists():
            prior = prior_from_last(run / "last.pt")
        else:
            prior = ScorePrior.from_checkpoint(run / "prior.pt")
        meta = dict(prior.meta)
        mc = run / "model_card.json"
        if mc.exists():
            meta.update({k: v for k, v in json.loads(mc.read_text()).items() if k not in ("net_config",)})
        if prior.conditional and prior.lip_encoder is None:
            from udiffse_lite.visual import load_lip_encoder
            lip = load_lip_encoder(a.lip_encoder).requires_grad_(False).eval()
            if lip.config.p == prior.net.config.video_dim:  # not the re-synthesiser (robust AV features)
                prior.lip_encoder = lip
        out = prior.save(CHECKPOINT_DIR / f"{name}.pt", shipped_as=name)
        mb = out.stat().st_size / 2 ** 20
        if mb > MAX_MB:
            raise SystemExit(f"{out} is {mb:.1f} MB > {MAX_MB} MB: too large to ship in git")
        (CHECKPOINT_DIR / f"{name}.md").write_text(card(name, prior, meta, extra))
        registry[name] = {"file": out.name, "sha256": _sha256(out), "recipe":
                          f"python -m udiffse_lite train --config {meta.get('recipe', name)} && "
                          f"python scripts/ship_priors.py --run {name}=RUN_DIR"}
        print(f"shipped {name}: {out} ({mb:.1f} MB)")
    reg_path.write_text(json.dumps(registry, indent=1) + "\n")


if __name__ == "__main__":
    main()
