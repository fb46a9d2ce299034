"""Tiles with a halo and overlap blending, streamed to a writer: any scene size, no seams.

How a scene of any size is predicted with bounded memory:

* The scene is cut into tiles of ``tile`` x ``tile`` pixels whose neighbours overlap by at least
  ``overlap`` pixels. There is no divisibility rule: the last tile of a row or column is shifted
  back to end exactly at the border (it then overlaps its neighbour more). A scene smaller than a
  tile is one tile.
* Each tile is predicted from inputs read with an extra ``halo`` of context on every side
  (clipped at the scene border), and the halo is cropped off the prediction.
* Overlapping predictions are blended with separable linear ramps: inside an overlap each tile's
  weight rises from the edge it shares with its neighbour towards its centre; along the scene
  border there is no ramp. Every pixel is the weighted mean of the tiles covering it, so the
  transition between tiles is gradual and no seam is visible.
* Rows of tiles are accumulated in one fixed buffer, a tile high and the scene wide (about
  120 MB for 6 bands x 512 rows x 8192 columns); finished rows are encoded and written to a tiled
  GeoTIFF in column chunks. Memory grows with the scene width times the tile size, not with the
  scene area; the model's activations for one tile usually dominate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from est_stfm.errors import EstStfmError
from est_stfm.io.geotiff import StreamedGeoTiff

DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64
DEFAULT_HALO = 16
WRITE_COLUMNS = 1024  # columns encoded and written at a time


def check_tiling(tile: int, overlap: int, halo: int) -> None:
    """A one-line error unless ``tile >= 16``, ``0 <= overlap < tile`` and ``halo >= 0``."""
    if tile < 16 or not 0 <= overlap < tile or halo < 0:
        raise EstStfmError(
            f"--tile {tile} --overlap {overlap} --halo {halo}: need tile >= 16, "
            "0 <= overlap < tile and halo >= 0"
        )


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with at least
    ``overlap`` pixels shared between neighbours; the last tile ends at ``length``."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    if stride < 1:
        raise EstStfmError(f"tile size {tile} must be larger than the overlap {overlap}")
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(n: int, ramp_start: int, ramp_end: int) -> np.ndarray:
    """Weights along one axis of a tile of length ``n``: linear ramps of the given widths at the
    start and end (0 = no ramp, a scene border), 1 elsewhere, never 0."""
    w = np.ones(n, dtype=np.float32)
    if ramp_start:
        w[:ramp_start] = np.minimum(w[:ramp_start], (np.arange(ramp_start) + 1) / (ramp_start + 1))
    if ramp_end:
        w[n - ramp_end :] = np.minimum(
            w[n - ramp_end :], ((np.arange(ramp_end) + 1) / (ramp_end + 1))[::-1]
        )
    return w


@dataclass(frozen=True)
class Tile:
    """One tile: its pixels (``rows`` x ``cols`` as half-open ranges) and the blend weights."""

    rows: tuple[int, int]
    cols: tuple[int, int]
    row_weight: np.ndarray  # (h,) float32
    col_weight: np.ndarray  # (w,) float32

    @property
    def weight(self) -> np.ndarray:
        """The (h, w) blend weights, made on demand (storing them all would grow with the scene)."""
        return np.outer(self.row_weight, self.col_weight)

    def read_window(self, halo: int, height: int, width: int) -> tuple[Window, tuple[int, int]]:
        """The window to read (the tile plus ``halo``, clipped) and the tile's offset in it."""
        r0, c0 = max(0, self.rows[0] - halo), max(0, self.cols[0] - halo)
        r1, c1 = min(height, self.rows[1] + halo), min(width, self.cols[1] + halo)
        return Window(c0, r0, c1 - c0, r1 - r0), (self.rows[0] - r0, self.cols[0] - c0)


def _axis_tiles(length: int, tile: int, overlap: int) -> list[tuple[int, int, np.ndarray]]:
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    out = []
    for i, s in enumerate(starts):
        before = starts[i - 1] + size - s if i > 0 else 0
        after = s + size - starts[i + 1] if i + 1 < len(starts) else 0
        out.append((s, s + size, _ramp(size, before, after)))
    return out


def tile_rows(height: int, width: int, tile: int, overlap: int) -> list[list[Tile]]:
    """The tiles of a scene, grouped by tile row (top to bottom, left to right)."""
    cols = _axis_tiles(width, tile, overlap)
    return [
        [Tile((r0, r1), (c0, c1), wr, wc) for c0, c1, wc in cols]
        for r0, r1, wr in _axis_tiles(height, tile, overlap)
    ]


