"""viz: headless figures with physical axes, shared colour scales, audio players."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from udiffse_lite import spectral, viz  # noqa: E402
from udiffse_lite.samplers import StepInfo  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def wave(rng):
    t = np.arange(8000) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(8000)).astype(np.float32)


def _labels(ax):
    return ax.get_xlabel(), ax.get_ylabel()


def test_plot_spectrogram_wave_and_complex(wave):
    fig, ax = viz.plot_spectrogram(wave, title="tone")
    assert _labels(ax) == ("Time (s)", "Frequency (kHz)")
    assert ax.get_title() == "tone"
    assert fig.axes[-1].get_ylabel() == "dB"  # the colour bar
    lo, hi = ax.get_ylim()
    assert hi == pytest.approx(8.0, abs=0.05)  # Nyquist of 16 kHz in kHz
    assert ax.get_xlim()[1] == pytest.approx(0.5, abs=0.01)  # 8000 samples = 0.5 s
    S = spectral.to_spec(torch.as_tensor(wave))  # complex torch input
    fig2, ax2 = viz.plot_spectrogram(S[None], db=False, colorbar=False)
    assert len(fig2.axes) == 1


def test_plot_spectrogram_into_given_ax_and_limits(wave):
    fig, ax = plt.subplots()
    fig2, ax2 = viz.plot_spectrogram(wave, ax=ax, vmin=-50, vmax=10)
    assert ax2 is ax and fig2 is fig
    assert ax.images[0].get_clim() == (-50, 10)


def test_compare_spectrograms_shares_one_colour_scale(wave):
    specs = {"loud": wave, "quiet": 0.01 * wave, "spec": spectral.to_spec(torch.as_tensor(wave))}
    fig, axes = viz.compare_spectrograms(specs)
    assert [a.get_title() for a in axes] == list(specs)
    clims = {a.images[0].get_clim() for a in axes}
    assert len(clims) == 1
    vmin, vmax = clims.pop()
    assert vmax - vmin == pytest.approx(viz.DYNAMIC_RANGE_DB)
    assert all(_labels(a)[0] == "Time (s)" for a in axes)
    assert sum(a.get_ylabel() == "dB" for a in fig.axes) == 1  # one colour bar


def test_audio_table_one_player_per_entry(wave):
    table = viz.audio_table({"noisy": wave, "enhanced": torch.as_tensor(wave), "clean": wave})
    text = table.data
    assert text.count("<audio") == 3
    for name in ("noisy", "enhanced", "clean"):
        assert f">{name}<" in text
    with pytest.raises(ValueError):
        viz.audio_table({"bad": np.full(10, np.nan)})


def _snapshots(n=5):
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        S = torch.randn(2, 256, 20, dtype=torch.complex64, generator=g)
        out.append(StepInfo(i, 1.0 - i / n, S, 0.5 * S))
    return out


def test_recorder_and_plot_trajectory():
    rec = viz.TrajectoryRecorder()
    for info in _snapshots():
        rec(info)
    assert len(rec.snapshots) == 5 and rec.snapshots[0]["S"].shape == (256, 20)
    fig, axes = viz.plot_trajectory(rec, n_panels=3, show_tweedie=True)
    assert axes.shape == (2, 3)
    assert axes[1, 0].get_xlabel() == "Time (s)" and axes[0, 0].get_ylabel() == "Frequency (kHz)"
    assert len({a.images[0].get_clim() for a in axes.flat}) == 1
    fig, axes = viz.plot_trajectory({1.0: torch.ones(256, 8, dtype=torch.complex64)})
    assert axes.shape == (1, 1)


def test_step_slider_headless():
    fig, slider = viz.step_slider(_snapshots())
    assert fig.axes[0].get_xlabel() == "Time (s)"
    if slider is not None:
        assert slider.max == 4 and slider.value == 4
        slider.value = 0  # redraws without a front end
        assert "step 0" in fig.axes[0].get_title()


def test_value_slider_headless():
    def draw(v):
        fig, ax = plt.subplots()
        ax.set_title(f"v={v}")
        return fig

    fig, slider = viz.value_slider(draw, [0, 5, 10], description="SNR (dB)")
    assert fig.axes[0].get_title() == "v=5"
    if slider is not None:
        slider.value = 10


def test_plot_lips_montage():
    frames = np.random.default_rng(0).integers(0, 255, (50, 88, 88), dtype=np.uint8)
    fig, ax = viz.plot_lips(frames, n=5)
    assert ax.get_xlabel() == "Time (s)"
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == f"{49 / 25:.2f}"
    assert ax.images[0].get_array().shape == (88, 5 * 88)


def test_plot_waveform_and_curves(wave):
    fig, ax = viz.plot_waveform(wave)
    assert _labels(ax) == ("Time (s)", "Amplitude")
    fig, ax = viz.plot_curves({"a": ([0, 1], [1, 2]), "b": ([0, 1], [2, 1])}, xlabel="t", ylabel="y")
    assert _labels(ax) == ("t", "y")


def test_rejects_bad_shapes():
    with pytest.raises(ValueError):
        viz.plot_spectrogram(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError):
        viz.plot_lips(np.zeros((4, 4)))
