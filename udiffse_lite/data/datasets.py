"""PyTorch datasets: fixed-length training crops and whole utterances for evaluation.

A training crop is ``CROP_SAMPLES = 32640`` samples (2.04 s, exactly 256 centred
STFT frames) and, when video is asked for, the 51 video frames that show the
same 2.04 s (32640 = 51 x 640 samples, 640 samples per frame at 25 fps). Crops
start on a video-frame boundary so audio and video stay aligned.

Items are dicts: ``{"audio": (L,) float32, "video": float32, "id": str}``;
``"video"`` is absent when ``features=None``.

``features`` selects the visual stream:
    * ``None``: audio only;
    * ``"lips"``: raw mouth frames (T_v, 88, 88) scaled to 0..1, for a trainer that runs the
      frozen lip encoder itself (:class:`udiffse_lite.visual.LipEncoder` accepts 0..1 floats);
    * a folder: precomputed features ``<folder>/<split>/<id>.npy`` of shape (T_v, p)
      (``lip-encoder extract`` writes them; AV-HuBERT features in the same layout work too);
    * ``"precomputed"``: each row's own ``features`` path (rows from :mod:`udiffse_lite.data.real`).

Notebook: 10_seeing_speech.ipynb
"""
from __future__ import annotations

import os

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

from ..spectral import CROP_SAMPLES, SR, VIDEO_FPS, expected_video_frames

SAMPLES_PER_VIDEO_FRAME = SR // VIDEO_FPS  # 640


