"""Scene + method -> fused raster: choose the reference pair, run the method, write the GeoTIFF.

A *method* is anything with ``predict(c1, f1, c2) -> f2`` on reflectance arrays shaped
``(bands, H, W)``: a trained model (:class:`ModelMethod`) or a classic one (``naive-copy``,
``naive-change``, ``starfm``, ``fsdaf``). :func:`resolve_method` turns the ``--model`` argument
of the CLI into one. Optional attributes a method may have: ``halo`` (the context in fine pixels
it needs around a tile; :func:`predict_to_file` reads at least that much) and
``predict_pairs(pairs, c2, valid=None)`` (fuses one or two reference pairs itself, e.g. STARFM
pooling the candidates of both pairs, instead of the per-pixel blending of
:func:`pair_weights`; ``valid`` holds each pair's validity mask).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import rasterio
import torch
from tqdm import tqdm

from est_stfm.checkpoint import load_model
from est_stfm.classic import CLASSIC_METHODS, classic_method
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

# GDAL block cache while predicting: bounded, so memory does not grow with the scene.
GDAL_CACHE_MB = 128


class Method(Protocol):
    """A fusion method: reflectance in, reflectance out."""

    name: str

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray: ...


class ModelMethod:
    """A trained network used as a fusion method (whole image in one forward pass, no grad).

    ``base``: for a model fitted with ``base: starfm|fsdaf``, that classic method; the network's
    correction is then added to its prediction instead of to F1 + C2 - C1.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        name: str = "est-stfm",
        meta: dict | None = None,
        base: Method | None = None,
    ):
        self.model = model.eval().to(memory_format=torch.channels_last)  # faster on CPU
        self.name, self.meta, self.base = name, meta or {}, base
        self.halo = int(getattr(base, "halo", 0))

    @torch.no_grad()
    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        batch = [
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None] for a in (c1, f1, c2)
        ]
        out = self.model(*batch)[0].numpy()
        if self.base is not None:
            out = out + (self.base.predict(c1, f1, c2) - (f1 + c2 - c1))
        return out


def resolve_method(spec: str | Path, scene: Scene | None = None) -> Method:
    """A method from a classic method's name (``naive-copy``, ``naive-change``, ``starfm``,
    ``fsdaf``), the name of shipped pretrained weights (``est-stfm models``) or a saved model
    directory. ``scene`` gives the context some classic methods need (FSDAF:
    ``scene.coarse_factor``) and is checked against a model's bands."""
    from est_stfm.models.pretrained import PRETRAINED, load_pretrained

    if str(spec) in CLASSIC_METHODS:
        return classic_method(str(spec), coarse_factor=scene.coarse_factor if scene else None)
    if str(spec) in PRETRAINED:
        model, meta = load_pretrained(str(spec))
        name = str(spec)
    else:
        path = Path(spec)
        if not path.exists():
            names = ", ".join([*CLASSIC_METHODS, *PRETRAINED])
            raise EstStfmError(
                f"model {spec!r} not found: give a directory written by `est-stfm fit` "
                f"or one of {names}"
            )
        model, meta = load_model(path)
        name = meta.get("preset") or "est-stfm"
    bands = model.config.bands
    if scene is not None and scene.bands != bands:
        raise EstStfmError(
            f"model {spec} expects {bands} bands but {scene.path} has {scene.bands}: "
            "fit a model on this scene (est-stfm fit) or choose its bands in the scene file"
        )
    base_name = (meta.get("fit") or {}).get("base", "change")
    base = None
    if base_name != "change":
        base = classic_method(base_name, coarse_factor=scene.coarse_factor if scene else None)
        name = f"{name}+{base_name}"
    return ModelMethod(model, name=name, meta=meta, base=base)


@dataclass
class Fused:
    """A fused image with its valid mask and the reference date(s) it came from."""

    image: np.ndarray
    valid: np.ndarray
    date: dt.date
    references: tuple[dt.date, ...]

    @property
    def reference(self) -> dt.date:
        """The (first) reference date."""
        return self.references[0]


@dataclass
class Written:
    """A prediction written to disk: where, for which dates, in how many tiles."""

    path: Path
    date: dt.date
    references: tuple[dt.date, ...]
    tiles: int

    @property
    def reference(self) -> dt.date:
        """The (first) reference date."""
        return self.references[0]


PAIRS = ("1", "2", "auto")
TWO_PAIR_WINDOW = 31  # pixels: the neighbourhood over which each pair's coarse change is measured


