"""Plotting and listening helpers for the chapters (libfmp style).

Every plotting helper takes ``ax=None`` (or ``axes=None``), draws with physical
axes -- Time (s), Frequency (kHz), a colour bar in dB -- and returns
``(fig, ax)`` (or ``(fig, axes)``), so a chapter can add to the figure or put it
inside its own grid. Panels that are compared share ONE colour scale, because
two spectrograms with different scales cannot be compared by eye.

    from udiffse_lite import viz
    viz.plot_spectrogram(y)                                    # a waveform (its STFT is taken)
    viz.compare_spectrograms({"noisy": x, "enhanced": s_hat, "clean": s})
    viz.audio_table({"noisy": x, "enhanced": s_hat, "clean": s}, sr=16000)
    rec = viz.TrajectoryRecorder(); ul.samplers.prior_sample(prior, 128, callback=rec)
    viz.plot_trajectory(rec.snapshots); viz.step_slider(rec.snapshots)
    viz.plot_lips(example.lips)

Inputs may be numpy arrays or torch tensors: a 1-D real array is a waveform
(its *uncompressed* STFT magnitude is shown), a 2-D complex array a
spectrogram (compressed or not, its magnitude is shown), a 2-D real array a
non-negative magnitude (``power=True``: a power, e.g. an NMF variance).

Notebook: 01_stft_domain.ipynb (and every chapter after it)
"""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .spectral import HOP, SR

DYNAMIC_RANGE_DB = 80.0  # default colour range below the maximum: quieter bins are drawn as the floor
_EPS = 1e-10


