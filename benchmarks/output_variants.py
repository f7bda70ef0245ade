"""UDiffSE+'s last step, varied on the same chains: which output keeps PESQ-WB and ESTOI?

UDiffSE+ ends with a Wiener filter of the mixture: the gain ``G = Ps / (Ps + Pn)`` (the chains'
speech power against the NMF noise power refitted on their residual), applied to the *compressed*
spectrogram. This script samples the chains once per validation mixture and scores several outputs
made from them, so the differences are the output's alone (no sampling noise between rows):

- ``G``: the plain gain, frame by frame (``gain_smooth=1``; the default until session 16);
  ``G^0.5`` / ``G^0.75`` / ``G^1.5``: a weaker / stronger filter (with the compression exponent 0.5,
  ``G^0.5`` on the compressed magnitude is ``G`` on the linear one);
- ``G sm3`` / ``G sm5``: the gain averaged over 3 / 5 frames (musical-noise control; ``G sm3`` is the
  default output since session 16, ``SamplerConfig.gain_smooth = 3``);
- ``G + 0.1 x``: a tenth of the mixture added back; ``mean``: the chains' mean, no filter;
- ``lin``: the classical Wiener filter of the *linear* spectra, ``E|S|^2 / (E|S|^2 + E|N|^2)`` on
  the linear magnitude, i.e. ``sqrt(P4 / (P4 + c V^2))`` on the compressed one, where ``P4`` is the
  chains' mean ``|S_c|^4`` (``|S_c|^4 = |S|^2``) and ``c V^2`` the noise's linear power from the NMF
  variance ``V`` of the compressed noise (``c = 2`` for circular Gaussian noise, ``c = 1`` for a
  noise of steady magnitude). Softer than ``G`` where speech dominates, as hard where noise does;
- ``sm3 floor c``: ``G sm3`` with the noise power never below ``c`` times the mixture's stationary
  noise floor (``SamplerConfig.noise_floor``, :func:`~udiffse_lite.samplers.stationary_noise_floor`;
  ``sm3 floor 1`` was the default output in session 21, ``sm3 floor 0`` is ``G sm3``), always applied;
- ``sm3 floor c gated``: the same with the floor's scale ramped down on mixtures whose quiet part is
  not steady (``SamplerConfig.noise_floor_gate``, :func:`~udiffse_lite.samplers.noise_stationarity`:
  babble); ``sm3 floor 1 gated`` is the default output since session 22;
- ``reader R``: the default output (3-frame gain, gated floor) whose noise power is the chains'
  residual read by the noise prior ``R`` (``--readers``: ``SamplerConfig.output_noise_prior``, the
  default since session 24 with ``tiny-noise``), so noise priors are compared on the same chains.

    python benchmarks/output_variants.py --corpus data/corpus --prior tiny-av --snrs -5 5
    python benchmarks/output_variants.py --corpus data/corpus --prior tiny-ao --seconds 2.5 --against "G sm3"
    python benchmarks/output_variants.py --corpus data/corpus --prior tiny-ao --real data/real_speech --against "G sm3"
    python benchmarks/output_variants.py --corpus data/corpus --prior tiny-ao --snrs -5 0 5 --seconds 2.5 \
        --floors --readers tiny-noise runs/tiny-noise-synth/prior.pt --against "reader tiny-noise"

Tune on ``valid`` only. Results: ``docs/sweep_sampler.md``.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from udiffse_lite.samplers import smooth_frames

VARIANTS = {
    "G": lambda X, S, G: X * G,
    "G^0.5": lambda X, S, G: X * G ** 0.5,
    "G^0.75": lambda X, S, G: X * G ** 0.75,
    "G^1.5": lambda X, S, G: X * G ** 1.5,
    "G sm3": lambda X, S, G: X * smooth_frames(G, 3),
    "G sm5": lambda X, S, G: X * smooth_frames(G, 5),
    "mean": lambda X, S, G: S.mean(0),
}

# the linear-domain Wiener filters need the chains and the NMF variance, not only G
LINEAR = {
    "lin c=1": 1.0,
    "lin c=2": 2.0,
}


def _linear_gain(S: torch.Tensor, V: torch.Tensor, c: float) -> torch.Tensor:
    P4 = S.abs().pow(4).mean(0)
    return (P4 / (P4 + c * V.pow(2)).clamp_min(1e-12)).sqrt()


def main(argv=None):
    from scipy import stats

    from udiffse_lite import metrics, spectral
    from udiffse_lite.evaluation import _load_prior, real_mixtures, validation_mixtures
    from udiffse_lite.samplers import (SamplerConfig, _check_video, _output_noise, _output_noise_prior,
                                       _video_features, _wiener_gain, denoised_noise_power, udiffse_plus)

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--prior", default="tiny-av")
    ap.add_argument("--snrs", nargs="+", type=float, default=[-5, 5])
    ap.add_argument("--per-condition", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=None, help="cut mixtures to this (default: whole utterances)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the mixtures (noise clips, offsets)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="auto",
                    help="the network's precision (auto: bf16 only where the hardware has it; emulated bf16 "
                         "on a CPU without AMX-BF16 is several times slower than fp32)")
    ap.add_argument("--floors", nargs="*", type=float, default=[0.0, 0.5, 1.0, 1.5],
                    help="noise_floor values c of the 'sm3 floor c' outputs")
    ap.add_argument("--readers", nargs="*", default=[],
                    help="noise priors (names or prior.pt paths) whose reading of the residual makes a 'reader R' output")
    ap.add_argument("--reader-t", nargs="*", type=float, default=[],
                    help="the times t at which the readers read the residual (default: SamplerConfig's)")
    ap.add_argument("--against", default="G", help="the output the paired PESQ-WB differences are taken from")
    ap.add_argument("--real", default=None, help="a real-speech folder (python -m udiffse_lite real-speech): score "
                    "its mixtures with the corpus' test noises (evaluation.real_mixtures) instead of `valid`")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    prior = _load_prior(a.prior, "cpu", a.precision)
    if a.real:
        mixes = real_mixtures(a.real, a.corpus, snrs=tuple(a.snrs), seed=a.seed)
    else:
        mixes = validation_mixtures(a.corpus, snrs=tuple(a.snrs), seconds=a.seconds, per_condition=a.per_condition,
                                    seed=a.seed)
    cfg = SamplerConfig(n_steps=30, n_samples=2)
    floors = {f"sm3 floor {c:g}": (c, None) for c in a.floors}
    floors.update({f"sm3 floor {c:g} gated": (c, SamplerConfig().noise_floor_gate) for c in a.floors if c > 0})
    ts = a.reader_t or [SamplerConfig().output_noise_t]
    readers = {f"reader {r}" + (f" t={t:g}" if len(ts) > 1 else ""): (_output_noise_prior(r, "cpu"), t)
               for r in a.readers for t in ts}
    names = ["input", *VARIANTS, "G + 0.1 x", *LINEAR, *floors, *readers]
    if a.against not in names:
        raise SystemExit(f"--against must be one of the outputs {names}, got {a.against!r}")
    rows, t0 = [], time.time()
    for i, m in enumerate(mixes):
        y = m["x"].astype(np.float32)
        X, NF = spectral.normalise(spectral.to_spec(torch.from_numpy(y)))
        v = None
        if prior.conditional and m["lips"] is not None:  # as enhance(video=lips) does
            v = _video_features(prior, _check_video(m["lips"], len(y)), len(y), cfg.n_samples)
        with torch.no_grad():
            _, info = udiffse_plus(prior, X, cfg=cfg, video=v, generator=torch.Generator().manual_seed(0),
                                   return_info=True)
        S = info["samples"]
        G = _wiener_gain(S.abs().pow(2).mean(0), info["nmf"].V, SamplerConfig(gain_smooth=1))  # the plain gain
        outs = {"input": y}
        for k, f in VARIANTS.items():
            outs[k] = spectral.to_wave(f(X, S, G) * NF[0], len(y)).numpy()
        outs["G + 0.1 x"] = outs["G"] + 0.1 * y
        V = info["nmf"].V  # (F, T): one recording
        for k, c in LINEAR.items():
            outs[k] = spectral.to_wave(X * _linear_gain(S, V, c) * NF[0], len(y)).numpy()
        for k, (c, gate) in floors.items():
            Pn = _output_noise(V, X, SamplerConfig(noise_floor=c, noise_floor_gate=gate))
            outs[k] = spectral.to_wave(X * _wiener_gain(S.abs().pow(2).mean(0), Pn, SamplerConfig(gain_smooth=3))
                                       * NF[0], len(y)).numpy()
        base_cfg = SamplerConfig()
        for k, (reader, t) in readers.items():
            Pn = denoised_noise_power(reader, X, S, t, info["nmf"].W.shape[-1])
            outs[k] = spectral.to_wave(X * _wiener_gain(S.abs().pow(2).mean(0), _output_noise(Pn, X, base_cfg), base_cfg)
                                       * NF[0], len(y)).numpy()
        r = {"snr": m["snr_db"], "noise": m["noise_type"]}
        for k, o in outs.items():
            r[k] = (metrics.si_sdr(o, m["s"]), metrics.pesq(o, m["s"], 16000, mode="wb"),
                    metrics.estoi(o, m["s"], 16000))
        rows.append(r)
        print(f"[{i + 1}/{len(mixes)}] {r['noise']} {r['snr']:+g} dB: PESQ-WB input {r['input'][1]:.2f}, "
              f"G {r['G'][1]:.2f}, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    what = f"real-speech mixtures ({a.real})" if a.real else "`valid` mixtures"
    print(f"{len(rows)} {what} (seed {a.seed}), prior `{a.prior}`, 30 steps x 2 chains, {prior.precision}; "
          f"mean over the mixtures, and the paired difference from {a.against} (95 %)\n")
    for snr in [*sorted({r['snr'] for r in rows}), None]:
        sel = [r for r in rows if snr is None or r["snr"] == snr]
        base = np.array([r[a.against] for r in sel])
        print(f"\n**{'all SNRs' if snr is None else f'{snr:+g} dB'}** ({len(sel)} mixtures)\n")
        print(f"| output | SI-SDR (dB) | PESQ-WB | ESTOI | PESQ-WB - {a.against} | PESQ-WB better on |")
        print("|---|---:|---:|---:|---:|---:|")
        for k in names:
            v = np.array([r[k] for r in sel])
            d = v[:, 1] - base[:, 1]
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            print(f"| {k} | {v[:, 0].mean():+.2f} | {v[:, 1].mean():.3f} | {v[:, 2].mean():.3f} | "
                  f"{d.mean():+.3f} +- {half:.3f} | {int((d > 0).sum())}/{len(d)} |")
    if readers:  # where the noise priors differ: each noise type, every SNR
        print(f"\n**by noise type** (SI-SDR dB / PESQ-WB / ESTOI, mean over the SNRs)\n")
        print("| noise | " + " | ".join(["input", *readers]) + " |")
        print("|---|" + "---|" * (1 + len(readers)))
        for noise in sorted({r["noise"] for r in rows}):
            sel = [r for r in rows if r["noise"] == noise]
            cells = [" / ".join(f"{x:.2f}" for x in np.mean([r[k] for r in sel], 0)) for k in ["input", *readers]]
            print(f"| {noise} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
