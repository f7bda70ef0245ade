"""Seeing speech: phone timings -> visemes -> articulators -> an 88x88 mouth video at 25 fps.

The teaching corpus has no cameras, so we *render* the mouth region from the
phone timings the speech engine reports:

1. every phone maps to one or two **visemes** (mouth-shape classes; diphthongs
   get two), :data:`VISEMES`;
2. each viseme has **articulatory targets** — jaw opening, lip width,
   rounding, teeth and tongue visibility — and a *dominance* (how strongly it
   imposes them: a ``p`` must close the lips, an ``h`` barely cares);
3. **coarticulation**: the trajectory is the dominance-weighted average of all
   targets (Cohen & Massaro's idea), so lips start rounding for ``oo`` before it
   starts and an ``m`` between two ``ah`` still closes;
4. a tiny **renderer** draws skin, lips, dark mouth interior, teeth and tongue
   with per-speaker appearance, head jitter, changing light and sensor noise.

Video frame ``k`` shows the interval ``[k/25, (k+1)/25)`` s (the convention of
:func:`udiffse_lite.spectral.video_to_stft_frames`), averaged over four
instants like a camera's exposure.

Notebook: 10_seeing_speech.ipynb
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from ..spectral import VIDEO_FPS

SIZE = 88  # mouth-region crops of 88x88 pixels, as in LRS3 / AV-HuBERT pipelines

VISEMES = ["sil", "PBM", "FV", "TH", "ALV", "L", "SH", "R", "KG", "OO", "AA", "EE", "AX"]
"""Viseme classes: silence, bilabial, labiodental, dental, alveolar, lateral,
post-alveolar, r, velar/glottal, rounded, open, spread, neutral vowel."""
V = {name: i for i, name in enumerate(VISEMES)}

#                  open  width round teeth tongue  (open 0..1, width -1..1, others 0..1)
_TARGETS = np.array([
    [0.05, 0.00, 0.00, 0.00, 0.00],  # sil
    [0.00, 0.00, 0.10, 0.00, 0.00],  # PBM: lips pressed together
    [0.12, 0.10, 0.00, 1.00, 0.00],  # FV: upper teeth on the lower lip
    [0.30, 0.10, 0.00, 0.70, 1.00],  # TH: tongue tip between the teeth
    [0.25, 0.30, 0.00, 0.80, 0.30],  # ALV
    [0.40, 0.20, 0.00, 0.50, 0.90],  # L
    [0.25, -0.30, 0.60, 0.70, 0.10],  # SH: protruded
    [0.25, -0.20, 0.50, 0.30, 0.00],  # R
    [0.35, 0.10, 0.00, 0.30, 0.20],  # KG
    [0.30, -0.60, 1.00, 0.10, 0.00],  # OO: small round aperture
    [1.00, 0.20, 0.10, 0.40, 0.40],  # AA: jaw wide open
    [0.35, 0.80, 0.00, 0.90, 0.30],  # EE: spread, teeth showing
    [0.55, 0.20, 0.10, 0.40, 0.30],  # AX
], dtype=np.float64)
_DOM = np.ones((len(VISEMES), 5))
_DOM[V["sil"]] = 0.3
_DOM[[V["ALV"], V["L"], V["KG"], V["TH"]]] = 0.6
_DOM[V["PBM"], 0] = 8.0  # a closure must be reached whatever the neighbours
_DOM[V["FV"], [0, 3]] = 4.0
_DOM[V["OO"], 2] = 2.0
_DOM[V["SH"], 2] = 2.0

# espeak-ng / MBROLA phone names (SAMPA-like), after stripping stress and length marks
_SAMPA = {
    "_": "sil", "": "sil", ";": "sil", "#": "sil", "?": "KG", "_!": "sil",
    "p": "PBM", "b": "PBM", "m": "PBM", "f": "FV", "v": "FV", "T": "TH", "D": "TH",
    "t": "ALV", "d": "ALV", "n": "ALV", "s": "ALV", "z": "ALV", "l": "L", "5": "L", "L": "L",
    "S": "SH", "Z": "SH", "tS": "SH", "dZ": "SH", "r": "R", "R": "R", "r-": "R",
    "k": "KG", "g": "KG", "N": "KG", "h": "KG", "x": "KG", "j": "EE", "w": "OO", "W": "OO",
    "i": "EE", "I": "EE", "e": "EE", "eI": "EE", "EI": "EE", "i@": ("EE", "AX"), "I@": ("EE", "AX"),
    "E": "AX", "E@": "AX", "e@": "AX", "@": "AX", "3": "R", "r=": "R", "@L": ("AX", "L"), "V": "AA",
    "a": "AA", "A": "AA", "aa": "AA", "a#": "AA", "0": "AA", "Q": "AA", "O": "AA", "A@": "AA",
    "aI": ("AA", "EE"), "aU": ("AA", "OO"), "OI": ("OO", "EE"), "oI": ("OO", "EE"),
    "oU": ("AX", "OO"), "@U": ("AX", "OO"), "o@": ("OO", "AX"), "O@": ("OO", "AX"), "o": "OO",
    "u": "OO", "U": "OO", "U@": ("OO", "AX"), "ju": ("EE", "OO"),
    # MBROLA us1/us2/us3 spellings that espeak-ng's SAMPA lacks: "AI" (price), "{" (trap),
    # syllabic consonants; espeak-ng's triphthongs
    "AI": ("AA", "EE"), "{": "AA", "l=": "L", "n=": "ALV", "m=": "PBM", "@`": "R", "3`": "R",
    "aI@": ("AA", "EE", "AX"), "aU@": ("AA", "OO", "AX"),
}
# CMU / festival / flite phone names
_CMU = {
    "pau": "sil", "sil": "sil", "h#": "sil", "brth": "sil", "ssil": "sil",
    "p": "PBM", "b": "PBM", "m": "PBM", "em": "PBM", "f": "FV", "v": "FV", "th": "TH", "dh": "TH",
    "t": "ALV", "d": "ALV", "n": "ALV", "s": "ALV", "z": "ALV", "dx": "ALV", "nx": "ALV", "en": "ALV",
    "l": "L", "el": "L", "sh": "SH", "zh": "SH", "ch": "SH", "jh": "SH", "r": "R", "er": "R", "axr": "R",
    "k": "KG", "g": "KG", "ng": "KG", "hh": "KG", "y": "EE", "w": "OO",
    "iy": "EE", "ih": "EE", "ey": "EE", "eh": "AX", "ax": "AX", "ah": "AA", "aa": "AA", "ae": "AA",
    "ao": "AA", "aw": ("AA", "OO"), "ay": ("AA", "EE"), "oy": ("OO", "EE"), "ow": ("AX", "OO"),
    "uw": "OO", "uh": "OO",
    # festival's British diphone voices (rab, don) speak MRPA: the names CMU lacks
    "#": "sil", "@": "AX", "@@": "R", "a": "AA", "ai": ("AA", "EE"), "au": ("AA", "OO"), "e": "AX",
    "e@": "AX", "ei": "EE", "h": "KG", "i": "EE", "i@": ("EE", "AX"), "ii": "EE", "o": "AA", "oi": ("OO", "EE"),
    "oo": "AA", "ou": ("AX", "OO"), "u": "OO", "u@": ("OO", "AX"), "uu": "OO",
}


def viseme_of(label: str, phoneset: str) -> tuple[int, ...]:
    """Viseme indices (one, or two for a diphthong) of an engine's phone label.

    Args:
        label: the phone as the engine wrote it (``"p_h"``, ``"@U"``, ``"aa1"``, ``"pau"``).
        phoneset: ``"sampa"`` (espeak-ng, MBROLA) or ``"cmu"`` (flite, festival).

    Returns:
        A tuple of indices into :data:`VISEMES`. Unknown labels fall back on
        ``AX`` (vowel-like) or ``ALV`` (consonant-like) by their first letter.

    Notebook: 10_seeing_speech.ipynb
    """
    if phoneset not in ("sampa", "cmu"):
        raise ValueError(f"unknown phoneset {phoneset!r}: use 'sampa' or 'cmu'")
    table, cands = _candidates(label, phoneset)
    for k in cands:
        if k in table:
            v = table[k]
            return tuple(V[x] for x in ((v,) if isinstance(v, str) else v))
    first = (cands[-1] or "_")[0]
    return (V["AX"],) if first.lower() in "aeiouy@3{" else (V["ALV"],)


def is_mapped(label: str, phoneset: str) -> bool:
    """True if ``label`` has an explicit viseme (no first-letter fallback in :func:`viseme_of`).

    Notebook: 10_seeing_speech.ipynb
    """
    table, cands = _candidates(label, phoneset)
    return any(k in table for k in cands)


def _candidates(label: str, phoneset: str) -> tuple[dict, list[str]]:
    """The phone table and the spellings to look up: as written, without a stress/length suffix,
    without any diacritic."""
    table = _SAMPA if phoneset == "sampa" else _CMU
    key = label if phoneset == "sampa" else label.lower()
    return table, [key, re.sub(r"[0-9':,;#ː]+$", "", key), re.sub(r"(_[a-zA-Z]+|[:;#'ː0-9,])", "", key)]


PHONESET = {"espeak": "sampa", "mbrola": "sampa", "flite": "cmu", "festival": "cmu"}


def viseme_segments(phones, phoneset: str) -> list[tuple[int, float, float]]:
    """Split phones into viseme segments ``(viseme, start_s, end_s)``; diphthongs in two halves.

    Notebook: 10_seeing_speech.ipynb
    """
    out = []
    for lab, a, b in phones:
        vs = viseme_of(lab, phoneset)
        step = (b - a) / len(vs)
        for i, v in enumerate(vs):
            out.append((v, a + i * step, a + (i + 1) * step))
    return out


def articulation(phones, phoneset: str, n_frames: int, fps: float = VIDEO_FPS,
                 sub: int = 4) -> np.ndarray:
    """Coarticulated articulator trajectories, one row per video frame.

    Each viseme segment ``i`` (centre ``c``, duration ``d``) has dominance
    ``D_i(t) = w_i`` inside the segment and ``w_i exp(-((|t - c| - d/2) / tau)**2)`` outside,
    ``tau = 50 ms``; the trajectory is ``sum_i D_i T_i / sum_i D_i`` per parameter,
    averaged over ``sub`` instants inside each frame's interval.

    Args:
        phones: ``[(label, start_s, end_s), ...]``.
        phoneset: ``"sampa"`` or ``"cmu"``.
        n_frames: number of video frames T_v.

    Returns:
        (T_v, 5) float32: jaw opening 0..1, lip width -1..1, rounding, teeth, tongue 0..1.

    Notebook: 10_seeing_speech.ipynb
    """
    segs = viseme_segments(phones, phoneset)
    t = (np.arange(n_frames)[:, None] + (np.arange(sub) + 0.5) / sub) / fps  # (T_v, sub)
    t = t.reshape(-1)
    if not segs:
        return np.tile(_TARGETS[V["sil"]], (n_frames, 1)).astype(np.float32)
    # silence before the first and after the last phone
    segs = [(V["sil"], -1.0, segs[0][1])] + segs + [(V["sil"], segs[-1][2], t[-1] + 1.0)]
    v = np.array([s[0] for s in segs])
    a = np.array([s[1] for s in segs])
    b = np.array([s[2] for s in segs])
    c, half = (a + b) / 2, np.maximum((b - a) / 2, 1e-3)
    dist = np.maximum(np.abs(t[None, :] - c[:, None]) - half[:, None], 0.0)  # (N, M) seconds
    D = np.exp(-(dist / 0.05) ** 2)[:, :, None] * _DOM[v][:, None, :]  # (N, M, 5)
    traj = (D * _TARGETS[v][:, None, :]).sum(0) / D.sum(0).clip(1e-12)  # (M, 5)
    return traj.reshape(n_frames, sub, 5).mean(1).astype(np.float32)


def frame_visemes(phones, phoneset: str, n_frames: int, fps: float = VIDEO_FPS) -> np.ndarray:
    """The viseme shown at the centre of each video frame: the lip reader's labels.

    Returns:
        (T_v,) int64 indices into :data:`VISEMES` (``sil`` outside the phones).

    Notebook: 10_seeing_speech.ipynb
    """
    segs = viseme_segments(phones, phoneset)
    out = np.zeros(n_frames, dtype=np.int64)
    tc = (np.arange(n_frames) + 0.5) / fps
    for vis, a, b in segs:
        out[(tc >= a) & (tc < b)] = vis
    return out


def speaker_appearance(name: str) -> dict:
    """Per-speaker look (skin and lip tone, mouth size, lip thickness, position), from the name.

    Deterministic: the same voice always gets the same face.

    Notebook: 10_seeing_speech.ipynb
    """
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    r = np.random.default_rng(seed)
    return {
        "skin": r.uniform(110, 200), "lip": r.uniform(0.55, 0.8), "width": r.uniform(22, 30),
        "height": r.uniform(15, 21), "upper": r.uniform(3.5, 5.5), "lower": r.uniform(4.5, 7.0),
        "cx": r.uniform(-3, 3), "cy": r.uniform(2, 8), "teeth": r.uniform(185, 235),
        "tongue": r.uniform(0.45, 0.7), "light_dir": r.uniform(0, 2 * np.pi), "noise": r.uniform(1.5, 4.0),
    }


def _smooth_walk(r: np.random.Generator, n: int, scale: float, smooth: int = 12) -> np.ndarray:
    w = np.cumsum(r.normal(0, 1, n + smooth))
    k = np.ones(smooth) / smooth
    w = np.convolve(w, k, mode="valid")[:n]
    w = w - w.mean()
    return scale * w / max(np.abs(w).max(), 1e-6)


def render_mouth(art: np.ndarray, look: dict, rng: np.random.Generator) -> np.ndarray:
    """Draw the mouth region for each row of articulator values.

    Args:
        art: (T_v, 5) output of :func:`articulation`.
        look: :func:`speaker_appearance` of the speaker.
        rng: source of head jitter, lighting drift and sensor noise.

    Returns:
        (T_v, 88, 88) uint8 grayscale frames.

    Notebook: 10_seeing_speech.ipynb
    """
    T = art.shape[0]
    o, wd, rd, th, tg = (art[:, i, None, None].astype(np.float32) for i in range(5))  # each (T, 1, 1)
    # head motion: slow translation, rotation, scale; lighting: gain and gradient drift
    dx, dy = (_smooth_walk(rng, T, 2.0).astype(np.float32), _smooth_walk(rng, T, 1.5).astype(np.float32))
    rot, scl = _smooth_walk(rng, T, 0.07).astype(np.float32), 1 + _smooth_walk(rng, T, 0.04).astype(np.float32)
    gain = 1 + _smooth_walk(rng, T, 0.12)
    ang = look["light_dir"] + _smooth_walk(rng, T, 0.6)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    xx, yy = xx[None] - SIZE / 2 - look["cx"] - dx[:, None, None], yy[None] - SIZE / 2 - look["cy"] - dy[:, None, None]
    cr, sr_ = np.cos(rot)[:, None, None], np.sin(rot)[:, None, None]
    x = (cr * xx + sr_ * yy) / scl[:, None, None]  # (T, 88, 88) in mouth coordinates (pixels)
    y = (-sr_ * xx + cr * yy) / scl[:, None, None]

    a = look["width"] * (1 + 0.18 * wd - 0.25 * rd)  # half width of the lips
    hi = look["height"] * o * (1 + 0.3 * rd) + 0.15  # half height of the opening
    ai = a * (0.85 - 0.4 * rd)  # rounding purses the aperture
    yc = 0.4 * hi  # the jaw moves the lower lip, not the upper one
    prot = 1 + 0.4 * rd
    hu, hl = hi + look["upper"] * prot, hi + look["lower"] * prot

    def inside(rr, scale):  # soft inside-mask from a normalised radius, ~1 px edge
        return np.clip((1 - rr) * scale + 0.5, 0, 1)

    yr = y - yc
    r_in = np.sqrt((x / ai) ** 2 + (yr / hi) ** 2)
    r_out = np.sqrt((x / a) ** 2 + (yr / np.where(yr < 0, hu, hl)) ** 2)
    m_in = inside(r_in, np.minimum(ai, hi))
    m_lip = inside(r_out, np.minimum(a, hl))

    # skin with lighting gradient, nose shadow above and chin shading below
    g = np.cos(ang)[:, None, None] * x / SIZE + np.sin(ang)[:, None, None] * y / SIZE
    skin = look["skin"] * (1 + 0.35 * g) * (1 - 0.25 * np.exp(-((y + 30) / 6) ** 2 - (x / 14) ** 2))
    skin = skin * (1 - 0.15 * np.clip((y - 22) / 20, 0, 1))
    lip = skin * look["lip"] * (1 - 0.12 * (y - yc) / np.maximum(hl, 1))  # lower lip catches light
    seam = 1 - 0.45 * np.exp(-(yr / 0.9) ** 2) * (np.abs(x) < a) * np.exp(-hi)  # closed-lip line
    img = skin * (1 - m_lip) + lip * m_lip * seam

    # mouth interior: dark cavity, upper (and some lower) teeth, tongue at the bottom
    cav = np.full_like(x, 28.0)
    teeth_h = 0.7 * th * np.minimum(hi, 3.5) + 0.01
    up_t = inside(np.abs(yr + hi - teeth_h / 2) / (teeth_h / 2 + 0.3), 1.5) * (np.abs(x) < 0.8 * ai)
    lo_t = inside(np.abs(yr - hi + 0.35 * teeth_h) / (0.35 * teeth_h + 0.3), 1.0) * (np.abs(x) < 0.6 * ai) * th
    tongue_top = hi * (1 - 0.9 * tg) - 0.2 * hi
    tong = inside(np.clip(tongue_top - yr, 0, None) / 2.0, 1.0) * (tg > 0.05) * (np.abs(x) < 0.7 * ai)
    cav = cav * (1 - tong) + look["skin"] * look["tongue"] * tong
    cav = cav * (1 - np.maximum(up_t, lo_t)) + look["teeth"] * np.maximum(up_t, lo_t)
    img = img * (1 - m_in) + cav * m_in * (0.6 + 0.4 * gain[:, None, None])

    img = img * gain[:, None, None] + look["noise"] * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_lips(phones, phoneset: str, n_frames: int, speaker: str,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phone timings -> mouth video, its articulator trajectories and per-frame visemes.

    Args:
        phones: ``[(label, start_s, end_s), ...]`` from the speech engine.
        phoneset: ``"sampa"`` or ``"cmu"`` (see :data:`PHONESET`).
        n_frames: T_v, normally ``expected_video_frames(len(s))``.
        speaker: voice name; fixes the face (:func:`speaker_appearance`).
        rng: randomness of head jitter, lighting and noise.

    Returns:
        ``(frames, art, visemes)``: (T_v, 88, 88) uint8, (T_v, 5) float32, (T_v,) int64.

    Notebook: 10_seeing_speech.ipynb
    """
    if n_frames <= 0:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    art = articulation(phones, phoneset, n_frames)
    frames = render_mouth(art, speaker_appearance(speaker), rng)
    return frames, art, frame_visemes(phones, phoneset, n_frames)