def choose_references(
    scene: Scene,
    date: DateLike,
    method: Method,
    reference: DateLike | None = None,
    pairs: str = "auto",
) -> tuple[dt.date, tuple[dt.date, ...]]:
    """Check that ``method`` can fuse ``date`` and pick its reference date(s).

    ``pairs="1"``: the nearest reference pair (or ``reference``). ``"2"``: the nearest pair
    before and the nearest pair after the date (an error if either is missing). ``"auto"``: two
    when both exist, else one. Giving ``reference`` means one pair.
    """
    date = user_date(date)
    scene.require_coarse(date)
    if pairs not in PAIRS:
        raise EstStfmError(f"--pairs {pairs!r}: use 1, 2 or auto")
    bands = getattr(method, "meta", {}).get("bands")
    if bands is not None and bands != scene.bands:
        raise EstStfmError(
            f"the model was trained on {bands} bands but {scene.path} has {scene.bands}: "
            "fit a model on this scene"
        )
    candidates = [d for d in scene.pairs_dates() if d != date]
    if reference is not None:
        reference = user_date(reference)
        if reference not in candidates or pairs == "2":
            raise EstStfmError(
                f"reference {reference} needs a fine and a coarse image, must differ from {date} "
                f"and means one pair; candidates: {', '.join(str(d) for d in candidates)}"
            )
        return date, (reference,)
    before = [d for d in candidates if d < date]
    after = [d for d in candidates if d > date]
    if pairs == "2" and not (before and after):
        raise EstStfmError(
            f"--pairs 2 needs a reference pair before and after {date}; "
            f"dates with fine and coarse images: {', '.join(str(d) for d in candidates) or 'none'}"
        )
    if pairs != "1" and before and after:
        return date, (before[-1], after[0])
    return date, (scene.nearest_reference(date),)


def _box_mean(img: np.ndarray, size: int) -> np.ndarray:
    """Mean over a size x size neighbourhood (reflected at the border)."""
    from scipy.ndimage import uniform_filter

    return uniform_filter(img, size=size, mode="reflect")


def pair_weights(c2: np.ndarray, coarse_refs: list[np.ndarray], window: int) -> list[np.ndarray]:
    """Per-pixel weights of each reference pair, inversely proportional to how much the coarse
    image changed between that pair's date and the target (mean absolute change over bands and
    a ``window`` x ``window`` neighbourhood), as the classic two-pair methods weight them."""
    inv = [1.0 / (_box_mean(np.abs(c2 - c).mean(0), window) + 1e-6) for c in coarse_refs]
    total = sum(inv)
    return [w / total for w in inv]


def _fuse_window(
    scene: Scene, date: dt.date, references: tuple[dt.date, ...], method: Method, window=None
) -> tuple[np.ndarray, np.ndarray]:
    c2, cv2 = scene.read_coarse(date, window)
    preds, valids, coarse, fine = [], [], [], []
    joint = getattr(method, "predict_pairs", None)
    for ref in references:
        f1, v1 = scene.read_fine(ref, window)
        c1, cv1 = scene.read_coarse(ref, window)
        if joint is None:
            preds.append(method.predict(c1, f1, c2).astype(np.float32))
        valids.append(v1 & cv1 & cv2)
        coarse.append(c1)
        fine.append(f1)
    if joint is not None:  # the method fuses the pairs itself, skipping invalid pixels
        image = joint(list(zip(coarse, fine, strict=True)), c2, valid=valids)
        return np.asarray(image, dtype=np.float32), np.logical_or.reduce(valids)
    if len(preds) == 1:
        return preds[0], valids[0]
    weights = pair_weights(c2, coarse, TWO_PAIR_WINDOW)
    # a pair invalid at a pixel (a cloud in its fine image) gives its weight to the other one
    weights = [w * v for w, v in zip(weights, valids, strict=True)]
    total = np.maximum(sum(weights), 1e-12)
    image = sum(p * (w / total) for p, w in zip(preds, weights, strict=True))
    return image.astype(np.float32), np.logical_or.reduce(valids)


def fuse(
    scene: Scene,
    date: DateLike,
    method: Method,
    reference: DateLike | None = None,
    pairs: str = "1",
) -> Fused:
    """Predict the whole fine image at ``date`` in memory, in one piece (small scenes; see
    :func:`predict_to_file` for any size)."""
    date, references = choose_references(scene, date, method, reference, pairs)
    image, valid = _fuse_window(scene, date, references, method)
    return Fused(image, valid, date, references)


def predict_to_file(
    scene: Scene,
    date: DateLike,
    method: Method,
    out: str | Path,
    reference: DateLike | None = None,
    *,
    pairs: str = "1",
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    halo: int = DEFAULT_HALO,
    cog: bool = False,
    progress: bool = False,
) -> Written:
    """Fuse ``date`` tile by tile (see :mod:`est_stfm.tiling`) and stream it to a GeoTIFF on the
    fine reference's grid and encoding (dtype, scale, nodata, band descriptions). The halo is at
    least the method's own ``halo`` attribute, if it has one."""
    date, references = choose_references(scene, date, method, reference, pairs)
    halo = max(halo, int(getattr(method, "halo", 0)))
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
            lambda window: _fuse_window(scene, date, references, method, window),
            writer,
            tile=tile,
            overlap=overlap,
            halo=halo,
            progress=lambda _: bar.update(1),
        )
    return Written(Path(out), date, references, n)