# ----------------------------------------------------------------------------- conversions
def _to_numpy(x) -> np.ndarray:
    """numpy view of a numpy array, torch tensor (any device, with grad) or sequence."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        try:
            return x.numpy()
        except TypeError:  # bfloat16 / half have no numpy twin
            return x.float().numpy()
    return np.asarray(x)


def _squeeze_batch(a: np.ndarray, dims: int) -> np.ndarray:
    """Drop leading singleton axes (a batch of one) down to ``dims`` dimensions."""
    while a.ndim > dims and a.shape[0] == 1:
        a = a[0]
    return a


def magnitude(x, power: bool = False) -> np.ndarray:
    """``|.|`` of a spectrogram, or of the STFT of a waveform, as a (F, T) float array.

    Args:
        x: (L,) waveform, (F, T) complex spectrogram, or (F, T) real magnitude
            (a leading batch axis of size 1 is dropped).
        power: a real 2-D ``x`` is a power (its square root is taken).

    Notebook: 01_stft_domain.ipynb
    """
    a = _to_numpy(x)
    if a.ndim >= 1 and not np.iscomplexobj(a) and _squeeze_batch(a, 1).ndim == 1:
        import torch

        from .spectral import stft

        a = stft(torch.as_tensor(_squeeze_batch(a, 1), dtype=torch.float32)).numpy()
    a = _squeeze_batch(a, 2)
    if a.ndim != 2:
        raise ValueError(f"expected a waveform (L,) or a spectrogram (F, T), got shape {a.shape}; "
                         "pick one chain of a batch first, e.g. S[0]")
    if np.iscomplexobj(a):
        return np.abs(a)
    a = np.abs(a)
    return np.sqrt(a) if power else a


def to_db(x, power: bool = False) -> np.ndarray:
    """``20 log10 |x|`` of a waveform's STFT or a spectrogram (see :func:`magnitude`).

    Notebook: 01_stft_domain.ipynb
    """
    return 20.0 * np.log10(np.maximum(magnitude(x, power), _EPS))


def _image(x, db: bool, power: bool) -> np.ndarray:
    return to_db(x, power) if db else magnitude(x, power)


def _colour_limits(images: Iterable[np.ndarray], vmin, vmax, db: bool,
                   dynamic_range: float) -> tuple[float, float]:
    """One colour scale for every image: the largest maximum, ``dynamic_range`` dB below it."""
    images = list(images)
    if vmax is None:
        vmax = float(max(np.max(im) for im in images))
    if vmin is None:
        vmin = vmax - dynamic_range if db else float(min(np.min(im) for im in images))
    return float(vmin), float(vmax)


def _new_axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def _draw(ax, image: np.ndarray, sr: int, hop: int, vmin: float, vmax: float, cmap: str):
    """Spectrogram image with physical extents: frame j is centred at j * hop / sr seconds."""
    F, T = image.shape
    dt = hop / sr
    f_max = sr / 2 / 1000.0
    df = f_max / max(F - 1, 1)
    extent = (-dt / 2, (T - 0.5) * dt, -df / 2, f_max + df / 2)
    im = ax.imshow(image, origin="lower", aspect="auto", extent=extent, vmin=vmin, vmax=vmax,
                   cmap=cmap, interpolation="nearest")
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Frequency (kHz)")
    return im


# ----------------------------------------------------------------------------- spectrograms
def plot_spectrogram(S_or_wave, sr: int = SR, ax=None, title: str | None = None,
                     vmin: float | None = None, vmax: float | None = None, db: bool = True, *,
                     hop: int = HOP, power: bool = False, colorbar: bool = True,
                     dynamic_range: float = DYNAMIC_RANGE_DB, cmap: str = "magma",
                     figsize=(7, 3)):
    """Draw one spectrogram with Time (s), Frequency (kHz) and a dB colour bar.

    Args:
        S_or_wave: (L,) waveform, (F, T) complex spectrogram or (F, T) real magnitude.
        sr: sample rate in Hz (sets the time and frequency axes).
        ax: matplotlib axes to draw into (None: a new figure).
        title: panel title.
        vmin, vmax: colour limits (dB if ``db``); default: the maximum and
            ``dynamic_range`` dB below it.
        db: colour in dB (``20 log10 |S|``) rather than linear magnitude.
        hop: STFT hop in samples (the package's 128 by default).
        power: a real 2-D input is a power (variance) rather than a magnitude.
        colorbar: add a colour bar labelled "dB" (or "magnitude").

    Returns:
        ``(fig, ax)``.

    Notebook: 01_stft_domain.ipynb
    """
    image = _image(S_or_wave, db, power)
    vmin, vmax = _colour_limits([image], vmin, vmax, db, dynamic_range)
    fig, ax = _new_axes(ax, figsize)
    im = _draw(ax, image, sr, hop, vmin, vmax, cmap)
    if title:
        ax.set_title(title)
    if colorbar:
        cb = fig.colorbar(im, ax=ax)
        cb.set_label("dB" if db else "magnitude")
    return fig, ax


def compare_spectrograms(specs: Mapping[str, Any], sr: int = SR, axes=None, title: str | None = None,
                         vmin: float | None = None, vmax: float | None = None, db: bool = True, *,
                         hop: int = HOP, power: bool = False, ncols: int | None = None,
                         dynamic_range: float = DYNAMIC_RANGE_DB, cmap: str = "magma",
                         panel_size=(4.0, 2.8)):
    """Several spectrograms side by side with ONE shared colour scale and one colour bar.

    Args:
        specs: ``{name: waveform or spectrogram}`` (see :func:`plot_spectrogram`), drawn in order.
        axes: a sequence of as many axes (None: a new figure, ``ncols`` panels per row).
        title: figure title.
        vmin, vmax: shared colour limits (default: the largest maximum over all panels and
            ``dynamic_range`` dB below it).

    Returns:
        ``(fig, axes)`` with ``axes`` a list, one per entry.

    Notebook: 01_stft_domain.ipynb
    """
    import matplotlib.pyplot as plt

    if not specs:
        raise ValueError("compare_spectrograms needs at least one entry")
    names = list(specs)
    images = [_image(specs[k], db, power) for k in names]
    vmin, vmax = _colour_limits(images, vmin, vmax, db, dynamic_range)
    if axes is None:
        n = len(names)
        ncols = ncols or min(n, 3)
        nrows = math.ceil(n / ncols)
        fig, grid = plt.subplots(nrows, ncols, squeeze=False, sharex=False, sharey=True,
                                 figsize=(panel_size[0] * ncols + 0.8, panel_size[1] * nrows),
                                 layout="constrained")
        flat = list(grid.ravel())
        for extra in flat[n:]:
            extra.set_visible(False)
        axes = flat[:n]
    else:
        axes = list(np.ravel(axes))
        if len(axes) < len(names):
            raise ValueError(f"got {len(axes)} axes for {len(names)} spectrograms")
        fig = axes[0].figure
    im = None
    for ax, name, image in zip(axes, names, images):
        im = _draw(ax, image, sr, hop, vmin, vmax, cmap)
        ax.set_title(name)
    cb = fig.colorbar(im, ax=axes)
    cb.set_label("dB" if db else "magnitude")
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_waveform(y, sr: int = SR, ax=None, title: str | None = None, *, figsize=(7, 2), **kwargs):
    """Waveform against Time (s).

    Returns:
        ``(fig, ax)``.

    Notebook: 01_stft_domain.ipynb
    """
    y = _squeeze_batch(_to_numpy(y).astype(np.float64), 1)
    fig, ax = _new_axes(ax, figsize)
    ax.plot(np.arange(len(y)) / sr, y, lw=0.6, **kwargs)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Amplitude")
    ax.set_xlim(0, len(y) / sr)
    if title:
        ax.set_title(title)
    return fig, ax


# ----------------------------------------------------------------------------- listening
def audio_table(waves: Mapping[str, Any], sr: int = SR, normalize: bool = True):
    """Audio players side by side in one HTML table (e.g. noisy / enhanced / clean).

    Args:
        waves: ``{name: (L,) waveform}`` (numpy or torch), in display order.
        sr: sample rate in Hz.
        normalize: scale each player to full range (False keeps relative loudness;
            the waveforms must then lie in [-1, 1]).

    Returns:
        An ``IPython.display.HTML`` object (displayed when it is a cell's last line);
        its ``.data`` is the HTML text, with one ``<audio>`` element per entry.

    Notebook: 01_stft_domain.ipynb
    """
    from IPython.display import HTML, Audio

    heads, cells = [], []
    for name, y in waves.items():
        y = _squeeze_batch(_to_numpy(y).astype(np.float32), 1)
        if y.ndim != 1:
            raise ValueError(f"audio_table: {name!r} must be a 1-D waveform, got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"audio_table: {name!r} contains NaN or inf")
        if not normalize and np.max(np.abs(y), initial=0.0) > 1:
            raise ValueError(f"audio_table: {name!r} exceeds [-1, 1]; use normalize=True")
        player = Audio(y, rate=sr, normalize=normalize)._repr_html_()
        heads.append(f'<th style="text-align:center">{html.escape(str(name))}</th>')
        cells.append(f'<td style="text-align:center">{player}</td>')
    table = ('<table class="udiffse-audio-table"><tr>' + "".join(heads) + "</tr><tr>"
             + "".join(cells) + "</tr></table>")
    return HTML(table)


# ----------------------------------------------------------------------------- trajectories
class TrajectoryRecorder:
    """A sampler callback that keeps CPU copies of one chain along the reverse diffusion.

    Pass it as ``callback=`` to any sampler; afterwards ``.snapshots`` is a list of
    dicts with ``step``, ``t``, ``S`` (F, T), ``S0_hat`` (F, T), ``V`` (F, T) or None
    and ``pass_index``: the input of :func:`plot_trajectory` and :func:`step_slider`.

    Args:
        chain: which of the parallel chains to keep.
        every: keep every ``every``-th step (the last step is always kept).

    Notebook: 04_reverse_sampling.ipynb
    """

    def __init__(self, chain: int = 0, every: int = 1):
        self.chain = chain
        self.every = max(1, int(every))
        self.snapshots: list[dict] = []

    def __call__(self, info) -> None:
        def pick(x):
            if x is None:
                return None
            x = x.detach().cpu()
            return x[self.chain].clone() if x.dim() == 3 else x.clone()

        if info.step % self.every and info.t > 0.05:
            # keep the sparse grid, but never lose the final (small-t) steps
            return
        self.snapshots.append(dict(step=info.step, t=float(info.t), S=pick(info.S),
                                   S0_hat=pick(info.S0_hat), V=pick(info.V),
                                   pass_index=getattr(info, "pass_index", 0)))


def _first(x):
    """The first chain of a (B, F, T) batch; (F, T) unchanged."""
    return x[0] if x is not None and x.dim() == 3 else x


def _as_snapshots(snapshots) -> list[dict]:
    """Accept a recorder, a list of dicts / StepInfo / (t, S) pairs, or ``{t: S}``."""
    if isinstance(snapshots, TrajectoryRecorder):
        snapshots = snapshots.snapshots
    if isinstance(snapshots, Mapping):
        snapshots = list(snapshots.items())
    out = []
    for i, s in enumerate(snapshots):
        if isinstance(s, Mapping):
            d = dict(s)
        elif isinstance(s, tuple):
            d = dict(step=i, t=float(s[0]), S=s[1], S0_hat=s[2] if len(s) > 2 else None)
        else:  # a StepInfo: keep the first chain of the batch
            d = dict(step=s.step, t=float(s.t), S=_first(s.S), S0_hat=_first(s.S0_hat),
                     V=getattr(s, "V", None))
        d.setdefault("step", i)
        d.setdefault("S0_hat", None)
        out.append(d)
    if not out:
        raise ValueError("no snapshots to plot: was the recorder passed as callback= to the sampler?")
    return out


def _pick_panels(n: int, n_panels: int) -> list[int]:
    n_panels = max(1, min(n_panels, n))
    return sorted(set(int(round(k)) for k in np.linspace(0, n - 1, n_panels)))


def plot_trajectory(snapshots, sr: int = SR, n_panels: int = 6, axes=None, title: str | None = None,
                    vmin: float | None = None, vmax: float | None = None, *,
                    show_tweedie: bool = False, hop: int = HOP,
                    dynamic_range: float = DYNAMIC_RANGE_DB, cmap: str = "magma",
                    panel_size=(2.6, 2.2)):
    """Snapshots of a reverse diffusion as a row of spectrograms on one colour scale.

    Args:
        snapshots: a :class:`TrajectoryRecorder`, its ``.snapshots``, a list of
            ``StepInfo`` or of ``(t, S)`` / ``(t, S, S0_hat)`` tuples, or ``{t: S}``.
        n_panels: number of evenly spaced steps shown.
        axes: (n_rows, n_panels) axes to draw into (None: a new figure).
        show_tweedie: add a second row with the Tweedie estimates ``S0_hat``.

    Returns:
        ``(fig, axes)``, ``axes`` a 2-D array (rows: S_t [, S0_hat]; columns: steps).

    Notebook: 04_reverse_sampling.ipynb
    """
    import matplotlib.pyplot as plt

    snaps = _as_snapshots(snapshots)
    idx = _pick_panels(len(snaps), n_panels)
    rows = [("S", r"$S_t$")]
    if show_tweedie and snaps[idx[-1]].get("S0_hat") is not None:
        rows.append(("S0_hat", r"Tweedie $\hat S_0$"))
    images = [[to_db(_squeeze_batch(_to_numpy(snaps[i][key]), 2)) for i in idx] for key, _ in rows]
    vmin, vmax = _colour_limits([im for r in images for im in r], vmin, vmax, True, dynamic_range)
    if axes is None:
        fig, axes = plt.subplots(len(rows), len(idx), squeeze=False, sharex=True, sharey=True,
                                 figsize=(panel_size[0] * len(idx) + 1, panel_size[1] * len(rows)),
                                 layout="constrained")
    else:
        axes = np.asarray(axes).reshape(len(rows), len(idx))
        fig = axes.flat[0].figure
    im = None
    for r, (key, label) in enumerate(rows):
        for c, i in enumerate(idx):
            ax = axes[r, c]
            im = _draw(ax, images[r][c], sr, hop, vmin, vmax, cmap)
            ax.set_title(f"{label}, t = {snaps[i]['t']:.2f}", fontsize=9)
            if c:
                ax.set_ylabel("")
            if r < len(rows) - 1:
                ax.set_xlabel("")
    cb = fig.colorbar(im, ax=axes)
    cb.set_label("dB")
    if title:
        fig.suptitle(title)
    return fig, axes


def step_slider(snapshots, sr: int = SR, *, show_tweedie: bool = True, title: str | None = None,
                vmin: float | None = None, vmax: float | None = None, hop: int = HOP,
                dynamic_range: float = DYNAMIC_RANGE_DB, cmap: str = "magma", figsize=(9, 3)):
    """An ipywidgets slider over reverse-diffusion steps (S_t and, optionally, Tweedie's estimate).

    The figure of the last step is displayed as an ordinary output, so a static
    page (the book, a notebook viewer, CI) still shows it; with a live widget
    front end the slider redraws that same output. Without ipywidgets only the
    static figure appears. All steps share one colour scale.

    Args:
        snapshots: as in :func:`plot_trajectory`.
        show_tweedie: draw ``S0_hat`` next to ``S_t``.

    Returns:
        ``(fig, slider)``; ``slider`` is None when ipywidgets is missing.

    Notebook: 04_reverse_sampling.ipynb
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    snaps = _as_snapshots(snapshots)
    keys = ["S"] + (["S0_hat"] if show_tweedie and snaps[-1].get("S0_hat") is not None else [])
    labels = {"S": r"$S_t$", "S0_hat": r"Tweedie $\hat S_0$"}
    images = [[to_db(_squeeze_batch(_to_numpy(s[k]), 2)) for k in keys] for s in snaps]
    vmin, vmax = _colour_limits([im for r in images for im in r], vmin, vmax, True, dynamic_range)

    fig, axes = plt.subplots(1, len(keys), squeeze=False, sharey=True, figsize=figsize,
                             layout="constrained")
    axes = axes[0]
    ims = [_draw(ax, images[-1][j], sr, hop, vmin, vmax, cmap) for j, ax in enumerate(axes)]
    cb = fig.colorbar(ims[-1], ax=list(axes))
    cb.set_label("dB")

    def draw(i: int) -> None:
        for j, (ax, im) in enumerate(zip(axes, ims)):
            im.set_data(images[i][j])
            ax.set_title(f"{labels[keys[j]]}, step {snaps[i]['step']}, t = {snaps[i]['t']:.3f}")
        if title:
            fig.suptitle(title)

    draw(len(snaps) - 1)
    plt.close(fig)  # shown through the display handle below, not again by the inline backend
    handle = display(fig, display_id=True)
    try:
        import ipywidgets as widgets
    except ImportError:
        return fig, None
    slider = widgets.IntSlider(value=len(snaps) - 1, min=0, max=len(snaps) - 1, step=1,
                               description="step", continuous_update=False)

    def on_change(change):
        draw(change["new"])
        if handle is not None:
            handle.update(fig)

    slider.observe(on_change, names="value")
    display(slider)
    return fig, slider


def value_slider(draw, values: Sequence[float], description: str = "value", value=None):
    """A slider over ``values`` that redraws a figure: ``draw(v)`` returns the figure to show.

    Like :func:`step_slider`, the figure for the initial value is an ordinary
    output (visible in the book and in CI); a live front end updates it in place.

    Returns:
        ``(fig, slider)``; ``slider`` is None when ipywidgets is missing.

    Notebook: 01_stft_domain.ipynb
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    values = list(values)
    start = values.index(value) if value in values else len(values) // 2
    fig = draw(values[start])
    plt.close(fig)
    handle = display(fig, display_id=True)
    try:
        import ipywidgets as widgets
    except ImportError:
        return fig, None
    slider = widgets.SelectionSlider(options=values, value=values[start], description=description,
                                     continuous_update=False)

    def on_change(change):
        new = draw(change["new"])
        plt.close(new)
        if handle is not None:
            handle.update(new)

    slider.observe(on_change, names="value")
    display(slider)
    return fig, slider


# ----------------------------------------------------------------------------- lips
def plot_lips(frames, n: int = 8, fps: float = 25.0, ax=None, title: str | None = None, *,
              start: int = 0, stop: int | None = None, figsize=None):
    """A montage of ``n`` evenly spaced lip frames in one row, labelled with their time.

    Args:
        frames: (T_v, H, W) uint8 or float mouth video (a leading batch of 1 is dropped).
        n: number of frames shown.
        fps: video frame rate (25 in every corpus here).
        start, stop: frame range to sample from.

    Returns:
        ``(fig, ax)``.

    Notebook: 10_seeing_speech.ipynb
    """
    v = _squeeze_batch(_to_numpy(frames), 3)
    if v.ndim != 3:
        raise ValueError(f"expected lip frames (T_v, H, W), got shape {v.shape}")
    stop = v.shape[0] if stop is None else min(stop, v.shape[0])
    idx = np.unique(np.linspace(start, stop - 1, max(1, n)).round().astype(int))
    H, W = v.shape[1:]
    strip = np.concatenate([v[i] for i in idx], axis=1)
    fig, ax = _new_axes(ax, figsize or (1.3 * len(idx) + 0.5, 1.8))
    ax.imshow(strip, cmap="gray", vmin=0, vmax=255 if v.dtype == np.uint8 else None,
              interpolation="nearest")
    ax.set_xticks([(k + 0.5) * W for k in range(len(idx))])
    ax.set_xticklabels([f"{i / fps:.2f}" for i in idx])
    ax.set_yticks([])
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Lips")
    if title:
        ax.set_title(title)
    return fig, ax


def plot_curves(curves: Mapping[str, tuple], ax=None, xlabel: str = "", ylabel: str = "",
                title: str | None = None, *, logy: bool = False, figsize=(5, 3)):
    """Line plots ``{label: (x, y)}`` on one axes (loss curves, SNR against t, ...).

    Returns:
        ``(fig, ax)``.

    Notebook: 02_forward_sde.ipynb
    """
    fig, ax = _new_axes(ax, figsize)
    for label, (x, y) in curves.items():
        ax.plot(_to_numpy(x), _to_numpy(y), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    return fig, ax
