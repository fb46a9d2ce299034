"""Scene + method -> fused raster: choose the reference pair, run the method, write the GeoTIFF.

A *method* is anything with ``predict(c1, f1, c2) -> f2`` on reflectance arrays shaped
``(bands, H, W)``: a trained model (:class:`ModelMethod`) or a classic one (``naive-copy``,
``naive-change``). :func:`resolve_method` turns the ``--model`` argument of the CLI into one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from est_stfm.checkpoint import load_model
from est_stfm.classic import NAIVE_METHODS
from est_stfm.data import Scene, read_grid, user_date
from est_stfm.data.scene import DateLike
from est_stfm.errors import EstStfmError
from est_stfm.tiling import (
    DEFAULT_HALO,
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    predict_tiled,
    streamed_geotiff,
    tile_rows,
)


class Method(Protocol):
    """A fusion method: reflectance in, reflectance out."""

    name: str

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray: ...


class ModelMethod:
    """A trained network used as a fusion method (whole image in one forward pass, no grad)."""

    def __init__(self, model: torch.nn.Module, name: str = "est-stfm", meta: dict | None = None):
        self.model = model.eval().to(memory_format=torch.channels_last)  # faster on CPU
        self.name, self.meta = name, meta or {}

    @torch.no_grad()
    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        batch = [
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None] for a in (c1, f1, c2)
        ]
        return self.model(*batch)[0].numpy()


def resolve_method(spec: str | Path) -> Method:
    """A method from a name (``naive-copy``, ``naive-change``) or a saved model directory."""
    if str(spec) in NAIVE_METHODS:
        return NAIVE_METHODS[str(spec)]
    path = Path(spec)
    if not path.exists():
        names = ", ".join(NAIVE_METHODS)
        raise EstStfmError(
            f"model {spec!r} not found: give a directory written by `est-stfm fit` "
            f"or one of {names}"
        )
    model, meta = load_model(path)
    return ModelMethod(model, name=meta.get("preset") or "est-stfm", meta=meta)


@dataclass
class Fused:
    """A fused image with its valid mask and the reference date it came from."""

    image: np.ndarray
    valid: np.ndarray
    date: dt.date
    reference: dt.date


@dataclass
class Written:
    """A prediction written to disk: where, for which dates, in how many tiles."""

    path: Path
    date: dt.date
    reference: dt.date
    tiles: int


def choose_reference(
    scene: Scene, date: DateLike, method: Method, reference: DateLike | None = None
) -> tuple[dt.date, dt.date]:
    """Check that ``method`` can fuse ``date`` and pick the reference date (nearest by default)."""
    date = user_date(date)
    scene.require_coarse(date)
    if reference is None:
        reference = scene.nearest_reference(date)
    elif (reference := user_date(reference)) not in scene.pairs_dates() or reference == date:
        raise EstStfmError(
            f"reference {reference} needs a fine and a coarse image and must differ from {date}; "
            f"candidates: {', '.join(str(d) for d in scene.pairs_dates() if d != date)}"
        )
    bands = getattr(method, "meta", {}).get("bands")
    if bands is not None and bands != scene.bands:
        raise EstStfmError(
            f"the model was trained on {bands} bands but {scene.path} has {scene.bands}: "
            "fit a model on this scene"
        )
    return date, reference


def _fuse_window(
    scene: Scene, date: dt.date, reference: dt.date, method: Method, window=None
) -> tuple[np.ndarray, np.ndarray]:
    f1, v1 = scene.read_fine(reference, window)
    c1, cv1 = scene.read_coarse(reference, window)
    c2, cv2 = scene.read_coarse(date, window)
    return method.predict(c1, f1, c2).astype(np.float32), v1 & cv1 & cv2


def fuse(scene: Scene, date: DateLike, method: Method, reference: DateLike | None = None) -> Fused:
    """Predict the whole fine image at ``date`` in memory, in one piece (small scenes; see
    :func:`predict_to_file` for any size)."""
    date, reference = choose_reference(scene, date, method, reference)
    image, valid = _fuse_window(scene, date, reference, method)
    return Fused(image, valid, date, reference)


def predict_to_file(
    scene: Scene,
    date: DateLike,
    method: Method,
    out: str | Path,
    reference: DateLike | None = None,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    halo: int = DEFAULT_HALO,
    cog: bool = False,
    progress: bool = False,
) -> Written:
    """Fuse ``date`` tile by tile (see :mod:`est_stfm.tiling`) and stream it to a GeoTIFF on the
    fine reference's grid and encoding (dtype, scale, nodata, band descriptions)."""
    date, reference = choose_reference(scene, date, method, reference)
    grid = read_grid(scene.fine[reference])
    rows = tile_rows(grid.height, grid.width, tile, overlap)
    total = sum(len(r) for r in rows)
    with (
        tqdm(total=total, unit="tile", desc="predict", disable=not progress, leave=False) as bar,
        streamed_geotiff(out, grid, scene.scale, scene.bands, cog=cog) as writer,
    ):
        n = predict_tiled(
            lambda window: _fuse_window(scene, date, reference, method, window),
            writer,
            tile=tile,
            overlap=overlap,
            halo=halo,
            progress=lambda _: bar.update(1),
        )
    return Written(Path(out), date, reference, n)
