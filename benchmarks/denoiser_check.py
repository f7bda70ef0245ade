"""Is it the sampler or the network? Two checks of a prior, printed as markdown tables.

    python benchmarks/denoiser_check.py --corpus data/corpus --prior tiny-ao runs/x/prior.pt \
        [--data speech|noise] [--times 0.1 0.3 0.6 1.0]

1. Generation level: the mean power (dB per bin) of ``prior_sample`` (30 steps, 2 chains of 128
   frames) against the training crops', and the same for a ``GaussianPrior`` of known variance
   (the sampler's own check: it must hit the target).
2. The one-step (Tweedie) estimate's error on normalised training crops (``metrics.error_db``,
   0 dB = predicting silence) at several diffusion times, with two Gaussian references: the
   crops' mean spectrum and each crop's own spectrum (an oracle).

Run it alone with every core (a few minutes on 2 cores).

Notebook: 05_tweedie.ipynb
"""
from __future__ import annotations

import argparse

import soundfile as sf
import torch

from udiffse_lite import spectral
from udiffse_lite.evaluation import _load_prior
from udiffse_lite.metrics import error_db
from udiffse_lite.priors import GaussianPrior
from udiffse_lite.samplers import SamplerConfig, prior_sample, tweedie


def crops(corpus: str, data: str, n_frames: int = 128, per_file: int = 2, limit: int = 24) -> torch.Tensor:
    """Normalised compressed crops of the training data, (N, 256, n_frames)."""
    if data == "noise":
        from udiffse_lite.recipes import noise_rows

        wavs = [r["wav"] for r in noise_rows(corpus, "train")]
    else:
        from udiffse_lite.data.corpus import load_metadata

        wavs = [r["wav"] for r in load_metadata(corpus, "train")]
    out, L = [], (n_frames - 1) * spectral.HOP
    for w in wavs[:: max(1, len(wavs) // limit)][:limit]:
        y, _ = sf.read(w, dtype="float32")
        for k in range(per_file):
            off = (k + 1) * max(0, len(y) - L) // (per_file + 1)
            seg = y[off:off + L]
            if len(seg) == L:
                out.append(spectral.normalise(spectral.to_spec(torch.from_numpy(seg))[:, :n_frames])[0])
    if not out:
        raise ValueError(f"no {n_frames}-frame crops in the {data} training data of {corpus}")
    return torch.stack(out)


def level_db(S: torch.Tensor) -> float:
    return float(10 * torch.log10(S.abs().pow(2).mean()))


@torch.no_grad()
def tweedie_errors(prior, C: torch.Tensor, times, seed: int = 1) -> list[float]:
    errs = []
    for t in times:
        S_t, _ = prior.sde.perturb(C, t, torch.Generator().manual_seed(seed))
        tt = torch.full((C.shape[0],), float(t))
        errs.append(error_db(tweedie(prior, S_t, prior.score(S_t, tt), float(t)), C))
    return errs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--prior", nargs="+", required=True, help="shipped names or checkpoint paths")
    ap.add_argument("--data", choices=["speech", "noise"], default="speech")
    ap.add_argument("--times", nargs="+", type=float, default=[0.1, 0.3, 0.6, 1.0])
    args = ap.parse_args(argv)
    C = crops(args.corpus, args.data)
    print(f"{C.shape[0]} normalised {args.data} crops of 128 frames: mean level {level_db(C):.1f} dB per bin\n")
    g_target = GaussianPrior(torch.full((256, 1), float(C.abs().pow(2).mean())))
    rows = {"Gaussian, the crops' mean spectrum": GaussianPrior(C.abs().pow(2).mean(dim=(0, 2))[:, None]),
            "Gaussian, each crop's own spectrum (oracle)": GaussianPrior(C.abs().pow(2).mean(dim=2, keepdim=True))}
    cfg = SamplerConfig(n_steps=30, n_samples=2)
    print("| prior | generated level (dB) | " + " | ".join(f"error at t = {t:g} (dB)" for t in args.times) + " |")
    print("|---|---:|" + "---:|" * len(args.times))
    gen = level_db(prior_sample(g_target, 128, cfg=cfg, generator=torch.Generator().manual_seed(0)))
    print(f"| Gaussian of the crops' level (sampler check) | {gen:.1f} (target {level_db(C):.1f}) |"
          + " |" * len(args.times))
    for name in args.prior:
        p = _load_prior(name, "cpu")
        gen = level_db(prior_sample(p, 128, cfg=cfg, generator=torch.Generator().manual_seed(0)))
        errs = tweedie_errors(p, C, args.times)
        print(f"| `{name}` | {gen:.1f} | " + " | ".join(f"{e:+.1f}" for e in errs) + " |")
    for name, p in rows.items():
        errs = tweedie_errors(p, C, args.times)
        print(f"| {name} | - | " + " | ".join(f"{e:+.1f}" for e in errs) + " |")


if __name__ == "__main__":
    main()
