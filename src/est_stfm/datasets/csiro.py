"""The raw CSIRO files of the CIA and LGC benchmarks -> GeoTIFFs and a scene file.

The two standard spatiotemporal-fusion benchmarks (Emelyanova et al. 2013, RSE 133; CSIRO Data
Access Portal) are distributed as raw int16 files, reflectance x 10000, 6 bands (blue, green,
red, NIR, SWIR1, SWIR2), one folder per date, with MODIS already on the Landsat grid:

* **CIA** (Coleambally), 1720 columns x 2040 rows::

    Landsat/2001_281_08oct/L71093084_08420011007_HRF_modtran_surf_ref_agd66.bil   (BIL)
    MODIS/2001_281_08oct/MOD09GA_A2001281.sur_refl.int                          (BSQ)

* **LGC** (Lower Gwydir), 3200 columns x 2720 rows::

    Landsat/2004_107_Apr16/20040416_TM.int                                      (BSQ)
    MODIS/2004_107_Apr16/MOD09GA_A2004107.sur_refl.int                          (BSQ)

The FSDAF test-data names (``Landsat20041126``, ``MODIS20041126``) are recognised as well.

**Dates.** The date folder (``YYYY_DDD_...``: year and day of year) when a file sits in one, else
the file name (``YYYYMMDD`` in Landsat names, ``AYYYYDDD`` in MODIS names). CIA Landsat names
carry the UTC acquisition date, one day before the MODIS date of the same folder: a fine image
whose date has no coarse image, but exactly one a day away, takes that coarse date.

**Layout of each file.** An ENVI header next to it (``.hdr``/``.HDR``) is used when there is one:
GDAL reads the file with it, georeferencing included. A headerless file is int16 little-endian,
BIL for ``.bil``, BIP for ``.bip``, BSQ otherwise; its size is the full CIA/LGC scene when the
file size matches it, else ``rows`` x ``cols`` from the caller (``--rows``/``--cols``), the band
count following from the file size.

**Output.** ``OUT_DIR/fine_YYYY-MM-DD.tif`` and ``coarse_YYYY-MM-DD.tif`` (the stored values as
they are: tiled, deflate-compressed GeoTIFFs) and ``OUT_DIR/scene.yaml`` (scale 0.0001 for
integer files). Inputs without georeferencing are written without it, with a
:class:`~est_stfm.io.raster.GeoreferencingWarning`. Nothing is read whole into memory: the
files are copied in blocks of rows.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.windows import Window

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_target, check_output_folder
from est_stfm.io.raster import GeoreferencingWarning, Grid, quiet_georeferencing
from est_stfm.scene import Scene, load_scene, save_scene

BAND_NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")
"""Band order of the CSIRO files."""

SCALE = 0.0001
"""Reflectance per stored unit of the int16 files."""

ROWS_PER_BLOCK = 256
"""Rows copied at a time."""

SKIP_SUFFIXES = frozenset(
    [".hdr", ".xml", ".aux", ".ovr", ".enp", ".sta", ".txt", ".md", ".pdf", ".zip", ".jpg", ".png"]
)
"""Files that are never images (headers, statistics, documents)."""


@dataclass(frozen=True)
class CsiroLayout:
    """The full-scene size of one benchmark (what a headerless file is assumed to hold)."""

    name: str
    width: int
    height: int
    bands: int = 6


LAYOUTS = {"cia": CsiroLayout("cia", 1720, 2040), "lgc": CsiroLayout("lgc", 3200, 2720)}
"""The two benchmarks by name."""

_EXT = r"(?:\.[A-Za-z0-9]+)?"
_FINE_NAMES = (
    re.compile(r"L\d{8}_\d{3}(?P<ymd>\d{8})_HRF[A-Za-z0-9_]*" + _EXT, re.IGNORECASE),  # CIA
    re.compile(r"(?P<ymd>\d{8})_TM" + _EXT, re.IGNORECASE),  # LGC
    re.compile(r"Landsat_?(?P<ymd>\d{8})" + _EXT, re.IGNORECASE),  # FSDAF test data
)
_COARSE_NAMES = (
    re.compile(r"M[OY]D09GA_A(?P<year>\d{4})(?P<doy>\d{3})\.sur_refl" + _EXT, re.IGNORECASE),
    re.compile(r"MODIS_?(?P<ymd>\d{8})" + _EXT, re.IGNORECASE),
)
_DATE_FOLDER = re.compile(r"(?P<year>\d{4})_(?P<doy>\d{3})(?:_\w*)?")


@dataclass(frozen=True)
class RawFile:
    """One recognised image: where, fine or coarse, and its scene date."""

    path: Path
    kind: str
    date: dt.date
    from_folder: bool = False


@dataclass
class Prepared:
    """What :func:`prepare_csiro` wrote."""

    scene_path: Path
    scene: Scene
    fine: dict[dt.date, Path] = field(default_factory=dict)
    coarse: dict[dt.date, Path] = field(default_factory=dict)
    sources: dict[Path, Path] = field(default_factory=dict)
    """Written GeoTIFF -> the raw file it came from."""
    georeferenced: bool = True


def _doy(year: str, doy: str) -> dt.date | None:
    try:
        return dt.date(int(year), 1, 1) + dt.timedelta(days=int(doy) - 1)
    except ValueError:
        return None


def _name_date(match: re.Match) -> dt.date | None:
    groups = match.groupdict()
    if groups.get("ymd"):
        text = groups["ymd"]
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return None
    return _doy(groups["year"], groups["doy"])


def classify(path: Path) -> RawFile | None:
    """A :class:`RawFile` when ``path`` is named like a CSIRO (or FSDAF) image, else None."""
    if path.suffix.lower() in SKIP_SUFFIXES or path.name.lower().endswith(".aux.xml"):
        return None
    for kind, patterns in (("fine", _FINE_NAMES), ("coarse", _COARSE_NAMES)):
        for pattern in patterns:
            match = pattern.fullmatch(path.name)
            if match is None:
                continue
            day = _name_date(match)
            if day is None:
                return None
            folder = _DATE_FOLDER.fullmatch(path.parent.name)
            folder_day = _doy(folder["year"], folder["doy"]) if folder else None
            if folder_day is not None:
                return RawFile(path, kind, folder_day, from_folder=True)
            return RawFile(path, kind, day)
    return None


def find_images(raw_dir: Path) -> list[RawFile]:
    """Every recognised image under ``raw_dir``, with CIA's Landsat dates moved onto the MODIS
    date a day later; a one-line error for two images of one kind on one date."""
    found = [f for p in sorted(raw_dir.rglob("*")) if p.is_file() and (f := classify(p))]
    coarse_days = {f.date for f in found if f.kind == "coarse"}
    out: list[RawFile] = []
    seen: dict[tuple[str, dt.date], Path] = {}
    for item in found:
        if item.kind == "fine" and not item.from_folder and item.date not in coarse_days:
            near = [d for d in coarse_days if abs((d - item.date).days) == 1]
            if len(near) == 1:
                item = RawFile(item.path, item.kind, near[0])
        key = (item.kind, item.date)
        if key in seen:
            raise EstStfmError(
                f"two {item.kind} images for {item.date}: {seen[key]} and {item.path} "
                "(keep one of them in the folder)"
            )
        seen[key] = item.path
        out.append(item)
    return out


def raw_shape(
    path: Path, layout: CsiroLayout, rows: int | None, cols: int | None
) -> tuple[int, int, int]:
    """``(bands, rows, cols)`` of a headerless int16 file, from its size."""
    size = path.stat().st_size
    if (rows is None) != (cols is None):
        raise EstStfmError("give both --rows and --cols (the size of the images in pixels)")
    if rows is not None and cols is not None:
        per_band = rows * cols * 2
        if rows < 1 or cols < 1 or size == 0 or size % per_band:
            raise EstStfmError(
                f"{path} holds {size} bytes, not a whole number of {cols} x {rows} int16 bands: "
                "check --rows and --cols"
            )
        return size // per_band, rows, cols
    full = layout.width * layout.height * layout.bands * 2
    if size == full:
        return layout.bands, layout.height, layout.width
    raise EstStfmError(
        f"cannot infer the size of {path} ({size} bytes, no ENVI header, not the full "
        f"{layout.name.upper()} scene of {layout.width} x {layout.height} x {layout.bands} "
        "int16): pass --rows N --cols N"
    )


def raw_array(
    path: Path, bands: int, rows: int, cols: int, interleave: str, dtype: str = "<i2"
) -> np.ndarray:
    """A read-only ``(bands, rows, cols)`` view of a headerless file (memory-mapped)."""
    data = np.memmap(path, dtype=np.dtype(dtype), mode="r", shape=(bands * rows * cols,))
    if interleave == "bil":
        return data.reshape(rows, bands, cols).transpose(1, 0, 2)
    if interleave == "bip":
        return data.reshape(rows, cols, bands).transpose(2, 0, 1)
    return data.reshape(bands, rows, cols)


def interleave_of(path: Path) -> str:
    """BIL for ``.bil``, BIP for ``.bip``, BSQ otherwise (the CSIRO convention)."""
    suffix = path.suffix.lower()
    return {".bil": "bil", ".bip": "bip"}.get(suffix, "bsq")


ReadRows = Callable[[int, int], np.ndarray]


@contextmanager
def open_image(
    path: Path, layout: CsiroLayout, rows: int | None, cols: int | None
) -> Iterator[tuple[Grid, ReadRows]]:
    """The grid of a CSIRO file and a function reading its rows ``[r0, r1)``.

    GDAL reads the file when it can (an ENVI header next to it); otherwise it is headerless raw.
    """
    try:
        with quiet_georeferencing():
            ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError:
        ds = None  # no header GDAL understands: headerless raw
    if ds is not None:
        with ds:
            grid = Grid(
                ds.crs,
                ds.transform,
                ds.width,
                ds.height,
                ds.count,
                str(ds.dtypes[0]),
                ds.nodata,
                tuple(ds.descriptions),
            )
            if rows is not None and cols is not None and (rows, cols) != grid.shape:
                raise EstStfmError(
                    f"{path} is {grid.width} x {grid.height} by its header, not --cols {cols} "
                    f"--rows {rows}: drop those options or fix the header"
                )
            yield grid, lambda r0, r1: ds.read(window=Window(0, r0, ds.width, r1 - r0))
        return
    bands, height, width = raw_shape(path, layout, rows, cols)
    data = raw_array(path, bands, height, width, interleave_of(path))
    names = BAND_NAMES if bands == len(BAND_NAMES) else ()
    grid = Grid(None, Affine.identity(), width, height, bands, "int16", None, names)
    yield grid, lambda r0, r1: np.ascontiguousarray(data[:, r0:r1])


def _write_copy(out: Path, grid: Grid, read_rows: ReadRows, scale: float, source: Path) -> None:
    """Copy the stored values into a GeoTIFF on ``grid``, a block of rows at a time."""
    profile = grid.profile()
    if not np.issubdtype(np.dtype(grid.dtype), np.integer):
        profile.pop("predictor", None)
    names = grid.descriptions if any(grid.descriptions) else ()
    if not names and grid.count == len(BAND_NAMES):
        names = BAND_NAMES
    with quiet_georeferencing(), atomic_target(out) as tmp:
        with rasterio.open(tmp, "w", **profile) as ds:
            for r0 in range(0, grid.height, ROWS_PER_BLOCK):
                r1 = min(grid.height, r0 + ROWS_PER_BLOCK)
                ds.write(read_rows(r0, r1), window=Window(0, r0, grid.width, r1 - r0))
            for i, name in enumerate(names, start=1):
                if name:
                    ds.set_band_description(i, name)
            ds.scales = (scale,) * grid.count
            ds.update_tags(reflectance_scale=repr(scale), source=source.name)


def _scale_for(dtype: str) -> float:
    return SCALE if np.issubdtype(np.dtype(dtype), np.integer) else 1.0


def prepare_csiro(
    layout: str,
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    rows: int | None = None,
    cols: int | None = None,
) -> Prepared:
    """Convert the CSIRO files under ``raw_dir`` into GeoTIFFs and ``out_dir/scene.yaml``.

    ``layout`` is ``cia`` or ``lgc`` (the full-scene size assumed for headerless files);
    ``rows``/``cols`` give the size when it cannot be inferred. The written scene is loaded (so
    checked) before returning.
    """
    key = str(layout).strip().lower()
    if key not in LAYOUTS:
        raise EstStfmError(f"unknown layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.is_dir():
        raise EstStfmError(f"{raw_dir} is not a folder: give the folder of the raw CSIRO files")
    check_output_folder(out_dir, "output folder")
    images = find_images(raw_dir)
    kinds = {f.kind for f in images}
    if kinds != {"fine", "coarse"}:
        missing = "Landsat" if "fine" not in kinds else "MODIS"
        raise EstStfmError(
            f"no {missing} images found under {raw_dir} (expected names like "
            "L71093084_08420011007_HRF_modtran_surf_ref_agd66.bil, 20040416_TM.int and "
            "MOD09GA_A2001281.sur_refl.int)"
        )
    written: dict[str, dict[Any, Path]] = {"fine": {}, "coarse": {}}
    sources: dict[Path, Path] = {}
    scales: dict[str, set[float]] = {"fine": set(), "coarse": set()}
    ungeoreferenced = 0
    for item in images:
        out = out_dir / f"{item.kind}_{item.date.isoformat()}.tif"
        with open_image(item.path, LAYOUTS[key], rows, cols) as (grid, read_rows):
            scale = _scale_for(grid.dtype)
            _write_copy(out, grid, read_rows, scale, item.path)
        scales[item.kind].add(scale)
        ungeoreferenced += not grid.georeferenced
        written[item.kind][item.date] = out
        sources[out] = item.path
    if ungeoreferenced:
        warnings.warn(
            f"{ungeoreferenced} of {len(images)} CSIRO files have no georeferencing (no ENVI "
            "header with map info): written without it; predictions will have none either",
            GeoreferencingWarning,
            stacklevel=2,
        )
    fine_scale = min(scales["fine"])
    coarse_scale = min(scales["coarse"])
    options = None if coarse_scale == fine_scale else {"scale": coarse_scale}
    scene_path = save_scene(
        out_dir / "scene.yaml",
        written["fine"],
        written["coarse"],
        scale=fine_scale,
        coarse_options=options,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoreferencingWarning)  # said once above
        scene = load_scene(scene_path)
    return Prepared(
        scene_path, scene, written["fine"], written["coarse"], sources, not ungeoreferenced
    )