def load_wav(path: str) -> np.ndarray:
    """Read a wav as mono float32 at 16 kHz (channels averaged, resampled if needed).

    Raises:
        RuntimeError: unreadable, empty, non-finite or silent file (names the file).

    Notebook: 10_seeing_speech.ipynb
    """
    try:
        y, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for corrupt files
        raise RuntimeError(f"cannot read audio {path!r}: {e}") from e
    y = y.mean(axis=1)
    if sr != SR:
        from math import gcd
        g = gcd(sr, SR)
        y = resample_poly(y, SR // g, sr // g).astype(np.float32)
    if y.size == 0 or not np.all(np.isfinite(y)) or float(np.abs(y).max()) < 1e-5:
        raise RuntimeError(f"audio {path!r} is empty, corrupt or silent")
    return y


def load_lips(path: str) -> np.ndarray:
    """Mouth frames (T_v, 88, 88) uint8 from ``.npz`` (key ``frames``) or ``.npy``.

    Notebook: 10_seeing_speech.ipynb
    """
    if path.endswith(".npz"):
        with np.load(path) as z:
            if "frames" not in z:
                raise RuntimeError(f"{path!r} has no 'frames' array (keys: {list(z.keys())})")
            f = z["frames"]
    else:
        f = np.load(path)
    if f.ndim != 3:
        raise RuntimeError(f"lip frames in {path!r} must be (T_v, H, W), got shape {f.shape}")
    return f


def _check_lengths(uid: str, n_samples: int, n_video: int) -> None:
    want = expected_video_frames(n_samples)
    if abs(n_video - want) > 1:
        raise RuntimeError(f"{uid}: {n_video} video frames but the audio ({n_samples / SR:.2f} s) "
                           f"needs {want}: audio and video disagree, re-extract one of them")


class _Base(torch.utils.data.Dataset):
    def __init__(self, corpus_dir=None, split="train", features=None, rows=None):
        if rows is None:
            if corpus_dir is None:
                raise ValueError("give corpus_dir (a built corpus) or rows (from a real-corpus loader)")
            from .corpus import load_metadata
            rows = load_metadata(corpus_dir, split)
        if not rows:
            raise ValueError(f"no utterances in split {split!r}")
        if features not in (None, "lips", "precomputed") and not os.path.isdir(str(features)):
            raise ValueError(f"features must be None, 'lips', 'precomputed' (rows with a 'features' path) "
                             f"or an existing folder of .npy files; {features!r} is none of these")
        self.rows, self.split, self.features = list(rows), split, features

    def __len__(self) -> int:
        return len(self.rows)

    def _video(self, r: dict) -> np.ndarray | None:
        """(T_v, p) features, (T_v, H, W) frames, or None."""
        if self.features is None:
            return None
        if self.features == "lips":
            if not r.get("lips"):
                raise RuntimeError(f"{r['id']}: no lip frames for this utterance")
            return load_lips(r["lips"]).astype(np.float32) / 255.0  # (T_v, H, W)
        if self.features == "precomputed":
            p = r.get("features")
            if not p:
                raise RuntimeError(f"{r['id']}: features='precomputed' but this row has no 'features' file")
        else:
            p = os.path.join(self.features, self.split, r["id"] + ".npy")
        if not os.path.exists(p):
            raise RuntimeError(f"{r['id']}: feature file {p!r} missing: run "
                               "`python -m udiffse_lite lip-encoder extract` for this split")
        v = np.load(p).astype(np.float32)
        if v.ndim != 2:
            raise RuntimeError(f"features {p!r} must be (T_v, p), got shape {v.shape}")
        return v


class CropDataset(_Base):
    """Fixed-length training crops of a corpus split.

    Args:
        corpus_dir: a folder made by :func:`udiffse_lite.data.build_corpus`.
        split: ``"train" | "valid" | ...``.
        features: ``None`` | ``"lips"`` | a folder of precomputed features (see module doc).
        crop_samples: crop length; a multiple of 640 keeps whole video frames (default 32640).
        seed: crops are a deterministic function of (seed, epoch, index);
            call :meth:`set_epoch` to draw new crops each epoch.
        rows: instead of ``corpus_dir``, rows from a real-corpus loader
            (dicts with ``id``, ``wav`` and optional ``lips`` / ``features``).

    Items:
        ``{"audio": (crop_samples,) float32, "video": (crop_samples // 640, p) float32, "id": str}``
        (``"video"`` is (51, 88, 88) with ``features="lips"``).
        Utterances shorter than the crop are zero-padded (audio) and edge-padded (video).

    Notebook: 10_seeing_speech.ipynb
    """

    def __init__(self, corpus_dir=None, split="train", features=None, crop_samples=CROP_SAMPLES,
                 seed=0, rows=None):
        super().__init__(corpus_dir, split, features, rows)
        if crop_samples <= 0:
            raise ValueError(f"crop_samples must be positive, got {crop_samples}")
        if features is not None and crop_samples % SAMPLES_PER_VIDEO_FRAME:
            raise ValueError(f"with video, crop_samples must be a multiple of {SAMPLES_PER_VIDEO_FRAME} "
                             f"(one 25 fps frame); got {crop_samples}")
        self.crop_samples, self.seed, self.epoch = crop_samples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> dict:
        r = self.rows[i]
        s = load_wav(r["wav"])
        v = self._video(r)
        if v is not None:
            _check_lengths(r["id"], len(s), v.shape[0])
        rng = np.random.default_rng([self.seed, self.epoch, i])
        L = self.crop_samples
        n_vf = L // SAMPLES_PER_VIDEO_FRAME
        if v is not None:  # start on a video frame boundary
            n_starts = max(len(s) // SAMPLES_PER_VIDEO_FRAME - n_vf, 0) + 1
            k = int(rng.integers(0, n_starts))
            a = k * SAMPLES_PER_VIDEO_FRAME
            vv = v[k:k + n_vf]
            if vv.shape[0] < n_vf:
                vv = np.concatenate([vv, np.repeat(vv[-1:], n_vf - vv.shape[0], 0)], 0)
        else:
            a = int(rng.integers(0, max(len(s) - L, 0) + 1))
        seg = s[a:a + L]
        if len(seg) < L:
            seg = np.pad(seg, (0, L - len(seg)))
        item = {"audio": torch.from_numpy(np.ascontiguousarray(seg, dtype=np.float32)), "id": r["id"]}
        if v is not None:
            item["video"] = torch.from_numpy(np.ascontiguousarray(vv, dtype=np.float32))
        return item


class SynthNoiseDataset(torch.utils.data.Dataset):
    """Training crops of noise generated afresh from the noise library's generators
    (:func:`udiffse_lite.data.noise.make_noise`, the ``train`` split's parameter ranges), so a noise
    prior sees a new clip of each type at every draw instead of the library's few stored clips.

    Item ``i`` of epoch ``e`` is a deterministic function of ``(seed, e, i)``: type ``types[i % len(types)]``,
    a ``clip_seconds`` clip at the library's level (RMS 0.1, peak <= 0.95, as the corpus writes it),
    and a random ``crop_samples`` crop of it (a clip longer than the crop keeps the slow structure of
    traffic and ventilation that a crop-length clip would cut short).

    Args:
        types: noise types (babble is refused: it needs voices, and a noise prior holds it out).
        length: items per epoch.

    Items:
        ``{"audio": (crop_samples,) float32, "id": "<type>-synth-<epoch>-<i>"}``.

    Notebook: 12_two_priors.ipynb
    """

    def __init__(self, types, crop_samples=CROP_SAMPLES, seed=0, length=600, clip_seconds=6.0):
        from .noise import NOISE_TYPES

        types = list(types)
        bad = [k for k in types if k not in NOISE_TYPES or k == "babble"]
        if not types or bad:
            raise ValueError(f"types must be noise types other than babble from {NOISE_TYPES}, got {types}")
        if crop_samples <= 0 or length <= 0:
            raise ValueError(f"crop_samples and length must be positive, got {crop_samples} and {length}")
        if clip_seconds * SR < crop_samples:
            raise ValueError(f"clip_seconds {clip_seconds} is shorter than the crop ({crop_samples / SR:.2f} s)")
        self.types, self.crop_samples, self.seed, self.length = types, crop_samples, seed, length
        self.clip_samples, self.epoch = int(clip_seconds * SR), 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> dict:
        from .noise import make_noise

        kind = self.types[i % len(self.types)]
        rng = np.random.default_rng([self.seed, self.epoch, i, 7919])
        y = 0.1 * make_noise(kind, self.clip_samples, rng, "train")
        y = y * min(1.0, 0.95 / max(float(np.abs(y).max()), 1e-12))
        a = int(rng.integers(0, self.clip_samples - self.crop_samples + 1))
        seg = np.ascontiguousarray(y[a:a + self.crop_samples], dtype=np.float32)
        return {"audio": torch.from_numpy(seg), "id": f"{kind}-synth-{self.epoch}-{i}"}


class UtteranceDataset(_Base):
    """Whole utterances for evaluation (batch size 1, or your own padding collate).

    Args: as :class:`CropDataset` (no crop, no seed).

    Items:
        ``{"audio": (L,) float32, "video": (T_v, p) or (T_v, 88, 88) float32 (if features), "id", "text",
        "voice"}``.

    Notebook: 10_seeing_speech.ipynb
    """

    def __getitem__(self, i: int) -> dict:
        r = self.rows[i]
        s = load_wav(r["wav"])
        item = {"audio": torch.from_numpy(s), "id": r["id"], "text": r.get("text", ""),
                "voice": r.get("voice", "")}
        v = self._video(r)
        if v is not None:
            _check_lengths(r["id"], len(s), v.shape[0])
            item["video"] = torch.from_numpy(v)
        return item
