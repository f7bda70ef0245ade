"""Solutions to the exercises of chapter 13, re-synthesis.

Notebook: 13_resynthesis.ipynb
"""
from __future__ import annotations

import numpy as np
import torch

from .. import spectral
from ..examples import noisy_example
from ..unet import envelope_target


def with_clean_phase(y: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """``y``'s STFT magnitude with ``clean``'s phase, back to a waveform of ``clean``'s length."""
    Y = spectral.to_spec(torch.from_numpy(np.asarray(y, dtype=np.float32)))
    C = spectral.to_spec(torch.from_numpy(np.asarray(clean, dtype=np.float32)))
    T = min(Y.shape[-1], C.shape[-1])
    Z = Y[..., :T].abs() * torch.exp(1j * C[..., :T].angle())
    return spectral.to_wave(Z, len(clean)).numpy()


@torch.no_grad()
def envelope_errors(synth, enc, name: str, lip_features: torch.Tensor, snrs=(-5, 0, 5),
                    noise: str = "traffic") -> dict:
    """Envelope head L1 error (normalised log-magnitude) from noisy features, with and without lips.

    Returns:
        ``{snr: (with_lips, audio_only)}``.
    """
    out = {}
    for snr in snrs:
        d = noisy_example(name, noise=noise, snr_db=float(snr), seed=0)
        S = spectral.normalise(spectral.to_spec(torch.from_numpy(d["s"])))[0]
        target = envelope_target(S[None])[0]
        errs = []
        for lips in (lip_features, None):
            e = synth.net.envelope(enc.features(d["x"], lips)[None], S.shape[-1])[0]
            errs.append(float((e - target).abs().mean()))
        out[int(snr)] = tuple(errs)
    return out
