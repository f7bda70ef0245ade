"""Would harmonics help? The envelope head's magnitude times a harmonic excitation (source-filter),
with f0 tracked on the clean speech (an oracle) or on the noisy input, against the envelope with
Griffin-Lim phase. The probe of docs/resynthesis.md, section 6.

    python benchmarks/resynthesis_excitation.py --corpus data/corpus

4 `valid` utterances at 0 dB (the test-noise types in turn), 3 s; LSD, PER, ESTOI, PESQ-WB means.
The excitation: every harmonic of f0 below 7.8 kHz with a continuous phase where voiced, white
noise where not; its STFT magnitude divided by its mean over frequency (a flat-envelope comb)
multiplies the envelope; 16 Griffin-Lim iterations start from the excitation's phase.

Notebook: none yet (the re-synthesis chapter of issue 11)
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import udiffse_lite as ul
from features_f0 import f0_track
from resynthesis_phase import mixtures_at_0db, print_table, score
from udiffse_lite import spectral
from udiffse_lite.data.corpus import load_metadata
from udiffse_lite.evaluation import _lips
from udiffse_lite.phones import load_phone_recognizer
from udiffse_lite.resynthesis import _lip_features
from udiffse_lite.robust_features import load_robust_encoder
from udiffse_lite.unet import envelope_magnitude

F_MAX = 7800.0  # highest harmonic frequency (Hz)


def excitation(f0_frames, L: int, rng, hop: int = spectral.HOP, sr: int = spectral.SR) -> np.ndarray:
    """Every harmonic of f0 below F_MAX with a continuous phase where voiced, white noise where not.
    ``f0_frames``: f0 in Hz per STFT frame, NaN where unvoiced."""
    centres = np.arange(len(f0_frames)) * hop + hop // 2
    n = np.arange(L)
    voiced = np.interp(n, centres, np.isfinite(f0_frames).astype(float))
    held = np.array(f0_frames, float)  # hold the last f0 through unvoiced gaps: the phase stays continuous
    last = np.nanmedian(held) if np.isfinite(held).any() else 120.0
    for i, v in enumerate(held):
        last = v if np.isfinite(v) else last
        held[i] = last
    f0 = np.interp(n, centres, held)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    e = sum((k * f0 < F_MAX) * np.cos(k * phase) for k in range(1, int(F_MAX / 70) + 1))
    e = e / np.sqrt(np.mean(e ** 2) + 1e-12)
    return voiced * e + (1 - voiced) * rng.standard_normal(L)


def source_filter(M: torch.Tensor, exc: np.ndarray, L: int, gl_iters: int = 16) -> np.ndarray:
    """The compressed magnitude M times the excitation's flat-envelope comb, with its phase (then Griffin-Lim)."""
    E = spectral.to_spec(torch.from_numpy(exc.astype(np.float32)))
    comb = E.abs() / E.abs().mean(dim=0, keepdim=True).clamp_min(1e-8)
    Y = M * comb * E / E.abs().clamp_min(1e-8)
    y = spectral.griffin_lim(Y.abs(), L, n_iter=gl_iters, phase=Y) if gl_iters else spectral.to_wave(Y, L)
    return y.numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="data/corpus")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args(argv)
    prior, enc, rec = ul.load_pretrained("tiny-resynth"), load_robust_encoder(), load_phone_recognizer()
    rows = {r["id"]: r for r in load_metadata(args.corpus, "valid")}
    mixes = mixtures_at_0db(args.corpus, "valid", args.n)
    rng, res = np.random.default_rng(0), {}
    for m in mixes:
        s = m["s"][:int(args.seconds * spectral.SR)].astype(np.float32)
        x = m["x"][:len(s)].astype(np.float32)
        L, nv = len(s), spectral.expected_video_frames(len(s))
        lips, row = _lip_features(_lips(m)[:nv], nv), rows[m["utt_id"]]
        T = spectral.to_spec(torch.from_numpy(s)).shape[-1]
        f0 = {k: np.pad(f0_track(a, hop=spectral.HOP), (0, T), constant_values=np.nan)[:T]
              for k, a in (("clean", s), ("noisy", x))}
        for source, audio in (("clean", s), ("noisy 0 dB + lips", x)):
            with torch.no_grad():
                v = prior.features(torch.as_tensor(enc.features(audio, lips))[None], 1)
                M = envelope_magnitude(prior.net.envelope(v, T)[0])
            outs = {"envelope, Griffin-Lim phase": spectral.griffin_lim(M, L, generator=torch.Generator().manual_seed(0)).numpy(),
                    "envelope x comb of the clean f0 (oracle)": source_filter(M, excitation(f0["clean"], L, rng), L),
                    "the same, no Griffin-Lim": source_filter(M, excitation(f0["clean"], L, rng), L, gl_iters=0)}
            if source != "clean":
                outs["envelope x comb of the noisy input's f0"] = source_filter(M, excitation(f0["noisy"], L, rng), L)
            for k, y in outs.items():
                res.setdefault((source, k), []).append(score(y, s, row, rec))
    print(f"{len(mixes)} `valid` utterances at 0 dB, {args.seconds} s; means\n")
    print_table(res, "waveform")


if __name__ == "__main__":
    main()
