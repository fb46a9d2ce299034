"""Scene + method -> fused image: read the pairs, run the method, in memory or tiled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm import tqdm

from est_stfm.inference.check import checked
from est_stfm.inference.references import DEFAULT_PAIRS, choose_references
from est_stfm.inference.tiles import (
    DEFAULT_HALO,
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    Core,
    predict_tiled,
    tile_rows,
)
from est_stfm.io import read_grid
from est_stfm.io.geotiff import streamed_geotiff
from est_stfm.methods import Method
from est_stfm.methods.model import ModelMethod
from est_stfm.scene import Scene
from est_stfm.scene.dates import DateLike

# GDAL block cache while predicting: bounded, so memory does not grow with the scene.
GDAL_CACHE_MB = 128


@dataclass
class Prediction:
    """What was fused: the target date and the reference date(s) it came from."""

    date: dt.date
    references: tuple[dt.date, ...]

    @property
    def reference(self) -> dt.date:
        """The (first) reference date."""
        return self.references[0]


@dataclass
class Fused(Prediction):
    """A fused image in memory with its valid mask."""

    image: np.ndarray
    valid: np.ndarray


@dataclass
class Written(Prediction):
    """A prediction written to disk, and in how many tiles."""

    path: Path
    tiles: int
    method: str = ""
    """The method's name as it ran (a checked pretrained model says its correction strength)."""


def fuse_window(
    scene: Scene,
    date: dt.date,
    references: tuple[dt.date, ...],
    method: Method,
    window: Window | None = None,
    core: Core | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(image, valid)`` of ``date`` over ``window`` (None: the whole scene); a pixel is valid
    where the target's coarse image and at least one reference pair are. ``core``: see
    :func:`fuse_arrays`."""
    target = scene.read_coarse(date, window)
    pairs = [(scene.read_fine(ref, window), scene.read_coarse(ref, window)) for ref in references]
    return fuse_arrays(method, target, pairs, core)


Read = tuple[np.ndarray, np.ndarray]
"""``(values (bands, h, w), valid (h, w))`` as :meth:`Scene.read_fine` returns them."""


def fuse_arrays(
    method: Method, target: Read, pairs: Sequence[tuple[Read, Read]], core: Core | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(image, valid)`` from the target's coarse read and each reference's ``(fine, coarse)``
    reads (the arithmetic of :func:`fuse_window`, for callers that read the inputs once).
    ``core``: the only pixels that must be right (a tile inside its halo): a network then runs
    on them and its own context only, its base on everything (see :class:`ModelMethod`)."""
    c2, cv2 = target
    valids = [v1 & cv1 & cv2 for (_, v1), (_, cv1) in pairs]
    arrays = [(c1, f1) for (f1, _), (c1, _) in pairs]
    if isinstance(method, ModelMethod):
        image = method.predict_pairs(arrays, c2, valids, core=core)
    else:
        image = method.predict_pairs(arrays, c2, valids)
    return np.asarray(image, dtype=np.float32), np.logical_or.reduce(valids)


def fuse(
    scene: Scene,
    date: DateLike,
    method: Method,
    reference: DateLike | None = None,
    pairs: str = DEFAULT_PAIRS,
) -> Fused:
    """Predict the whole fine image at ``date`` in memory, in one piece (small scenes; see
    :func:`predict_to_file` for any size)."""
    date, references = choose_references(scene, date, method, reference, pairs)
    method = checked(method, scene, date)
    image, valid = fuse_window(scene, date, references, method)
    return Fused(date, references, image, valid)


def predict_to_file(
    scene: Scene,
    date: DateLike,
    method: Method,
    out: str | Path,
    reference: DateLike | None = None,
    *,
    pairs: str = DEFAULT_PAIRS,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    halo: int = DEFAULT_HALO,
    cog: bool = False,
    progress: bool = False,
) -> Written:
    """Fuse ``date`` tile by tile (see :mod:`est_stfm.inference.tiles`) and stream it to a GeoTIFF
    on the fine reference's grid and encoding (dtype, scale, nodata, band descriptions). The halo
    is at least the method's own."""
    date, references = choose_references(scene, date, method, reference, pairs)
    method = checked(method, scene, date)
    halo = max(halo, method.halo)
    grid = read_grid(scene.fine[references[0]])
    rows = tile_rows(grid.height, grid.width, tile, overlap)
    total = sum(len(r) for r in rows)
    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB),  # GDAL's default is 5 % of RAM
        tqdm(total=total, unit="tile", desc="predict", disable=not progress, leave=False) as bar,
        streamed_geotiff(
            out, grid, scene.scale, scene.bands, offset=scene.offset, cog=cog
        ) as writer,
    ):
        n = predict_tiled(
            lambda window, core: fuse_window(scene, date, references, method, window, core),
            writer,
            tile=tile,
            overlap=overlap,
            halo=halo,
            progress=lambda _: bar.update(1),
        )
    return Written(date, references, Path(out), n, method.name)
