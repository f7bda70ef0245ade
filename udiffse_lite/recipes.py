"""Named training recipes and the ``train`` command line.

A recipe is a network tier, a conditioning and the training hyperparameters::

    python -m udiffse_lite train --config tiny-av --corpus data/corpus --features lips \\
        --out runs/tiny-av [--steps N] [--resume] [--max-minutes M] [--device cpu|cuda]

writes ``runs/tiny-av/last.pt`` (resumable), ``runs/tiny-av/prior.pt`` (the EMA
prior, loadable with ``ScorePrior.from_checkpoint``) and
``runs/tiny-av/model_card.json`` (the facts a model card needs). Under
``torchrun --nproc_per_node=K`` the same command trains with DDP.

Notebook: 03_score_matching.ipynb
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .training import TrainConfig


@dataclass(frozen=True)
class Recipe:
    """A named training setup.

    Attributes:
        tier: ``UNetConfig.tier`` name.
        conditioning: ``"none"`` (audio-only) or ``"cross_attention"`` / ``"film"``.
        train: the :class:`~udiffse_lite.training.TrainConfig`.
        note: where the numbers come from and what the run costs.
        data: ``"speech"`` (the corpus' utterances), ``"noise"`` (its noise library: a noise prior) or
            ``"noise-synth"`` (a noise prior on clips generated afresh from the library's generators,
            :class:`~udiffse_lite.data.SynthNoiseDataset`; validated on the library's held-out clips).
        net: overrides of the tier's :class:`~udiffse_lite.unet.UNetConfig` fields.
        noise_types: for ``data="noise"``, the noise types trained on (None: all); the others
            stay unseen, for the learned noise prior's failure signature.

    Notebook: 03_score_matching.ipynb
    """

    tier: str
    conditioning: str
    train: TrainConfig = field(default_factory=TrainConfig)
    note: str = ""
    data: str = "speech"
    net: dict = field(default_factory=dict)
    noise_types: tuple | None = None

    @property
    def audio_visual(self) -> bool:
        return self.conditioning != "none"


def _tc(**kw) -> TrainConfig:
    return TrainConfig(**kw)


# what the second-stage AV recipes (tiny-av and the experiments that followed it) share
_AV_STAGE2 = dict(batch_size=8, crop_frames=128, lr=2e-4, steps=3000, ema_decay=0.999, p_uncond=0.2, amp="native",
                  speed_perturb=0.15, lr_warmup=50, lr_decay="cosine", val_every=500, ckpt_every=100,
                  snapshot_every=500)

# the re-synthesisers: 10 % condition dropout, no speed perturbation (the features describe the
# unperturbed spectrum)
_RESYNTH = {**_AV_STAGE2, "p_uncond": 0.1, "speed_perturb": 0.0}

# the noise types a noise prior trains on: babble (speech-like) and clatter (impulsive) stay unseen
NOISE_PRIOR_TYPES = ("white", "pink", "brown", "hum", "traffic", "ventilation")
# what the tiny noise-prior recipes share (tiny-noise and the experiments on its quiet samples)
_NOISE = dict(batch_size=8, crop_frames=128, lr=2e-4, steps=2000, ema_decay=0.999, amp="native", lr_warmup=50,
              lr_decay="cosine", val_every=500, ckpt_every=100, snapshot_every=500)

# the shipped tiny-ao continued (docs/training.md section 16): half its learning rate, a new cosine
_AO_CONTINUED = dict(batch_size=8, crop_frames=128, lr=1e-4, steps=2000, ema_decay=0.999, amp="native",
                     speed_perturb=0.15, lr_warmup=100, lr_decay="cosine", val_every=500, ckpt_every=100,
                     snapshot_every=500)

RECIPES: dict[str, Recipe] = {
    # the first shipped prior (fp32, no augmentation); the stage tiny-ao and tiny-av warm-start from
    "tiny-ao-v1": Recipe("tiny", "none", _tc(batch_size=8, crop_frames=128, lr=2e-4, steps=2000,
                                             ema_decay=0.999, val_every=250, ckpt_every=250),
                         "2-core CPU: 128-frame crops and a larger lr so ~30-60 min gives a usable prior"),
    "tiny-ao": Recipe("tiny", "none",
                      _tc(batch_size=8, crop_frames=128, lr=2e-4, steps=5000, ema_decay=0.999, amp="native",
                          speed_perturb=0.15, lr_warmup=100, lr_decay="cosine", val_every=500,
                          ckpt_every=100, snapshot_every=1000),
                      "2-core CPU, bf16 autocast (AMX), speed perturbation +-15 % for voice diversity, cosine "
                      "decay; warm-started from tiny-ao-v1 (--init-from)"),
    "tiny-ao-voices": Recipe("tiny", "none", _tc(**_AO_CONTINUED, formant_shift=0.15),
                             "tiny-ao continued with vocal-tract perturbation on top of the speed perturbation "
                             "(each item's spectral envelope warped by +-15 %, its pitch kept, so pitch and "
                             "vocal-tract length vary independently), half the learning rate; warm-started "
                             "from the shipped tiny-ao (--init-from). Judged on real recordings "
                             "(benchmarks/real_voices.py) and the valid mixtures"),
    "tiny-ao-cont": Recipe("tiny", "none", _tc(**_AO_CONTINUED),
                           "the control of tiny-ao-voices: the same continuation of the shipped tiny-ao "
                           "(--init-from) without the vocal-tract perturbation"),
    "tiny-ao-snr": Recipe("tiny", "none", _tc(**_AO_CONTINUED, formant_shift=0.15, loss_weight="snr"),
                          "tiny-ao-voices with the audio-visual priors' loss weighting 1 + sigma^2/mu^2 (more "
                          "weight at large t): continuing the shipped tiny-ao with the noise weighting lost "
                          "enhancement with or without the vocal-tract perturbation, while the AV priors, "
                          "trained with this weighting, gained at every stage; warm-started from the shipped "
                          "tiny-ao (--init-from)"),
    "tiny-av-film1": Recipe("tiny", "film",
                            _tc(batch_size=8, crop_frames=128, lr=2e-4, steps=5000, ema_decay=0.999, p_uncond=0.2,
                                amp="native", speed_perturb=0.15, lr_warmup=100, lr_decay="cosine", cond_lr_mult=3.0,
                                val_every=500, ckpt_every=100, snapshot_every=1000),
                            "stage 1 of tiny-av: time-aligned FiLM from the lip features, 20 % condition dropout, "
                            "the noise-prediction loss; warm-started from tiny-ao-v1 (--init-from). After 2,000 "
                            "steps its loss was the same with the true, wrong or no video: it did not look"),
    "tiny-av": Recipe("tiny", "film",
                      _tc(**_AV_STAGE2, cond_lr_mult=10.0, loss_weight="snr"),
                      "time-aligned FiLM from the lip features (the cross-attention of the papers has no "
                      "notion of which video frame belongs to which audio frame, and on this corpus never "
                      "learned to look); 20 % condition dropout so the same prior runs audio-only and with "
                      "classifier-free guidance; the loss weighted by 1 + sigma^2/mu^2 (more weight at large t, "
                      "where lips help) and 10x learning rate on the FiLM blocks; warm-started from "
                      "tiny-av-film1 (--init-from its last.pt)"),
    "tiny-av-faces": Recipe("tiny", "film",
                            _tc(**_AV_STAGE2, cond_lr_mult=10.0, loss_weight="snr"),
                            "tiny-av's recipe on the features of the face-augmented lip reader (trained with "
                            "80 % of its clips re-rendered on unseen faces; the prior's training features are "
                            "read from a new face per utterance, so no face is tied to a voice); warm-started "
                            "from the shipped tiny-av (--init-from)"),
    "tiny-av-edm": Recipe("tiny", "film",
                          _tc(**_AV_STAGE2, cond_lr_mult=10.0, loss_weight="edm"),
                          "tiny-av continued with EDM's loss weighting (1 + sigma^2/(mu sigma_data)^2: the "
                          "clean-data error at large t, where only the lips can say where speech is); "
                          "warm-started from the shipped tiny-av (--init-from)"),
    "tiny-av-ln": Recipe("tiny", "film",
                         _tc(**_AV_STAGE2, cond_lr_mult=3.0, loss_weight="edm"),
                         "FiLM from layer-normalised lip features (the raw ones have norm ~20, and the earlier "
                         "AV priors did better with the null video than with any lips, even on training crops), "
                         "EDM loss weighting; warm-started from the shipped tiny-ao (--init-from)",
                         net={"video_norm": True}),
    "tiny-ao-edm": Recipe("tiny", "none",
                          _tc(batch_size=8, crop_frames=128, lr=2e-4, steps=4000, ema_decay=0.999, amp="native",
                              speed_perturb=0.15, lr_warmup=100, lr_decay="cosine", loss_weight="edm",
                              val_every=500, ckpt_every=100, snapshot_every=500),
                          "tiny-ao with EDM's preconditioning (the body predicts a scaled clean spectrogram; "
                          "a zero output is the Gaussian CN(0, sigma_data^2) denoiser) and loss weighting; "
                          "warm-started from the shipped tiny-ao (--init-from), whose one-step estimate at "
                          "t = 1 was worse than predicting silence",
                          net={"precond": "edm"}),
    "tiny-resynth-film1": Recipe("tiny", "film",
                                 _tc(**{**_AV_STAGE2, "p_uncond": 0.1}, cond_lr_mult=3.0, loss_weight="edm"),
                                 "stage 1 of tiny-resynth: FiLM only, speed perturbation, warm-started from "
                                 "tiny-ao (--init-from); its one-step estimate ignored the features",
                                 net={"video_norm": True}),
    "tiny-resynth-image": Recipe("tiny", "film",
                                 _tc(**{**_RESYNTH, "steps": 2000}, cond_lr_mult=3.0, loss_weight="edm"),
                                 "stage 2 of the first re-synthesiser: FiLM plus the features as a 4-channel "
                                 "learned frequency-resolved image at the input, warm-started (--init-from) from "
                                 "tiny-resynth-film1; the features still changed its one-step estimate by only "
                                 "0.1-0.3 dB",
                                 net={"video_norm": True, "cond_image": 4}),
    "tiny-resynth-zpred": Recipe("tiny", "film",
                                 _tc(**{**_RESYNTH, "steps": 3000, "lr_warmup": 100}, loss_weight="edm",
                                     envelope_weight=1.0),
                                 "the envelope head with a noise-predicting body, from scratch: the head learned "
                                 "the envelope (L1 0.20 from clean features), but generations kept a noise floor "
                                 "even where the envelope said silence (seen in its spectrograms); 1,000 more "
                                 "steps with the plain noise loss changed nothing",
                                 net={"video_norm": True, "envelope": True}),
    "tiny-resynth": Recipe("tiny", "film",
                           _tc(**{**_RESYNTH, "steps": 2000, "lr_warmup": 100}, loss_weight="snr", envelope_weight=1.0),
                           "the re-synthesiser of AV2Wav-lite, trained from scratch on clean speech: FiLM from "
                           "the 128 noise-robust AV features (`robust-av extract`, --features "
                           "<corpus>/features/robust), layer-normalised; an envelope head predicts each STFT "
                           "frame's log-magnitude from them (its own L1 loss, envelope_weight), feeds it to the "
                           "input level as an image and sets the preconditioning's per-bin sigma_data "
                           "(precond='envelope': the untrained body is the Gaussian denoiser of the predicted "
                           "envelope); no speed perturbation (the features describe the unperturbed spectrum); "
                           "generation starts from the prior's noise, not the mixture",
                           net={"video_norm": True, "envelope": True, "precond": "envelope"}),
    "tiny-resynth-ft": Recipe("tiny", "film",
                              _tc(**{**_RESYNTH, "steps": 1000, "lr": 1e-4, "lr_warmup": 50}, loss_weight="edm",
                                  envelope_weight=1.0),
                              "AV2Wav-lite's fine-tuning (issue 11, item 4): tiny-resynth (--init-from) trained "
                              "on pairs, features of a noisy version of each utterance (`robust-av extract "
                              "--noisy-snr -5 10`, --features <corpus>/features/robust_noisy) and its clean "
                              "spectrogram as the target",
                              net={"video_norm": True, "envelope": True, "precond": "envelope"}),
    "tiny-av-xattn": Recipe("tiny", "cross_attention",
                            _tc(batch_size=8, crop_frames=128, lr=2e-4, steps=2000, ema_decay=0.999, p_uncond=0.1,
                                val_every=250, ckpt_every=250),
                            "the first shipped tiny-av: the papers' light cross-attention, warm-started from "
                            "tiny-ao-v1@1000; its video pathway never learned (true vs wrong lips: +0.0 dB)"),
    "tiny-noise": Recipe("tiny", "none", _tc(**_NOISE),
                         "a prior over noise (the noise library's train split) for the two-prior posterior of "
                         "DAVSS-NM; warm-started from tiny-ao (--init-from): spectro-temporal features carry "
                         "over, the distribution is learned anew; babble and clatter are held out (unseen types: "
                         "the learned noise prior's failure signature). Its noise-prediction score works in "
                         "UDiffSE's likelihood (coupling='score'), the EDM variant's did not",
                         data="noise", noise_types=NOISE_PRIOR_TYPES),
    "tiny-noise-gain": Recipe("tiny", "none", _tc(**_NOISE, crop_gain_db=20.0),
                              "tiny-noise with each crop at a random level (0 to -20 dB below max |S| = 1), to "
                              "test whether level was the cue that made tiny-noise's samples 20 dB too quiet: "
                              "it was not (samples at -34.7 dB; docs/separation.md section 5); kept as a record",
                              data="noise", noise_types=NOISE_PRIOR_TYPES),
    "tiny-noise-gauss": Recipe("tiny", "none", _tc(**{**_NOISE, "steps": 1500}, gaussian_crops=0.25),
                               "tiny-noise with a quarter of the crops replaced by Gaussian noise of the crop's "
                               "own spectrum (TrainConfig.gaussian_crops), warm-started from tiny-noise "
                               "(--init-from): louder predictor-only samples, 1 dB worse enhancement, kept as a "
                               "record (docs/separation.md section 6)",
                               data="noise", noise_types=NOISE_PRIOR_TYPES),
    "tiny-noise-edm": Recipe("tiny", "none",
                             _tc(batch_size=8, crop_frames=128, lr=2e-4, steps=3000, ema_decay=0.999, amp="native",
                                 lr_warmup=100, lr_decay="cosine", loss_weight="snr", val_every=500, ckpt_every=100,
                                 snapshot_every=500),
                             "tiny-noise from scratch with EDM's preconditioning and the 1 + sigma^2/mu^2 loss "
                             "weight: its t = 1 estimate is as good as the oracle Gaussian's, but its samples are "
                             "9 dB too loud and its score fails in UDiffSE's likelihood (docs/separation.md)",
                             data="noise", net={"precond": "edm"}, noise_types=NOISE_PRIOR_TYPES),
    "tiny-noise-synth": Recipe("tiny", "none", _tc(**{**_NOISE, "steps": 4000, "lr_warmup": 100}),
                               "tiny-noise continued (--init-from) on noise generated afresh at every draw from "
                               "the library's train-split generators (the same six types) instead of its 2 x 10 s "
                               "stored clips per type: for the output filter's noise reading "
                               "(SamplerConfig.output_noise_prior)",
                               data="noise-synth", noise_types=NOISE_PRIOR_TYPES),
    "tiny-noise-synth7": Recipe("tiny", "none", _tc(**{**_NOISE, "steps": 2000, "lr_warmup": 100}),
                                "tiny-noise-synth continued (--init-from) with clatter's train-split generator "
                                "added (every type but babble, which is speech): for the output filter's reading "
                                "of noise the six-type prior never heard",
                                data="noise-synth", noise_types=(*NOISE_PRIOR_TYPES, "clatter")),
    "colab-noise": Recipe("colab", "none", _tc(batch_size=8, crop_frames=256, lr=1e-4, steps=6000, ema_decay=0.999,
                                               amp="native", lr_warmup=200, lr_decay="cosine", val_every=1000,
                                               ckpt_every=500),
                          "tiny-noise at the colab tier (warm-start from colab-ao; the step count is an estimate)",
                          data="noise", noise_types=NOISE_PRIOR_TYPES),
    "colab-ao": Recipe("colab", "none",
                       _tc(batch_size=16, crop_frames=256, lr=2e-4, steps=6000, ema_decay=0.999, amp="native",
                           speed_perturb=0.15, lr_warmup=200, lr_decay="cosine", val_every=1000, ckpt_every=500),
                       "one GPU (Colab T4: fp16 autocast via amp='auto'); what the tiny recipes learned on the CPU "
                       "(speed perturbation, warm-up and cosine decay, bf16) at 256-frame crops; the step count "
                       "is an estimate for about an hour on a T4, not measured; ship with save(half=True) (< 25 MB)"),
    "colab-av": Recipe("colab", "film",
                       _tc(batch_size=16, crop_frames=256, lr=2e-4, steps=6000, ema_decay=0.999, p_uncond=0.2,
                           amp="native", speed_perturb=0.15, lr_warmup=200, lr_decay="cosine", cond_lr_mult=10.0,
                           loss_weight="snr", val_every=1000, ckpt_every=500),
                       "as colab-ao with tiny-av's time-aligned FiLM, 20 % condition dropout, the 1 + sigma^2/mu^2 "
                       "loss weight and 10x learning rate on the FiLM blocks (the papers' cross-attention never "
                       "learned to look on this corpus); warm-start from colab-ao (--init-from)"),
    "paper-ao": Recipe("paper", "none", _tc(batch_size=8, crop_frames=256, lr=1e-4, steps=200_000, ema_decay=0.999,
                                            val_every=5000, ckpt_every=2000),
                       "NCSN++M (27.7 M) with SGMSE's lr / EMA / 256-frame crops; the step budget is ours"),
    "paper-av": Recipe("paper", "cross_attention",
                       _tc(batch_size=8, crop_frames=256, lr=1e-4, steps=200_000, ema_decay=0.999, p_uncond=0.1,
                           val_every=5000, ckpt_every=2000),
                       "NCSN++M + light cross-attention (29.4 M with 768-dim AV-HuBERT features)"),
}


def get_recipe(name: str) -> Recipe:
    """Look up a recipe by name.

    Notebook: 03_score_matching.ipynb
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


def build_net(recipe: Recipe, video_dim: int = 0, seed: int = 0):
    """The recipe's ``ScoreUNet``, initialised from ``seed``.

    Notebook: 03_score_matching.ipynb
    """
    import torch

    from .unet import ScoreUNet, UNetConfig

    if recipe.audio_visual and video_dim <= 0:
        raise ValueError("an audio-visual recipe needs video_dim > 0 (the feature size of the corpus' video)")
    cfg = UNetConfig.tier(recipe.tier, video_dim=video_dim if recipe.audio_visual else 0,
                          conditioning=recipe.conditioning, **recipe.net)
    torch.manual_seed(seed)
    return ScoreUNet(cfg)


def noise_rows(corpus: str, split: str = "train") -> list[dict]:
    """Rows (``id``, absolute ``wav``, ``type``) of the corpus' noise library for one split.

    Notebook: 03_score_matching.ipynb
    """
    p = Path(corpus) / "noise.jsonl"
    if not p.exists():
        raise ValueError(f"{p} not found: a noise prior trains on the noise library of a built corpus "
                         f"(`python -m udiffse_lite corpus --preset small --out {corpus}`)")
    rows = []
    for line in p.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            if r.get("split") == split:
                r["wav"] = str(Path(corpus) / r["wav"]) if not Path(r["wav"]).is_absolute() else r["wav"]
                rows.append(r)
    if not rows:
        raise ValueError(f"the noise library of {corpus} has no {split!r} clips")
    return rows


def warm_start(net, path) -> int:
    """Copy every tensor of a checkpoint whose name and shape match ``net`` (EMA weights of a
    ``last.pt``, or a prior's ``state_dict``); the network's own extra blocks keep their init.

    Raises:
        ValueError: the checkpoint shares no tensor with ``net`` or has tensors ``net`` lacks.

    Notebook: 10_seeing_speech.ipynb
    """
    import torch

    ck = torch.load(path, map_location="cpu", weights_only=True)
    src = ck.get("ema") or ck.get("state_dict")
    if src is None:
        raise ValueError(f"{path} has neither 'ema' (a training run) nor 'state_dict' (a prior)")
    own = net.state_dict()
    extra = [k for k in src if k not in own or own[k].shape != src[k].shape]
    if extra or not src:
        raise ValueError(f"{path} does not fit this network (tensors it cannot take: {extra[:5]}); "
                         "warm starts need the same tier")
    net.load_state_dict(src, strict=False)
    return len(src)


def train_from_args(args) -> dict:
    """Run the ``train`` subcommand (the ``func`` of its parser)."""
    import torch

    from .training import Trainer

    recipe = get_recipe(args.config)
    overrides = {}
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.seed is not None:
        overrides["seed"] = args.seed
    tcfg = TrainConfig(**{**asdict(recipe.train), **overrides})
    features = args.features
    if recipe.audio_visual and not features:
        raise ValueError(f"recipe {args.config} is audio-visual: pass --features lips or --features <dir>")
    try:
        from .data.datasets import CropDataset
    except ImportError as e:  # the data package is written alongside this one
        raise ValueError(f"udiffse_lite.data.CropDataset is not available ({e}); build the corpus first") from e
    feats = features if recipe.audio_visual else None
    if recipe.data in ("noise", "noise-synth"):
        rows = noise_rows(args.corpus, "train")
        if recipe.noise_types is not None:
            rows = [r for r in rows if r["type"] in recipe.noise_types]
            if not rows:
                raise ValueError(f"the noise library of {args.corpus} has none of the types {recipe.noise_types}")
        # one clip per noise type is held out for the validation loss (the test clips stay for tables)
        held = {r["id"] for r in rows if r["id"].endswith("_2")}
        if recipe.data == "noise-synth":
            from .data.datasets import SynthNoiseDataset

            train_set = SynthNoiseDataset(sorted({r["type"] for r in rows}), seed=tcfg.seed)
        else:
            train_set = CropDataset(rows=[r for r in rows if r["id"] not in held], split="train", seed=tcfg.seed)
        val_set = CropDataset(rows=[r for r in rows if r["id"] in held], split="valid", seed=tcfg.seed) if held else None
    else:
        train_set = CropDataset(args.corpus, split="train", features=feats, seed=tcfg.seed)
        try:
            val_set = CropDataset(args.corpus, split="valid", features=feats, seed=tcfg.seed)
            if len(val_set) == 0:
                val_set = None
        except (FileNotFoundError, ValueError):
            val_set = None
    video_dim = int(train_set[0]["video"].shape[-1]) if recipe.audio_visual else 0
    net = build_net(recipe, video_dim, seed=tcfg.seed)
    if getattr(args, "init_from", None) and not args.resume:
        loaded = warm_start(net, args.init_from)
        fresh = len(net.state_dict()) - loaded
        print(f"initialised {loaded} tensors from {args.init_from}; "
              + (f"{fresh} (the video blocks) keep their fresh init" if fresh else "none is new"))
    out = Path(args.out)
    meta = {"recipe": args.config, "data": {"corpus": str(args.corpus), "features": features, "kind": recipe.data},
            **({"noise_types": list(recipe.noise_types)} if recipe.data != "speech" and recipe.noise_types else {}),
            "note": recipe.note}
    trainer = Trainer(net, train_set, tcfg, val_set=val_set, out_dir=out, device=args.device, meta=meta)
    last = out / "last.pt"
    if args.resume:
        if last.exists():
            trainer.load_checkpoint(last)
        else:
            print(f"--resume: {last} does not exist yet, starting from scratch")
    elif last.exists():
        raise ValueError(f"{last} exists; pass --resume to continue that run or choose another --out")
    stop_at = getattr(args, "stop_at", None)
    if stop_at is not None and not 0 < stop_at <= tcfg.steps:
        raise ValueError(f"--stop-at {stop_at} must lie in 1..{tcfg.steps} (the schedule's --steps)")
    meta = trainer.train(steps=stop_at, max_minutes=args.max_minutes)
    if trainer.rank == 0:
        card = {**meta, "net_config": asdict(trainer.net.config),
                "files": {"prior": str(out / "prior.pt"), "resumable": str(last)}}
        (out / "model_card.json").write_text(json.dumps(card, indent=2, default=str))
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return meta


def add_cli(subparsers) -> None:
    """Register the ``train`` subcommand on an ``argparse`` subparsers object.

    Notebook: 03_score_matching.ipynb
    """
    p = subparsers.add_parser("train", help="train a score prior from a named recipe",
                              description="Train a diffusion speech prior (DSM loss, EMA, resumable).")
    p.add_argument("--config", required=True, choices=sorted(RECIPES), help="recipe name")
    p.add_argument("--corpus", required=True, help="corpus directory (see `python -m udiffse_lite data`)")
    p.add_argument("--features", default=None, help="'lips' or a directory of video features (AV recipes)")
    p.add_argument("--out", required=True, help="run directory: last.pt, prior.pt, model_card.json")
    p.add_argument("--steps", type=int, default=None, help="total steps (overrides the recipe)")
    p.add_argument("--seed", type=int, default=None, help="seed (overrides the recipe's 0)")
    p.add_argument("--stop-at", type=int, default=None,
                   help="stop (and export) at this step of a --steps schedule: the learning-rate decay "
                        "still follows --steps, so a run stopped early is reproduced exactly")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this wall time")
    p.add_argument("--device", default=None, choices=["cpu", "cuda"], help="default: cuda if available")
    p.add_argument("--init-from", default=None,
                   help="warm start from a prior.pt / last.pt (EMA weights) of the same tier, e.g. an "
                        "audio-visual prior from the audio-only one: the zero-initialised cross-attention "
                        "makes the new network start exactly as the old one")
    p.set_defaults(func=train_from_args)
