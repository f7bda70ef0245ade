"""Mixing speech and noise at a target SNR measured on the *active* speech.

SNR over the whole file would count the pauses as speech and make a sentence
with long silences look cleaner than it sounds. We measure the speech power
only on frames where speech is active (frames within 40 dB of the loudest one),
the noise power over the whole segment, and never clip: when the mixture would
exceed full scale, speech, noise and mixture are scaled down together and the
gain is recorded.

Notebook: 06_nmf_noise_model.ipynb
"""
from __future__ import annotations

import numpy as np

SNR_PRESETS = {
    "matched": (-5, 0, 5),  # the UDiffSE papers' matched test conditions
    "wide": (-10, -5, 0, 5, 10),  # a wider sweep for the course's plots
    "mismatched": (-5, 5),  # the papers' mismatched (other corpus / noise) conditions
}
PEAK = 0.99  # largest allowed absolute sample of a mixture


def _check(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a mono 1-D waveform, got shape {y.shape}")
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError(f"{name} is empty or holds NaN/inf: check the file it came from")
    if not np.any(y):
        raise ValueError(f"{name} is all zeros (silent): it cannot be mixed at an SNR")
    return y


def active_power(s: np.ndarray, sr: int = 16000, frame_s: float = 0.02,
                 floor_db: float = 40.0) -> tuple[float, float]:
    """Mean power of the active frames of a signal.

    Args:
        s: (L,) waveform.
        sr: sample rate (Hz).
        frame_s: frame length in seconds (non-overlapping frames).
        floor_db: frames more than this many dB below the loudest frame are inactive.

    Returns:
        ``(power, active_fraction)``.

    Notebook: 06_nmf_noise_model.ipynb
    """
    s = _check(s, "speech")
    L = max(int(frame_s * sr), 1)
    k = max(len(s) // L, 1)
    p = np.mean(s[: k * L].reshape(k, -1) ** 2, axis=1) if len(s) >= L else np.array([np.mean(s ** 2)])
    act = p >= p.max() * 10 ** (-floor_db / 10)
    return float(p[act].mean()), float(act.mean())


def mix(s: np.ndarray, n: np.ndarray, snr_db: float, rng: np.random.Generator | None = None,
        offset: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Add noise to speech at an SNR measured on the active speech, without clipping.

    A segment of ``len(s)`` samples is taken from ``n`` at a random offset (``n``
    is looped when shorter than ``s``), scaled so that
    ``10 log10(P_active(s) / P(n_seg)) = snr_db``, and added. If the mixture's peak
    exceeds 0.99 all three signals are multiplied by the same gain < 1.

    Args:
        s: (L,) clean speech.
        n: (M,) noise.
        snr_db: target SNR in dB.
        rng: draws the offset (default: a fixed generator, offset 0 if ``M == L``).
        offset: start of the noise segment (overrides ``rng``).

    Returns:
        ``(x, s_scaled, n_scaled, info)``: float32 arrays of length L with
        ``x = s_scaled + n_scaled``, and ``info = {"snr_db", "gain", "offset",
        "active_fraction", "speech_power", "noise_power"}`` (powers before the gain).

    Raises:
        ValueError: silent, empty, non-finite or multi-channel inputs.

    Notebook: 06_nmf_noise_model.ipynb
    """
    s = _check(s, "speech")
    n = _check(n, "noise")
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be a finite number of dB, got {snr_db}")
    L = len(s)
    if len(n) < L:
        n = np.tile(n, int(np.ceil(L / len(n))) + 1)
    if offset is None:
        rng = rng if rng is not None else np.random.default_rng(0)
        offset = int(rng.integers(0, len(n) - L + 1))
    if not 0 <= offset <= len(n) - L:
        raise ValueError(f"offset {offset} outside 0..{len(n) - L}")
    seg = n[offset:offset + L]
    ps, frac = active_power(s)
    pn = float(np.mean(seg ** 2))
    if pn <= 0:
        raise ValueError("the chosen noise segment is silent: use another offset or noise file")
    ns = seg * np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
    x = s + ns
    peak = float(np.abs(x).max())
    gain = min(1.0, PEAK / peak) if peak > 0 else 1.0
    info = {"snr_db": float(snr_db), "gain": gain, "offset": offset, "active_fraction": frac,
            "speech_power": ps, "noise_power": float(np.mean(ns ** 2))}
    return ((x * gain).astype(np.float32), (s * gain).astype(np.float32),
            (ns * gain).astype(np.float32), info)


def snr_active(s: np.ndarray, n: np.ndarray) -> float:
    """The SNR (dB) as :func:`mix` defines it: active speech power over noise power.

    Notebook: 06_nmf_noise_model.ipynb
    """
    ps, _ = active_power(s)
    return float(10 * np.log10(ps / np.mean(_check(n, "noise") ** 2)))


def _noise_library(corpus_dir: str, noise_split: str, noise_types=None) -> tuple[list[dict], list[str]]:
    """The noise clips of one split of a corpus' library, and the requested types (checked)."""
    import json
    import os

    with open(os.path.join(corpus_dir, "noise.jsonl")) as f:
        lib = [json.loads(line) for line in f if line.strip()]
    lib = [r for r in lib if r["split"] == noise_split]
    types = sorted({r["type"] for r in lib})
    noise_types = list(noise_types) if noise_types is not None else types
    bad = [t for t in noise_types if t not in types]
    if bad:
        raise ValueError(f"noise types {bad} not in the corpus noise library ({types})")
    return lib, noise_types


def library_mix(s: np.ndarray, utt_id: str, noise_type: str, clips: list[dict], snr_db: float, seed: int,
                corpus_dir: str, cache: dict) -> tuple[str, dict, tuple]:
    """One mixture of ``s`` with a clip of ``clips`` (one noise type of a corpus library) at ``snr_db``.

    The mixture id ``<utt_id>__<type>__<snr>dB`` and ``seed`` seed the choice of clip and offset, so
    a mixture is the same whatever else is drawn; ``cache`` keeps the loaded clips.

    Returns:
        ``(id, clip row, mix(...)'s (x, s, n, info))``.
    """
    import os
    import zlib

    from .datasets import load_wav

    snr = f"{int(snr_db):+d}" if float(snr_db).is_integer() else f"{snr_db}"
    mid = f"{utt_id}__{noise_type}__{snr}dB"
    rng = np.random.default_rng(zlib.crc32(f"{seed}/{mid}".encode()))
    c = clips[int(rng.integers(len(clips)))]
    if c["wav"] not in cache:
        cache[c["wav"]] = load_wav(os.path.join(corpus_dir, c["wav"]))
    return mid, c, mix(s, cache[c["wav"]], float(snr_db), rng)


def make_test_mixtures(corpus_dir: str, split: str = "test_matched", snrs="matched", noise_types=None,
                       n: int | None = None, seed: int = 0, out: str | None = None,
                       noise_split: str = "test") -> list[dict]:
    """Noisy test mixtures from a corpus split and its noise library (every utterance x type x SNR).

    Args:
        corpus_dir: a built corpus (speech and ``noise/`` library).
        split: speech split, e.g. ``"test_matched"`` or ``"test_mismatched"``.
        snrs: a preset name of :data:`SNR_PRESETS` or a sequence of dB values.
        noise_types: subset of the library's types (default: all).
        n: number of utterances (the first ``n`` by id; default all).
        seed: seeds the choice of noise clip and offset for each mixture.
        out: if given, writes ``<out>/<id>_{x,s,n}.wav`` and ``<out>/mixtures.jsonl``.
        noise_split: ``"test"`` (default) or ``"train"`` noise clips.

    Returns:
        Dicts ``{"id", "utt_id", "voice", "text", "noise_type", "noise_clip", "snr_db", "x", "s", "n",
        "info", "lips"}`` with float32 arrays ``x = s + n`` (16 kHz).

    Raises:
        ValueError: unknown SNR preset or noise type.

    Notebook: 06_nmf_noise_model.ipynb
    """
    import json
    import os

    import soundfile as sf

    from .corpus import load_metadata
    from .datasets import load_wav

    if isinstance(snrs, str):
        if snrs not in SNR_PRESETS:
            raise ValueError(f"unknown SNR preset {snrs!r}: choose from {sorted(SNR_PRESETS)} or give dB values")
        snrs = SNR_PRESETS[snrs]
    lib, noise_types = _noise_library(corpus_dir, noise_split, noise_types)
    rows = sorted(load_metadata(corpus_dir, split), key=lambda r: r["id"])[:n]
    cache: dict[str, np.ndarray] = {}
    mixtures = []
    if out:
        os.makedirs(out, exist_ok=True)
    for r in rows:
        s = load_wav(r["wav"])
        for t in noise_types:
            clips = [c for c in lib if c["type"] == t]
            for snr in snrs:
                mid, c, (x, ss, nn, info) = library_mix(s, r["id"], t, clips, snr, seed, corpus_dir, cache)
                m = {"id": mid, "utt_id": r["id"], "voice": r.get("voice"), "text": r.get("text"),
                     "noise_type": t, "noise_clip": c["wav"], "snr_db": float(snr), "x": x, "s": ss, "n": nn,
                     "info": info, "lips": r.get("lips")}
                if out:
                    for k in ("x", "s", "n"):
                        sf.write(os.path.join(out, f"{mid}_{k}.wav"), m[k], 16000, subtype="FLOAT")
                mixtures.append(m)
    if out:
        with open(os.path.join(out, "mixtures.jsonl"), "w") as f:
            for m in mixtures:
                f.write(json.dumps({k: v for k, v in m.items() if k not in ("x", "s", "n")}) + "\n")
    return mixtures


def make_separation_mixtures(corpus_dir: str, split: str = "test_matched", n: int = 8, snr_db: float = 5.0,
                             sir_db: float = 0.0, noise_types=None, seconds: float | None = 3.0, seed: int = 0,
                             noise_split: str = "test") -> list[dict]:
    """Two-speaker mixtures in noise: ``x = s1 + s2 + n`` from pairs of different voices of a split.

    Speaker 2 is scaled to ``sir_db`` below speaker 1 (active power; 0 dB: equal), the noise to
    ``snr_db`` below their sum. Both utterances are cut to the shorter one (and to ``seconds``).

    Args:
        corpus_dir: a built corpus.
        split: ``"test_matched"`` / ``"test_mismatched"`` (tables) or ``"valid"`` (tuning).
        n: number of mixtures; pair ``i`` takes utterances ``i`` and the next one with another voice.
        noise_types: the noise types to rotate through (default: all of the library's).

    Returns:
        Dicts ``{"id", "x", "sources": [s1, s2], "n", "lips": [path1, path2], "voices", "noise_type",
        "snr_db", "sir_db"}`` with float32 arrays at 16 kHz.

    Notebook: 12_two_priors.ipynb
    """
    import os

    from .corpus import load_metadata
    from .datasets import load_wav

    rows = sorted(load_metadata(corpus_dir, split), key=lambda r: r["id"])
    if len({r.get("voice") for r in rows}) < 2:
        raise ValueError(f"split {split!r} has fewer than two voices: cannot pair speakers")
    lib, noise_types = _noise_library(corpus_dir, noise_split, noise_types)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(min(n, len(rows))):
        a = rows[i]
        b = next(r for r in rows[i + 1:] + rows[:i] if r.get("voice") != a.get("voice"))
        s1, s2 = load_wav(a["wav"]), load_wav(b["wav"])
        L = min(len(s1), len(s2), int(seconds * 16000) if seconds else 10 ** 9)
        s1, s2 = s1[:L], s2[:L]
        p1, _ = active_power(s1)
        p2, _ = active_power(s2)
        s2 = s2 * np.sqrt(p1 / p2 / 10 ** (sir_db / 10))
        t = noise_types[i % len(noise_types)]
        clips = [c for c in lib if c["type"] == t]
        clip = clips[int(rng.integers(len(clips)))]
        x, both, nn, info = mix(s1 + s2, load_wav(os.path.join(corpus_dir, clip["wav"])), snr_db, rng)
        g = info["gain"]
        out.append({"id": f"{a['id']}+{b['id']}__{t}", "x": x, "sources": [(s1 * g).astype(np.float32),
                                                                           (s2 * g).astype(np.float32)],
                    "n": nn, "lips": [a.get("lips"), b.get("lips")], "voices": [a.get("voice"), b.get("voice")],
                    "noise_type": t, "snr_db": float(snr_db), "sir_db": float(sir_db)})
    return out
