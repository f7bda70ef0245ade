"""Built-in examples: a few utterances with their lip videos, shipped inside the package.

The chapters and ``python -m udiffse_lite demo`` use them so that nothing needs
a corpus, a download or a speech engine: clean speech from voices of the
teaching corpus (two the priors were trained on, two from an engine they never
heard), each with its rendered 25 fps mouth video, plus a babble noise made
from held-out voices. Regenerate them with ``python -m udiffse_lite examples``
(needs the speech engines of ``scripts/install_system_deps.sh``).

    ex = load_example("matched-1")          # speech, lips, text, voice
    mix = noisy_example("matched-1", noise="babble", snr_db=0)

Notebook: 01_stft_domain.ipynb
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).parent / "assets" / "examples"

# name -> (voice, sentence); sentences written for these examples, not in the corpus
SPEC = {
    "matched-1": ("mbrola-us1", "the quiet farmer carried seven baskets of apples to the market"),
    "matched-2": ("flite-slt", "a bright yellow boat sails slowly past the old wooden bridge"),
    "mismatched-1": ("festival-kal", "my brother will paint the kitchen walls a warm shade of blue"),
    "mismatched-2": ("festival-slt-hts", "please open the window before the evening gets too warm"),
}
NOISE_SECONDS = 8.0


@dataclass
class Example:
    """One built-in utterance.

    Attributes:
        name: e.g. ``"matched-1"``.
        speech: (L,) float32 clean speech at ``sr``.
        sr: 16000.
        lips: (T_v, 88, 88) uint8 mouth video at 25 fps.
        text, voice: what is said and by which voice.
        matched: True if the teaching priors were trained on this voice.
    """

    name: str
    speech: np.ndarray
    sr: int
    lips: np.ndarray
    text: str
    voice: str
    matched: bool


def list_examples() -> list[str]:
    """Names of the built-in examples.

    Notebook: 01_stft_domain.ipynb
    """
    return sorted(SPEC)


def load_example(name: str = "matched-1") -> Example:
    """Load one built-in example (no network, no speech engine).

    Notebook: 01_stft_domain.ipynb
    """
    from .audio import load_audio

    if name not in SPEC:
        raise ValueError(f"unknown example {name!r}; choose from {list_examples()}")
    wav = ASSETS / f"{name}.wav"
    if not wav.exists():
        raise FileNotFoundError(f"{wav} is missing: reinstall udiffse_lite or regenerate the examples "
                                "with `python -m udiffse_lite examples`")
    meta = json.loads((ASSETS / "meta.json").read_text())[name]
    s, sr = load_audio(wav)
    lips = np.load(ASSETS / f"{name}.npz")["frames"]
    return Example(name, s, sr, lips, meta["text"], meta["voice"], meta["matched"])


def load_noise(kind: str = "babble", n_samples: int | None = None, seed: int = 0) -> np.ndarray:
    """A test-split noise: the shipped babble recording, or a procedural type (white, pink, ...).

    Returns:
        (n_samples,) float32 with unit RMS (``NOISE_SECONDS`` long by default).

    Notebook: 11_av_udiffse_plus.ipynb
    """
    from .audio import load_audio
    from .data.noise import make_noise

    n = n_samples or int(NOISE_SECONDS * 16000)
    if kind == "babble":
        b, _ = load_audio(ASSETS / "babble.wav")
        b = np.tile(b, int(np.ceil(n / len(b))))[:n]
        return (b / np.sqrt(np.mean(b ** 2))).astype(np.float32)
    return make_noise(kind, n, np.random.default_rng(seed), split="test")


def noisy_example(name: str = "matched-1", noise: str = "babble", snr_db: float = 0.0,
                  seed: int = 0) -> dict:
    """A built-in utterance mixed with a test noise at an SNR measured on the active speech.

    Returns:
        dict with ``x`` (noisy), ``s`` (clean, scaled as in ``x``), ``n``, ``sr``, ``lips``,
        ``text``, ``voice``, ``snr_db``, ``noise``.

    Notebook: 11_av_udiffse_plus.ipynb
    """
    from .data.mix import mix

    ex = load_example(name)
    rng = np.random.default_rng(seed)
    n = load_noise(noise, len(ex.speech) + 16000, seed)
    x, s, n_seg, info = mix(ex.speech, n, snr_db, rng)
    return dict(x=x, s=s, n=n_seg, sr=ex.sr, lips=ex.lips, text=ex.text, voice=ex.voice,
                snr_db=snr_db, noise=noise, name=name, matched=ex.matched, gain=info["gain"])


def build_examples(out: Path = ASSETS, seed: int = 0) -> Path:
    """Regenerate the shipped examples with the offline speech engines (deterministic).

    Notebook: 10_seeing_speech.ipynb
    """
    import soundfile as sf

    from .data import corpus, lips as lips_mod, noise as noise_mod
    from .data.text import make_sentences
    from .data.tts import synthesize
    from .spectral import SR, expected_video_frames

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_voices = {v.name for v in corpus.TRAIN_VOICES}
    meta = {}
    for k, (name, (voice, text)) in enumerate(sorted(SPEC.items())):
        v = corpus._BY_NAME[voice]
        s, phones = synthesize(v, text)
        rng = np.random.default_rng(seed + k)
        s, phones, _ = corpus.finish_utterance(s, phones, rng, name)
        T_v = expected_video_frames(len(s))
        frames, _, _ = lips_mod.render_lips(phones, lips_mod.PHONESET[v.engine], T_v, v.name, rng)
        sf.write(str(out / f"{name}.wav"), s, SR, subtype="PCM_16")
        np.savez_compressed(out / f"{name}.npz", frames=frames)
        meta[name] = dict(voice=voice, engine=v.engine, text=text, matched=voice in train_voices,
                          phones=[list(p) for p in phones])
    # babble from the held-out *test* babble voices
    talkers = [synthesize(v, t)[0] for v, t in zip(corpus.BABBLE_VOICES["test"],
                                                   make_sentences(len(corpus.BABBLE_VOICES["test"]), seed=777))]
    b = noise_mod.make_noise("babble", int(NOISE_SECONDS * SR), np.random.default_rng(seed),
                             split="test", speech=talkers)
    sf.write(str(out / "babble.wav"), 0.1 * b, SR, subtype="PCM_16")
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return out
