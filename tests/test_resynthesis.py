"""The shipped re-synthesiser (AV2Wav-lite, udiffse_lite.resynthesis) on unseen utterances."""
import os

import numpy as np

import udiffse_lite as ul
from udiffse_lite import metrics, phones
from udiffse_lite.data.corpus import load_metadata
from udiffse_lite.data.datasets import load_wav
from udiffse_lite.data.mix import mix
from udiffse_lite.priors import CHECKPOINT_DIR


def test_shipped_resynthesiser_says_the_words_of_its_features(tiny_corpus):
    """On unseen utterances (the tiny corpus' valid split, 2 s), re-synthesis from the clean speech's
    own features (the synthesiser's ceiling) has a lower phone error rate and a lower log-spectral
    distance than the noisy input at -5 dB; re-synthesis of the noisy input itself a lower
    log-spectral distance than that input. A generator that ignores its features, or one that
    leaves a noise floor, fails both. The envelope head alone (Griffin-Lim phase) passes the same
    bar from the clean features."""
    assert os.path.getsize(CHECKPOINT_DIR / "tiny-resynth.pt") < 20e6
    rec = phones.load_phone_recognizer()
    rng = np.random.default_rng(0)
    keys = ("ceiling", "noisy", "resynth", "envelope")
    per, lsd = {k: [] for k in keys}, {k: [] for k in keys}
    for row in load_metadata(tiny_corpus, "valid")[:3]:
        s = load_wav(row["wav"])[:32000]
        lips = np.load(row["lips"])["frames"][:50]
        x, *_ = mix(s, rng.standard_normal(len(s)).astype(np.float32), -5.0, rng)
        outs = {"ceiling": ul.resynthesize(s, 16000, lips=lips, n_steps=16, n_samples=2),
                "noisy": x, "resynth": ul.resynthesize(x, 16000, lips=lips, n_steps=16, n_samples=2),
                "envelope": ul.resynthesize(s, 16000, lips=lips, magnitude="envelope")}
        for k, y in outs.items():
            assert y.shape == s.shape and np.isfinite(y).all()
            per[k].append(phones.phone_error_rate(rec, y, row))
            lsd[k].append(metrics.lsd(y, s))
    m = {k: (np.mean(per[k]), np.mean(lsd[k])) for k in per}
    assert m["ceiling"][0] < m["noisy"][0], m
    assert m["ceiling"][1] < m["noisy"][1] and m["resynth"][1] < m["noisy"][1], m
    assert m["envelope"][0] < m["noisy"][0] and m["envelope"][1] < m["noisy"][1], m  # the regression baseline
