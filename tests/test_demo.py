"""The main job, on built-in data, with the shipped priors (few steps: structure, not quality)."""
import pytest

import udiffse_lite as ul
from udiffse_lite.demo import run_demo


def test_shipped_priors_load_offline():
    for name in ("tiny-ao", "tiny-av"):
        p = ul.load_pretrained(name)
        assert 1e6 < sum(q.numel() for q in p.net.parameters()) < 3e6
    assert ul.load_pretrained("tiny-av").conditional and ul.load_pretrained("tiny-av").lip_encoder is not None
    assert not ul.load_pretrained("tiny-ao").conditional


def test_demo_writes_wavs_figure_and_table(tmp_path):
    rows = run_demo(tmp_path, n_steps=3, n_samples=1, mixtures=[("matched-1", "white", 5.0)])
    assert [r["system"] for r in rows] == ["noisy input", "UDiffSE+ AO", "UDiffSE+ AV"]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "spectrograms.png" in names and "metrics.md" in names
    assert sum(n.endswith(".wav") for n in names) == 4  # noisy, clean, AO, AV
    table = (tmp_path / "metrics.md").read_text()
    assert "| **mean** | UDiffSE+ AV |" in table
    assert rows[0]["SI-SDR"] == pytest.approx(ul.metrics.si_sdr(*_mix()), abs=0.05)


def _mix():
    m = ul.examples.noisy_example("matched-1", noise="white", snr_db=5.0, seed=0)
    return m["x"], m["s"]
