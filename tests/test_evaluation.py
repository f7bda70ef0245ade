"""Table I harness on the tiny corpus with a very small network (structure and known values)."""
import numpy as np
import pytest

from udiffse_lite import metrics
from udiffse_lite.evaluation import Condition, System, evaluate, to_markdown
from udiffse_lite.priors import ScorePrior
from udiffse_lite.unet import ScoreUNet, UNetConfig


def test_table_on_tiny_corpus(tiny_corpus, tmp_path):
    ck = ScorePrior(ScoreUNet(UNetConfig(nf=8, ch_mult=(1, 2), mid_attention=False,
                                         resample_blocks=False))).save(tmp_path / "mini.pt")
    systems = [System("Input", "input"), System("Wiener", "wiener"),
               System("UDiffSE+ [posterior-score]", "udiffse+", str(ck))]
    conds = [Condition("test_matched", 5.0, 2, label="matched +5 dB")]
    res = evaluate(tiny_corpus, conds, systems, n_steps=2, n_samples=1, progress=False)
    assert len(conds[0].mixtures) == 2
    # the Input row is the mixtures' own SI-SDR, and the mixtures are at the asked SNR
    expected = [metrics.si_sdr(m["x"], m["s"]) for m in conds[0].mixtures]
    np.testing.assert_allclose(res["matched +5 dB"]["Input"]["SI-SDR"], expected)
    assert all(m["snr_db"] == 5.0 for m in conds[0].mixtures)
    assert len(res["matched +5 dB"]["UDiffSE+ [posterior-score]"]["rtf"]) == 2
    md = to_markdown(res, systems, conds, em_iters=5)
    assert sum(line.startswith("|") for line in md.splitlines()) == 2 + len(systems)  # header, rule, rows
    assert "± " in md and "UDiffSE+ [posterior-score] | 0.04 | 1 |" in md  # params (M), EM iters


def test_unknown_split_is_an_error(tiny_corpus):
    with pytest.raises((ValueError, FileNotFoundError)):
        evaluate(tiny_corpus, [Condition("test_nowhere", 0.0, 1, label="x")], [System("Input", "input")],
                 progress=False)


def test_real_mixtures_rotate_noise_types_at_the_asked_snrs(tiny_corpus, tmp_path):
    """Each real recording meets `types_per_clip` distinct test-noise types at every SNR; x = s + n at
    the asked active-speech SNR; a missing folder says how to build it; a bad count is refused."""
    import json

    import soundfile as sf

    from udiffse_lite.data.mix import snr_active
    from udiffse_lite.evaluation import real_mixtures

    real = tmp_path / "real"
    real.mkdir()
    t = np.arange(24000) / 16000
    with open(real / "real_speech.jsonl", "w") as f:
        for i, f0 in enumerate((120.0, 210.0)):
            sf.write(real / f"r{i}.wav", (0.3 * np.sin(2 * np.pi * f0 * t) * (t > 0.3)).astype(np.float32), 16000)
            f.write(json.dumps({"id": f"r{i}", "source": "test", "wav": f"r{i}.wav"}) + "\n")
    mixes = real_mixtures(str(real), tiny_corpus, snrs=(-5, 5), types_per_clip=2, seed=0)
    assert len(mixes) == 2 * 2 * 2
    for rid in ("r0", "r1"):
        mine = [m for m in mixes if m["utt_id"] == rid]
        assert len({m["noise_type"] for m in mine}) == 2 and sorted({m["snr_db"] for m in mine}) == [-5, 5]
    assert len({m["noise_type"] for m in mixes}) > 2  # the recordings rotate through the library
    for m in mixes:
        np.testing.assert_allclose(m["x"], m["s"] + m["n"], atol=1e-6)
        assert snr_active(m["s"], m["n"]) == pytest.approx(m["snr_db"], abs=0.1)
    again = real_mixtures(str(real), tiny_corpus, snrs=(-5, 5), types_per_clip=2, seed=0)
    assert all(np.array_equal(a["x"], b["x"]) for a, b in zip(mixes, again))
    with pytest.raises(FileNotFoundError, match="real-speech --out"):
        real_mixtures(str(tmp_path / "nowhere"), tiny_corpus)
    with pytest.raises(ValueError, match="types_per_clip"):
        real_mixtures(str(real), tiny_corpus, types_per_clip=99)
