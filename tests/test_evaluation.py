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
