"""Offline speech engines: text -> 16 kHz speech and the phone timings the engine used.

Four engines, all Debian packages that run without a network:

* ``espeak``  — espeak-ng's own formant voices, called through its C library
  (``libespeak-ng.so.1``) so that its *phoneme events* give exact timings;
* ``mbrola``  — espeak-ng writes a ``.pho`` file (phones, durations, pitch)
  and the MBROLA diphone synthesiser renders it (voices us1, us2, us3, en1);
* ``flite``   — ``flite -psdur`` prints each phone's end time (voices slt, rms, awb, kal16);
* ``festival`` — a Scheme script reads the ``Segment`` relation after synthesis
  (diphone voices kal, rab, don and the HTS voice cmu_us_slt_arctic_hts).

Every engine returns ``(s, phones)``: ``s`` a float32 waveform at 16 kHz and
``phones`` a list of ``(label, start_s, end_s)`` in the engine's own phone set
(see :func:`udiffse_lite.data.lips.viseme_of` for the mapping to mouth shapes).

Nothing here installs anything: a missing engine or voice raises a
``RuntimeError`` that names the apt package (``scripts/install_system_deps.sh``
installs them all).

Notebook: 10_seeing_speech.ipynb
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from math import gcd

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ..spectral import SR

Phones = list[tuple[str, float, float]]

_INSTALL = "run `sudo bash scripts/install_system_deps.sh`"
_MBROLA_HINT = ("the mbrola voices live in Debian's contrib and non-free sections: add a sources "
                "file with `Components: contrib non-free` (scripts/install_system_deps.sh does it), "
                "run `apt-get update`, then `apt-get install mbrola mbrola-{v}`")


@dataclass(frozen=True)
class Voice:
    """One speaker of the teaching corpus.

    Attributes:
        name: unique id used in the metadata (e.g. ``"mbrola-us1"``).
        engine: ``"espeak" | "mbrola" | "flite" | "festival"``.
        ident: the engine's own voice name (``"en-us+f3"``, ``"us1"``, ``"slt"``, ``"kal_diphone"``).
        pitch: espeak/mbrola pitch 0..99 (50 = default); flite: mean F0 in Hz (0 keeps the voice's own).
        rate: espeak/mbrola words per minute (175 default); flite/festival: speed in percent.

    Notebook: 10_seeing_speech.ipynb
    """

    name: str
    engine: str
    ident: str
    pitch: int = 50
    rate: int = 170


def _resample(y: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return y.astype(np.float32)
    g = gcd(int(sr), SR)
    return resample_poly(y, SR // g, int(sr) // g).astype(np.float32)


def _run(cmd: list[str], stdin: str | None = None, timeout: float = 120) -> str:
    try:
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise RuntimeError(f"{cmd[0]} is not installed: {_INSTALL}") from e
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({p.returncode}): {p.stderr.strip()[:400]}")
    return p.stdout


# ---------------------------------------------------------------- espeak-ng (C library)
class _EspeakEvent(ctypes.Structure):
    # layout of espeak_EVENT in speak_lib.h
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_EV_LIST_TERMINATED, _EV_PHONEME = 0, 7
_espeak = {"lib": None, "sr": 0, "chunks": [], "events": [], "cb": None}


def _espeak_lib():
    if _espeak["lib"] is not None:
        return _espeak["lib"]
    try:
        lib = ctypes.CDLL("libespeak-ng.so.1")
    except OSError as e:
        raise RuntimeError(f"libespeak-ng.so.1 not found: apt package `espeak-ng` ({_INSTALL})") from e
    # AUDIO_OUTPUT_SYNCHRONOUS = 2; option bit 0 = espeakINITIALIZE_PHONEME_EVENTS
    sr = lib.espeak_Initialize(2, 200, None, 1)
    if sr <= 0:
        raise RuntimeError("espeak-ng failed to initialise: reinstall the apt package `espeak-ng`")
    CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                          ctypes.POINTER(_EspeakEvent))

    def callback(wav, n, events):
        if n > 0:
            _espeak["chunks"].append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            e = events[i]
            if e.type == _EV_PHONEME:
                _espeak["events"].append((e.id.decode("ascii", "replace"), e.audio_position))
            i += 1
        return 0

    _espeak["cb"] = CB(callback)  # keep a reference: ctypes callbacks die with their wrapper
    lib.espeak_SetSynthCallback(_espeak["cb"])
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    _espeak["lib"], _espeak["sr"] = lib, sr
    return lib


def _synth_espeak(v: Voice, text: str) -> tuple[np.ndarray, Phones]:
    lib = _espeak_lib()
    if lib.espeak_SetVoiceByName(v.ident.encode()) != 0:
        raise RuntimeError(f"espeak-ng has no voice {v.ident!r}: see `espeak-ng --voices=en`")
    lib.espeak_SetParameter(1, int(v.rate), 0)   # espeakRATE, words per minute
    lib.espeak_SetParameter(3, int(v.pitch), 0)  # espeakPITCH, 0..99
    _espeak["chunks"], _espeak["events"] = [], []
    b = text.encode() + b"\0"
    lib.espeak_Synth(b, len(b), 0, 1, 0, 0, None, None)  # POS_CHARACTER, espeakCHARS_AUTO
    lib.espeak_Synchronize()
    y = np.concatenate(_espeak["chunks"]).astype(np.float32) / 32768.0 if _espeak["chunks"] else np.zeros(0, np.float32)
    dur = len(y) / _espeak["sr"]
    ev = _espeak["events"]
    phones = []
    for k, (lab, ms) in enumerate(ev):
        end = ev[k + 1][1] / 1000 if k + 1 < len(ev) else dur
        if end > ms / 1000:
            phones.append((lab.strip() or "_", ms / 1000, min(end, dur)))
    return _resample(y, _espeak["sr"]), phones


# ---------------------------------------------------------------- MBROLA through espeak-ng
def _mbrola_db(ident: str) -> str:
    for p in (f"/usr/share/mbrola/{ident}/{ident}", f"/usr/share/mbrola/{ident}"):
        if os.path.isfile(p):
            return p
    raise RuntimeError(f"mbrola voice {ident!r} is missing: {_MBROLA_HINT.format(v=ident)}")


def _synth_mbrola(v: Voice, text: str) -> tuple[np.ndarray, Phones]:
    if shutil.which("mbrola") is None:
        raise RuntimeError(f"the `mbrola` program is missing: {_MBROLA_HINT.format(v=v.ident)}")
    db = _mbrola_db(v.ident)
    pho = _run(["espeak-ng", "-q", "--pho", "-v", f"mb-{v.ident}", "-p", str(v.pitch),
                "-s", str(v.rate), text])
    phones, t = [], 0.0
    for line in pho.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(";"):
            d = float(parts[1]) / 1000
            phones.append((parts[0], t, t + d))
            t += d
    with tempfile.TemporaryDirectory() as tmp:
        pf, wf = os.path.join(tmp, "u.pho"), os.path.join(tmp, "u.wav")
        with open(pf, "w") as f:
            f.write(pho)
        _run(["mbrola", "-e", db, pf, wf])
        y, sr = sf.read(wf, dtype="float32")
    return _resample(y, sr), phones


# ---------------------------------------------------------------- flite
def _synth_flite(v: Voice, text: str) -> tuple[np.ndarray, Phones]:
    if shutil.which("flite") is None:
        raise RuntimeError(f"flite is missing: apt package `flite` ({_INSTALL})")
    with tempfile.TemporaryDirectory() as tmp:
        wf = os.path.join(tmp, "u.wav")
        stretch = 100.0 / max(v.rate, 1)
        f0 = ["--setf", f"int_f0_target_mean={v.pitch}"] if v.pitch > 0 else []
        out = _run(["flite", "-voice", v.ident, "-psdur", "--setf", f"duration_stretch={stretch:.3f}",
                    *f0, "-t", text, "-o", wf])
        y, sr = sf.read(wf, dtype="float32")
    phones, t = [], 0.0
    for tok in out.split():
        if ":" in tok:
            lab, end = tok.rsplit(":", 1)
            phones.append((lab, t, float(end)))
            t = float(end)
    return _resample(y, sr), phones


# ---------------------------------------------------------------- festival (batched)
def _festival_voice_ok(ident: str) -> bool:
    import glob
    return bool(glob.glob(f"/usr/share/festival/voices/*/{ident}"))


_FEST_PKG = {"kal_diphone": "festvox-kallpc16k", "rab_diphone": "festvox-rablpc16k",
             "don_diphone": "festvox-don", "cmu_us_slt_arctic_hts": "festvox-us-slt-hts"}


def synth_festival_many(v: Voice, texts: list[str]) -> list[tuple[np.ndarray, Phones]]:
    """Synthesise many sentences in one festival process (its start-up costs ~0.5 s).

    Args:
        v: a festival voice (``v.ident`` like ``"kal_diphone"``; ``v.pitch`` F0 mean in Hz,
            0 keeps the voice's own; ``v.rate`` speed in percent).
        texts: normalised sentences.

    Returns:
        One ``(s, phones)`` per text, ``s`` float32 at 16 kHz.

    Notebook: 10_seeing_speech.ipynb
    """
    if shutil.which("festival") is None:
        raise RuntimeError(f"festival is missing: apt package `festival` ({_INSTALL})")
    if not _festival_voice_ok(v.ident):
        raise RuntimeError(f"festival voice {v.ident!r} is missing: apt package "
                           f"`{_FEST_PKG.get(v.ident, 'festvox-...')}` ({_INSTALL})")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        lines = [f"(voice_{v.ident})",
                 f"(Parameter.set 'Duration_Stretch {100.0 / max(v.rate, 1):.3f})"]
        for i, t in enumerate(texts):
            wf = os.path.join(tmp, f"{i}.wav")
            lines.append(f'(set! utt (utt.synth (Utterance Text "{t}")))')
            lines.append(f'(utt.save.wave utt "{wf}" \'riff)')
            lines.append(f'(format t "UTT {i}\\n")')
            lines.append('(mapcar (lambda (s) (format t "%s %f\\n" (item.name s) '
                         '(item.feat s "end"))) (utt.relation.items utt \'Segment))')
        sf_path = os.path.join(tmp, "run.scm")
        with open(sf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        txt = _run(["festival", "-b", sf_path], timeout=60 + 5 * len(texts))
        segs: dict[int, list[tuple[str, float]]] = {}
        cur = None
        for line in txt.splitlines():
            p = line.split()
            if len(p) == 2 and p[0] == "UTT":
                cur = int(p[1])
                segs[cur] = []
            elif cur is not None and len(p) == 2:
                segs[cur].append((p[0], float(p[1])))
        for i in range(len(texts)):
            wf = os.path.join(tmp, f"{i}.wav")
            if not os.path.exists(wf) or i not in segs:
                raise RuntimeError(f"festival ({v.ident}) produced no audio for {texts[i]!r}")
            y, sr = sf.read(wf, dtype="float32")
            phones, t = [], 0.0
            for lab, end in segs[i]:
                phones.append((lab, t, end))
                t = end
            out.append((_resample(y, sr), phones))
    return out


def check_voice(v: Voice) -> None:
    """Raise a ``RuntimeError`` naming the apt package if ``v`` cannot be synthesised here.

    Notebook: 10_seeing_speech.ipynb
    """
    if v.engine == "espeak":
        _espeak_lib()
    elif v.engine == "mbrola":
        if shutil.which("espeak-ng") is None:
            raise RuntimeError(f"espeak-ng is missing: apt package `espeak-ng` ({_INSTALL})")
        if shutil.which("mbrola") is None:
            raise RuntimeError(f"the `mbrola` program is missing: {_MBROLA_HINT.format(v=v.ident)}")
        _mbrola_db(v.ident)
    elif v.engine == "flite":
        if shutil.which("flite") is None:
            raise RuntimeError(f"flite is missing: apt package `flite` ({_INSTALL})")
        lv = _run(["flite", "-lv"])
        if v.ident not in lv.split():
            raise RuntimeError(f"flite has no voice {v.ident!r} (has: {lv.strip()}): "
                               "install the Debian `flite` package, whose binary has slt, rms, awb, kal16")
    elif v.engine == "festival":
        if shutil.which("festival") is None:
            raise RuntimeError(f"festival is missing: apt package `festival` ({_INSTALL})")
        if not _festival_voice_ok(v.ident):
            raise RuntimeError(f"festival voice {v.ident!r} is missing: apt package "
                               f"`{_FEST_PKG.get(v.ident, 'festvox-...')}` ({_INSTALL})")
    else:
        raise ValueError(f"unknown engine {v.engine!r}: use espeak, mbrola, flite or festival")


def synthesize(v: Voice, text: str) -> tuple[np.ndarray, Phones]:
    """Speak one normalised sentence with one voice.

    Args:
        v: the voice.
        text: a sentence that passed :func:`udiffse_lite.data.text.normalise_text`.

    Returns:
        ``(s, phones)``: (L,) float32 waveform at 16 kHz and ``[(label, start_s, end_s), ...]``
        in the engine's phone set, covering the waveform from 0 s.

    Raises:
        RuntimeError: engine or voice missing (names the apt package), or silent output.

    Notebook: 10_seeing_speech.ipynb
    """
    fn = {"espeak": _synth_espeak, "mbrola": _synth_mbrola, "flite": _synth_flite,
          "festival": lambda v, t: synth_festival_many(v, [t])[0]}.get(v.engine)
    if fn is None:
        raise ValueError(f"unknown engine {v.engine!r}: use espeak, mbrola, flite or festival")
    s, phones = fn(v, text)
    if s.size == 0 or float(np.abs(s).max()) < 1e-4 or not phones:
        raise RuntimeError(f"{v.name} produced silent audio or no phones for {text!r}")
    return s, phones
