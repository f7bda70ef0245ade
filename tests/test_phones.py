"""The phone recogniser and the phone error rate (udiffse_lite.phones): the WER stand-in."""
import os

import numpy as np
import pytest

from udiffse_lite import phones


def test_edit_distance_known_answers():
    assert phones.edit_distance("kitten", "sitting") == 3
    assert phones.edit_distance([], [1, 2, 3]) == 3
    assert phones.edit_distance([1, 2, 3], []) == 3
    assert phones.edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert phones.edit_distance([1, 2, 3], [3, 2, 1]) == 2  # two substitutions
    assert phones.collapse([3, 3, 5, 5, 3, 7, 7, 7]) == [3, 5, 3, 7]


def test_phone_error_rate_counts_edits_on_merged_frame_labels(monkeypatch):
    """With the recogniser replaced by known frame labels, the PER is the hand-computed one."""

    class Rec:
        class config:
            phones = ["x:a", "x:b", "x:c"]

    row = {"id": "u", "phoneset": "x", "phones": [["a", 0.0, 0.08], ["b", 0.08, 0.16], ["c", 0.16, 0.24]]}
    # 8 frames at 25 fps; the timings cover frames 0-5 (a a b b c c), 6-7 are outside and ignored
    monkeypatch.setattr(phones, "recognise", lambda rec, y, sr=16000: np.array([0, 0, 1, 1, 2, 2, 1, 0]))
    assert phones.phone_error_rate(Rec, None, row) == 0.0
    monkeypatch.setattr(phones, "recognise", lambda rec, y, sr=16000: np.array([0, 0, 0, 0, 2, 2, 0, 0]))
    assert phones.phone_error_rate(Rec, None, row) == pytest.approx(1 / 3)  # b deleted
    monkeypatch.setattr(phones, "recognise", lambda rec, y, sr=16000: np.array([0, 1, 0, 1, 0, 2, 1, 1]))
    assert phones.phone_error_rate(Rec, None, row) == pytest.approx(1.0)  # a b [a b a] c: 3 inserted
    with pytest.raises(ValueError, match="phone timings"):
        phones.phone_error_rate(Rec, None, {"id": "u"})


def test_shipped_recogniser_hears_noise_as_errors(tiny_corpus):
    """On unseen utterances of the tiny corpus the shipped recogniser's PER on clean speech is
    below its PER at -5 dB in white noise: the measurement that re-synthesis is judged by works."""
    from udiffse_lite.data.corpus import load_metadata
    from udiffse_lite.data.datasets import load_wav
    from udiffse_lite.data.mix import mix

    assert os.path.getsize(phones.DEFAULT_CKPT) < 5e6
    rec = phones.load_phone_recognizer()
    rng = np.random.default_rng(0)
    clean, noisy = [], []
    for row in load_metadata(tiny_corpus, "valid")[:6]:
        s = load_wav(row["wav"])
        clean.append(phones.phone_error_rate(rec, s, row))
        x, *_ = mix(s, rng.standard_normal(len(s)).astype(np.float32), -5.0, rng)
        noisy.append(phones.phone_error_rate(rec, x, row))
    assert np.mean(clean) < 0.8 * np.mean(noisy), (clean, noisy)
    with pytest.raises(FileNotFoundError, match="phones train"):
        phones.load_phone_recognizer("/nonexistent/phone_recognizer.pt")