Core = tuple[slice, slice]
"""Rows and columns of a tile's own pixels inside the window read for it (the rest is halo)."""
PredictWindow = Callable[[Window, Core], tuple[np.ndarray, np.ndarray]]
PredictWindows = Callable[[Window, Core], Sequence[tuple[np.ndarray, np.ndarray]]]


def predict_tiled(
    predict_window: PredictWindow,
    writer: StreamedGeoTiff,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    halo: int = DEFAULT_HALO,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Predict a scene tile by tile and stream it to ``writer``; returns the number of tiles.

    ``predict_window(window, core)`` returns ``(reflectance (bands, h, w), valid (h, w))`` for a
    window of the scene; only its ``core`` (the tile without its halo) is kept, so a method may
    leave the halo's pixels approximate. ``progress(n)`` is called after each tile.
    """
    return predict_tiled_many(
        lambda window, core: [predict_window(window, core)],
        [writer],
        tile=tile,
        overlap=overlap,
        halo=halo,
        progress=progress,
    )


class _RowBuffer:
    """One output's accumulator: a tile row high and the scene wide."""

    def __init__(self, bands: int, depth: int, width: int):
        self.acc = np.zeros((bands, depth, width), np.float32)
        self.valid = np.ones((depth, width), bool)

    def shift(self, k: int, used: int) -> None:
        """Move rows ``k:used`` up to the top and clear the freed rows."""
        self.acc[:, : used - k] = self.acc[:, k:used].copy()
        self.valid[: used - k] = self.valid[k:used].copy()
        self.acc[:, used - k :] = 0.0
        self.valid[used - k :] = True


def predict_tiled_many(
    predict_windows: PredictWindows,
    writers: Sequence[StreamedGeoTiff],
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    halo: int = DEFAULT_HALO,
    progress: Callable[[int], None] | None = None,
) -> int:
    """:func:`predict_tiled` for several outputs on one grid (e.g. several dates): each tile's
    inputs are read once, ``predict_windows(window, core)`` returns one ``(reflectance, valid)`` per
    writer (from the same ``core``), and every output is blended and streamed exactly as
    :func:`predict_tiled` does it.
    Memory: one row buffer per writer. Returns the number of tiles."""
    grid = writers[0].grid
    height, width = grid.height, grid.width
    rows = tile_rows(height, width, tile, overlap)
    # One buffer per output, a tile row high and the scene wide; buffer row 0 is scene row `top`.
    depth = rows[0][0].rows[1] - rows[0][0].rows[0]
    buffers = [_RowBuffer(w.ds.count, depth, width) for w in writers]
    wsum = np.zeros((depth, width), np.float32)
    top, n = 0, 0
    for i, row in enumerate(rows):
        r0, r1 = row[0].rows
        b0, h = r0 - top, r1 - r0
        for t in row:
            window, (dr, dc) = t.read_window(halo, height, width)
            (c0, c1), weight = t.cols, t.weight
            w = c1 - c0
            outputs = predict_windows(window, (slice(dr, dr + h), slice(dc, dc + w)))
            for buf, (image, valid) in zip(buffers, outputs, strict=True):
                buf.acc[:, b0 : b0 + h, c0:c1] += image[:, dr : dr + h, dc : dc + w] * weight
                buf.valid[b0 : b0 + h, c0:c1] &= valid[dr : dr + h, dc : dc + w]
            wsum[b0 : b0 + h, c0:c1] += weight
            n += 1
            if progress:
                progress(n)
        # rows above the next tile row are final: write them (in column chunks, to keep the
        # encoding's temporaries small), then move the rest up and clear the freed rows
        k = (rows[i + 1][0].rows[0] if i + 1 < len(rows) else r1) - top
        for writer, buf in zip(writers, buffers, strict=True):
            for c in range(0, width, WRITE_COLUMNS):
                cs = slice(c, min(width, c + WRITE_COLUMNS))
                writer.write(top, c, buf.acc[:, :k, cs] / wsum[:k, cs], buf.valid[:k, cs])
        used = b0 + h
        for buf in buffers:
            buf.shift(k, used)
        wsum[: used - k] = wsum[k:used].copy()
        wsum[used - k :] = 0.0
        top += k
    return n
