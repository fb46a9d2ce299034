"""A season at a glance (needs the ``plots`` extra: ``pip install 'est-stfm[plots]'``).

Top: one quick-look per date (fine observations and fused images alike) with one colour stretch
shared by all, so a date that is too bright or too dark stands out. Bottom: the time series of a
few sampled pixels in one band: fine observations as points, the fused series as a solid line,
the coarse series dashed, one colour per pixel (the pixels are marked on the first quick-look).
Images are read in strips and shown every n-th pixel, so memory stays small for any scene.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from est_stfm.errors import EstStfmError
from est_stfm.evaluation.figures import display_bands
from est_stfm.io.atomic import atomic_target, check_output_file
from est_stfm.io.cube import Layer
from est_stfm.io.raster import Grid

ReadWindow = Callable[[Window], tuple[np.ndarray, np.ndarray]]
MAX_COLUMNS = 7
PANEL_INCHES = 1.6
FORMATS = ("png", "pdf", "svg")
STRIP_ROWS = 64
FUSED_STYLE = {"linestyle": "-", "linewidth": 1.2}
FINE_STYLE = {"linestyle": "none", "marker": "o", "markersize": 5}
COARSE_STYLE = {
    "linestyle": "--",
    "linewidth": 0.9,
    "alpha": 0.8,
}  # rows read at a time (a multiple of the display step)


def require_matplotlib() -> Any:
    """``matplotlib.pyplot`` (non-interactive backend), or a one-line install hint."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EstStfmError("figures need matplotlib: pip install 'est-stfm[plots]'") from None
    return plt


def check_figure_path(path: str | Path) -> Path:
    """``path`` as a figure to write (``.png``, ``.pdf`` or ``.svg``) with matplotlib installed,
    checked before any work; a one-line error otherwise."""
    path = Path(path)
    if path.suffix.lstrip(".").lower() not in FORMATS:
        raise EstStfmError(f"cannot write a figure as {path.name}: use a .png, .pdf or .svg name")
    require_matplotlib()
    return check_output_file(path)


def thumbnail(read: ReadWindow, grid: Grid, step: int, bands: list[int]) -> np.ndarray:
    """Every ``step``-th pixel of ``bands`` (float32, NaN where invalid), read in strips."""
    rows = []
    strip = step * max(1, STRIP_ROWS // step)
    for r0 in range(0, grid.height, strip):
        values, valid = read(Window(0, r0, grid.width, min(strip, grid.height - r0)))
        part = np.where(valid, values[bands], np.nan)
        rows.append(part[:, ::step, ::step])
    return np.concatenate(rows, axis=1).astype(np.float32)


def sample_pixels(image: np.ndarray, count: int) -> list[tuple[int, int]]:
    """``count`` valid pixels of a ``(h, w)`` image at evenly spaced quantiles of its values (dark
    to bright), so the series differ; fewer when the image has fewer valid pixels."""
    rows, cols = np.nonzero(np.isfinite(image))
    if rows.size == 0:
        return []
    order = np.argsort(image[rows, cols], kind="stable")
    picks = np.unique(np.round(np.linspace(0.1, 0.9, count) * (rows.size - 1)).astype(int))
    return [(int(rows[order[i]]), int(cols[order[i]])) for i in picks]


def _pixel(read: ReadWindow, row: int, col: int, band: int) -> float:
    values, valid = read(Window(col, row, 1, 1))
    return float(values[band, 0, 0]) if valid[0, 0] else math.nan


def _series_band(grid: Grid) -> int:
    return 3 if grid.count >= 4 else 0  # NIR in Landsat order, else the first band


def season_quicklook(
    path: str | Path,
    layers: Sequence[Layer],
    coarse: Mapping[dt.date, ReadWindow],
    grid: Grid,
    *,
    pixels: int = 3,
    max_side: int = 160,
    title: str = "",
) -> Path:
    """Draw the season figure (see the module docstring) of ``layers`` (sorted by date; a
    layer's ``source`` is ``fine`` or ``fused``) and the ``coarse`` readers by date; save it
    atomically as PNG (or PDF/SVG by the suffix)."""
    path = check_figure_path(path)
    plt = require_matplotlib()
    if not layers:
        raise EstStfmError("a season figure needs at least one date")
    step = max(1, -(-max(grid.height, grid.width) // max_side))
    sel = display_bands(grid.count)
    thumbs = [thumbnail(layer.read, grid, step, sel) for layer in layers]
    observed = [t for t, layer in zip(thumbs, layers, strict=True) if layer.source == "fine"]
    stack = np.stack(observed or thumbs)
    lo = np.array([np.nanpercentile(stack[:, b], 2) for b in range(len(sel))])
    hi = np.array([np.nanpercentile(stack[:, b], 98) for b in range(len(sel))]) + 1e-6
    band = _series_band(grid)
    first = thumbnail(layers[0].read, grid, step, [band])[0]
    picked = [(r * step, c * step) for r, c in sample_pixels(first, pixels)]

    n = len(layers)
    ncols = min(n, MAX_COLUMNS)
    nrows = -(-n // ncols)
    fig = plt.figure(figsize=(PANEL_INCHES * ncols, PANEL_INCHES * nrows + 2.6))
    grid_spec = fig.add_gridspec(nrows + 1, ncols, height_ratios=[1] * nrows + [1.6])
    colours = plt.get_cmap("tab10").colors
    for i, (thumb, layer) in enumerate(zip(thumbs, layers, strict=True)):
        ax = fig.add_subplot(grid_spec[i // ncols, i % ncols])
        shown = np.clip((thumb - lo[:, None, None]) / (hi - lo)[:, None, None], 0, 1)
        shown = np.nan_to_num(shown[0] if len(sel) == 1 else np.moveaxis(shown, 0, -1), nan=0.85)
        ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{layer.date} {layer.source}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            for k, (r, c) in enumerate(picked):
                ax.plot(c / step, r / step, "+", color=colours[k % 10], ms=6, mew=1.5)
    ts = fig.add_subplot(grid_spec[nrows, :])
    kinds = {
        "fused": ([(la.date, la.read) for la in layers if la.source == "fused"], FUSED_STYLE),
        "fine": ([(la.date, la.read) for la in layers if la.source == "fine"], FINE_STYLE),
        "coarse": (sorted(coarse.items()), COARSE_STYLE),
    }
    for k, (r, c) in enumerate(picked):
        for kind, (readers, style) in kinds.items():
            if readers:
                days = [d for d, _ in readers]
                values = [_pixel(read, r, c, band) for _, read in readers]
                ts.plot(days, values, color=colours[k % 10], label=f"{kind} ({r}, {c})", **style)
    name = grid.descriptions[band] if band < len(grid.descriptions) else None
    ts.set_ylabel(name or f"band {band + 1}")
    ts.legend(fontsize=6, ncol=max(1, len(picked)), loc="best")
    ts.tick_params(labelsize=7)
    fig.autofmt_xdate()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    try:
        with atomic_target(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=90)
    finally:
        plt.close(fig)
    return path
