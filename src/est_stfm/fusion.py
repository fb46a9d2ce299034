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

from est_stfm.checkpoint import load_model
from est_stfm.classic import NAIVE_METHODS
from est_stfm.data import Scene, read_grid, user_date, write_raster
from est_stfm.data.scene import DateLike
from est_stfm.errors import EstStfmError


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


def fuse(scene: Scene, date: DateLike, method: Method, reference: DateLike | None = None) -> Fused:
    """Predict the fine image at ``date`` from a reference pair (the nearest one by default)."""
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
    f1, v1 = scene.read_fine(reference)
    c1, cv1 = scene.read_coarse(reference)
    c2, cv2 = scene.read_coarse(date)
    image = method.predict(c1, f1, c2).astype(np.float32)
    return Fused(image, v1 & cv1 & cv2, date, reference)


def predict_to_file(
    scene: Scene, date: DateLike, method: Method, out: str | Path, reference: DateLike | None = None
) -> Fused:
    """Fuse and write a GeoTIFF on the fine reference's grid and encoding (dtype, scale, nodata)."""
    fused = fuse(scene, date, method, reference)
    grid = read_grid(scene.fine[fused.reference])
    write_raster(out, fused.image, grid, scale=scene.scale, valid=fused.valid)
    return fused