def mouth_opening(frames: np.ndarray, thresh: float | None = None) -> np.ndarray:
    """A measurement of mouth opening from pixels: the number of dark pixels per frame.

    The cavity is the darkest thing in the picture; we count pixels darker than
    ``thresh`` (default: 40 % of the frame's median brightness) in the central region.

    Args:
        frames: (T_v, 88, 88) uint8.

    Returns:
        (T_v,) float32 dark-pixel counts.

    Notebook: 10_seeing_speech.ipynb
    """
    f = np.asarray(frames, dtype=np.float32)[:, 14:80, 8:80]
    med = np.median(f.reshape(f.shape[0], -1), axis=1)[:, None, None]
    th = 0.4 * med if thresh is None else thresh
    return (f < th).sum(axis=(1, 2)).astype(np.float32)


def speech_envelope(s: np.ndarray, sr: int = 16000, fps: float = VIDEO_FPS) -> np.ndarray:
    """The speech level per video frame, in dB (RMS over each frame's samples).

    Video frame ``k`` shows ``[k / fps, (k + 1) / fps)`` s, so it gets the samples of that interval.

    Returns:
        (T_v,) float, ``T_v = round(len(s) / sr * fps)``; -100 dB for an empty interval.

    Notebook: 10_seeing_speech.ipynb
    """
    hop = sr / fps
    T_v = int(round(len(s) / sr * fps))
    out = np.empty(T_v)
    for k in range(T_v):
        seg = np.asarray(s[int(round(k * hop)):int(round((k + 1) * hop))], dtype=np.float64)
        out[k] = 10 * np.log10(np.mean(seg ** 2) + 1e-10) if len(seg) else -100.0
    return out


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 5) -> tuple[int, float]:
    """The lag (in frames) that maximises the correlation of ``a[k]`` with ``b[k + lag]``.

    A positive lag means ``b`` follows ``a``: for ``a`` = mouth opening and ``b`` = speech level,
    the sound comes after the mouth has opened.

    Returns:
        ``(lag, correlation at that lag)``.

    Notebook: 10_seeing_speech.ipynb
    """
    best = (0, -np.inf)
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[:len(a) - lag], b[lag:]) if lag >= 0 else (a[-lag:], b[:len(b) + lag])
        n = min(len(x), len(y))
        c = float(np.corrcoef(x[:n], y[:n])[0, 1])
        if c > best[1]:
            best = (lag, c)
    return best
