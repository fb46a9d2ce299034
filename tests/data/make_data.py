"""Write the tiny fake files of every real format est-stfm reads (run it to regenerate them).

    python tests/data/make_data.py [--out DIR]

Each file has the name, folder layout, dtype, interleave, header and georeferencing of the real
data it stands for, a few pixels, and none of its values: every value is a closed-form pattern
(basic arithmetic only: no random numbers, no transcendental functions), so every run writes
the same values on every machine (tests/data/test_make_data.py checks it).

* ``csiro/``: the raw CSIRO layouts that ``est-stfm prepare cia|lgc`` reads (int16 reflectance
  x 10000, 6 bands, one folder per date): ``cia`` (Landsat BIL ``.bil``, MODIS BSQ ``.int``, no
  headers), ``cia_envi`` (the same with ENVI headers), ``lgc`` (BSQ ``.int`` with ENVI headers),
  ``lgc_raw`` (the same without). Pixel ``(b, r, c)`` of date ``i`` stores
  :func:`csiro_values`, so any interleave mix-up shows.
* ``envi/``: a scene of plain ENVI files read through GDAL (``.img``/``.bil``/``.bip``/none;
  ``x.hdr``, ``x.ext.hdr`` and ``X.HDR`` headers; int16 and float32; little and big endian; a
  ``data ignore value``; a coarse section on its own 4x coarser grid) and its ``scene.yaml``.
* ``shared/<dataset>/``: a miniature of each folder of ``../shared/data`` that
  ``benchmarks/prepare_data.py`` converts, with the files it reads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import rasterio
import yaml
from affine import Affine
from rasterio.crs import CRS

HERE = Path(__file__).resolve().parent
FOLDERS = ("csiro", "envi", "shared")
"""The folders this script owns under its output root (rewritten on every run)."""

REFLECTANCE_BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
UTM55S = "{UTM, 1.000, 1.000, %.3f, %.3f, %.3f, %.3f, 55, South, WGS-84, units=Meters}"
FLOAT32_NODATA = float(np.float32(-3.4e38))
"""The nodata value of the Kranj and Yanco GeoTIFFs (the float32 nearest to -3.4e38)."""

CIA_SHAPE = (12, 10)
"""Rows, columns of the fake CIA files (the real ones are 2040 x 1720)."""
CIA_DATES = {"2001_281_08oct": "20011007", "2001_290_17oct": "20011016"}
"""CIA date folder (the MODIS date) -> the date in the Landsat name (a day earlier, UTC)."""
LGC_SHAPE = (8, 16)
"""Rows, columns of the fake LGC files (the real ones are 2720 x 3200)."""
LGC_DATES = {"2004_107_Apr16": "20040416", "2004_123_May02": "20040502"}
"""LGC date folder -> the date in the Landsat name."""

ENVI_SHAPE = (8, 12)
"""Rows, columns of the fine files of the plain ENVI scene (its coarse grid is 4x coarser)."""
ENVI_FACTOR = 4
ENVI_DATES = ("2001-05-08", "2001-05-24", "2001-06-09")
ENVI_NODATA_PIXELS = ((0, 0), (7, 11))
"""Fine pixels stored as the header's ``data ignore value`` (-9999) on the first date."""


def tri(x: np.ndarray, period: int = 16) -> np.ndarray:
    """A triangle wave of integers with values in [0, 1], exact in binary floating point."""
    half = period // 2
    return np.abs(np.mod(x, period) - half) / half


def pattern(shape: tuple[int, int, int], phase: int) -> np.ndarray:
    """A deterministic ``(bands, rows, cols)`` field in [0, 1] per phase: fine detail and a slow
    gradient (so block means differ), exact multiples of 1/64."""
    b, r, c = np.indices(shape)
    detail = tri(3 * r + 2 * c + 5 * b + phase) + tri(r - 2 * c + 3 * b + 2 * phase)
    return (detail + 2 * tri(r + 2 * c + 7 * b + 5 * phase, 64)) / 4


def csiro_values(rows: int, cols: int, index: int, bands: int = 6) -> np.ndarray:
    """The stored int16 values of fake CSIRO image ``index``: unique per band, row and column."""
    b, r, c = np.indices((bands, rows, cols))
    return (400 + 300 * b + cols * r + c + 20 * index).astype("<i2")


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Means of ``factor`` x ``factor`` blocks of ``(bands, rows, cols)``, replicated back."""
    bands, rows, cols = image.shape
    blocks = image.reshape(bands, rows // factor, factor, cols // factor, factor).mean((2, 4))
    return blocks.repeat(factor, 1).repeat(factor, 2)


def write_raw(path: Path, data: np.ndarray, interleave: str = "bsq", dtype: str = "<i2") -> Path:
    """A headerless file of ``(bands, rows, cols)`` in BSQ, BIL or BIP order."""
    order = {"bsq": (0, 1, 2), "bil": (1, 0, 2), "bip": (1, 2, 0)}[interleave]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.ascontiguousarray(data.transpose(order), dtype=dtype).tobytes())
    return path


def envi_header(
    shape: tuple[int, int, int],
    data_type: int,
    interleave: str = "bsq",
    *,
    description: str = "fake file of est-stfm tests/data/make_data.py",
    extra: tuple[str, ...] = (),
    byte_order: int = 0,
) -> str:
    """The text of an ENVI header (``data_type`` 1 = uint8, 2 = int16, 4 = float32)."""
    bands, rows, cols = shape
    lines = [
        "ENVI",
        f"description = {{\n  {description}}}",
        f"samples = {cols}",
        f"lines   = {rows}",
        f"bands   = {bands}",
        "header offset = 0",
        "file type = ENVI Standard",
        f"data type = {data_type}",
        f"interleave = {interleave}",
        "sensor type = Unknown",
        f"byte order = {byte_order}",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def write_envi(
    path: Path, data: np.ndarray, header: str, header_path: Path | None = None, **raw: str
) -> Path:
    """A raw file and its header (default ``path`` with its suffix replaced by ``.hdr``)."""
    write_raw(path, data, **raw)
    (header_path or path.with_suffix(".hdr")).write_text(header)
    return path


def write_tif(path: Path, data: np.ndarray, **profile: object) -> Path:
    """A GeoTIFF of ``(bands, rows, cols)``; ``descriptions`` sets the band names."""
    names = profile.pop("descriptions", None)
    bands, rows, cols = data.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"driver": "GTiff", "width": cols, "height": rows, "count": bands, **profile}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", dtype=data.dtype, **meta) as ds:
            ds.write(data)
            for i, name in enumerate(names or (), start=1):
                ds.set_band_description(i, name)
    return path


# --- the raw CSIRO layouts ---------------------------------------------------------------------


def make_csiro(root: Path) -> None:
    """``csiro/{cia,cia_envi,lgc,lgc_raw}``: one folder per date, Landsat and MODIS."""
    rows, cols = CIA_SHAPE
    for headers in (False, True):
        base = root / ("cia_envi" if headers else "cia")
        for i, (folder, day) in enumerate(CIA_DATES.items()):
            fine, coarse = csiro_values(rows, cols, 2 * i), csiro_values(rows, cols, 2 * i + 1)
            name = f"L71093084_084{day}_HRF_modtran_surf_ref_agd66.bil"
            landsat = base / "Landsat" / folder / name
            modis = base / "MODIS" / folder / f"MOD09GA_A2001{folder[5:8]}.sur_refl.int"
            write_raw(landsat, fine, "bil")
            write_raw(modis, coarse, "bsq")
            if headers:
                for path, interleave in ((landsat, "bil"), (modis, "bsq")):
                    path.with_suffix(".hdr").write_text(csiro_header(rows, cols, interleave))
        (base / "notes.txt").write_text("Fake CSIRO CIA layout: not an image, to be skipped.\n")
    rows, cols = LGC_SHAPE
    for headers in (True, False):
        base = root / ("lgc" if headers else "lgc_raw")
        for i, (folder, day) in enumerate(LGC_DATES.items()):
            doy = folder[5:8]
            names = {
                base / "Landsat" / folder / f"{day}_TM.int": csiro_values(rows, cols, 2 * i),
                base / "MODIS" / folder / f"MOD09GA_A2004{doy}.sur_refl.int": csiro_values(
                    rows, cols, 2 * i + 1
                ),
            }
            for path, values in names.items():
                write_raw(path, values, "bsq")
                if headers:
                    path.with_suffix(".hdr").write_text(csiro_header(rows, cols, "bsq"))


def csiro_header(rows: int, cols: int, interleave: str) -> str:
    """An ENVI header of a fake CSIRO file: UTM 55 South, 25 m pixels, the 6 band names."""
    return envi_header(
        (6, rows, cols),
        2,
        interleave,
        extra=(
            "map info = " + UTM55S % (401012.5, 6152787.5, 25.0, 25.0),
            "band names = {" + ", ".join(REFLECTANCE_BANDS) + "}",
        ),
    )


# --- plain ENVI --------------------------------------------------------------------------------


def envi_fine(index: int) -> np.ndarray:
    """The stored int16 values (reflectance x 10000) of the plain ENVI scene's fine image."""
    return np.round(500 + 3000 * pattern((4, *ENVI_SHAPE), index)).astype("<i2")


def envi_coarse(index: int) -> np.ndarray:
    """The float32 reflectance of the plain ENVI scene's coarse image (on its own grid)."""
    fine = envi_fine(index) * 1e-4
    bands, rows, cols = fine.shape
    blocks = fine.reshape(bands, rows // ENVI_FACTOR, ENVI_FACTOR, cols // ENVI_FACTOR, -1)
    return (blocks.mean((2, 4)) + 0.01).astype("<f4")


ENVI_FINE = (
    ("fine_20010508.img", "fine_20010508.hdr", "bsq"),
    ("fine_20010524.bil", "fine_20010524.bil.hdr", "bil"),
    ("fine_20010609.bip", "fine_20010609.hdr", "bip"),
)
"""Per date of :data:`ENVI_DATES`: the fine file, its header and interleave (int16 LE)."""
ENVI_COARSE = (
    ("coarse_20010508.dat", "coarse_20010508.hdr", "bsq", "<f4"),
    ("coarse_20010524", "coarse_20010524.HDR", "bsq", ">f4"),
    ("coarse_20010609.dat", "coarse_20010609.hdr", "bip", "<f4"),
)
"""Per date: the coarse file, its header, interleave and byte order (float32)."""


def make_envi(root: Path) -> None:
    """``envi/``: three dates of fine int16 and coarse float32 ENVI files and ``scene.yaml``."""
    fine_info = "map info = " + UTM55S % (500000.0, 6100020.0, 30.0, 30.0)
    coarse_info = "map info = " + UTM55S % (500000.0, 6100020.0, 120.0, 120.0)
    for i, (name, header_name, interleave) in enumerate(ENVI_FINE):
        data = envi_fine(i)
        if i == 0:
            for r, c in ENVI_NODATA_PIXELS:
                data[:, r, c] = -9999
        extra = (fine_info, "data ignore value = -9999")
        header = envi_header(data.shape, 2, interleave, extra=extra)
        write_envi(root / name, data, header, root / header_name, interleave=interleave)
    for i, (name, header_name, interleave, dtype) in enumerate(ENVI_COARSE):
        data = envi_coarse(i)
        order = int(dtype.startswith(">"))
        header = envi_header(data.shape, 4, interleave, extra=(coarse_info,), byte_order=order)
        write_envi(
            root / name, data, header, root / header_name, interleave=interleave, dtype=dtype
        )
    fine_names = {day: item[0] for day, item in zip(ENVI_DATES, ENVI_FINE, strict=True)}
    coarse_names = {day: item[0] for day, item in zip(ENVI_DATES, ENVI_COARSE, strict=True)}
    scene = {
        "fine": {"scale": 0.0001, "images": fine_names},
        "coarse": {"scale": 1, "images": coarse_names},
    }
    (root / "scene.yaml").write_text(yaml.safe_dump(scene, sort_keys=False))


# --- miniatures of ../shared/data --------------------------------------------------------------


def make_cia_derived(root: Path) -> None:
    """CIA: float32 reflectance GeoTIFFs (6 bands, EPSG:32755, 50 m, deflate), Landsat ``L_``
    and MODIS ``M_`` on one grid; 10 x 10 pixels (the real ones are 250 x 250)."""
    profile = {
        "crs": CRS.from_epsg(32755),
        "transform": Affine(50.0, 0.0, 401012.5, 0.0, -50.0, 6152787.5),
        "compress": "deflate",
        "interleave": "pixel",
        "descriptions": REFLECTANCE_BANDS,
    }
    for i, day in enumerate(("20011008", "20011017", "20011102")):
        fine = 0.02 + 0.2 * pattern((6, 10, 10), i)
        coarse = block_mean(fine, 5) + 0.005 * i
        write_tif(root / "derived" / f"L_{day}_50m.tif", fine.astype("f4"), **profile)
        write_tif(root / "derived" / f"M_{day}_50m.tif", coarse.astype("f4"), **profile)


def make_lgc_fsdaf(root: Path) -> None:
    """LGC (FSDAF subset): headerless-named ENVI BSQ int16 x 1e4, 3 bands, no map info; the
    coarse image is the 16 x 16 block mean of a Landsat-like image (``.HDR`` headers, as the
    real ones); 32 x 32 pixels (the real ones are 480 x 480)."""
    for i, day in enumerate(("20041126", "20041228")):
        fine = np.round(300 + 2000 * pattern((3, 32, 32), 2 * i))
        coarse = np.round(block_mean(300 + 2000 * pattern((3, 32, 32), 2 * i + 1), 16))
        start = ("x start = 1239", "y start = 1842", "wavelength units = Unknown")
        header = envi_header(fine.shape, 2, description="Create New File Result", extra=start)
        write_envi(root / f"Landsat{day}", fine, header, root / f"Landsat{day}.hdr")
        header = envi_header(coarse.shape, 2, description="Create New File Result", extra=start[2:])
        write_envi(root / f"MODIS{day}", coarse, header, root / f"MODIS{day}.HDR")


KRANJ_LANDSAT = {68: "191-28", 77: "190-28", 93: "190-28", 100: "191-28"}
"""Kranj Landsat day of year (2020) -> WRS path-row in its name."""
KRANJ_GAPS = {68: ((0, 0),), 77: ((2, 3), (5, 6)), 100: ((1, 1),)}
"""Pixels missing (nodata) from the unfilled Landsat images."""


def make_kranj(root: Path) -> None:
    """Kranj: float32 GeoTIFFs, 6 bands, MODIS sinusoidal CRS, 29.9 x 30 m, LZW, nodata
    -3.4e38; Landsat reflectance x 1e4 (filled and unfilled), daily MODIS 0-1 for DOY 68-93;
    6 x 7 pixels (the real ones are 44 x 45)."""
    profile = {
        "crs": CRS.from_proj4("+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m"),
        "transform": Affine(29.9, 0.0, 1101000.0, 0.0, -30.0, 5143440.0),
        "nodata": FLOAT32_NODATA,
        "compress": "lzw",
        "interleave": "pixel",
    }
    shape = (6, 6, 7)
    for doy, path_row in KRANJ_LANDSAT.items():
        filled = (500 + 2000 * pattern(shape, doy)).astype("f4")
        folder = root / "landsat"
        write_tif(
            folder / "filled" / f"2020{doy:03d}_{path_row}.tif_filled_kranj.tif", filled, **profile
        )
        for r, c in KRANJ_GAPS.get(doy, ()):
            filled[:, r, c] = FLOAT32_NODATA
        write_tif(folder / "unfilled" / f"2020{doy:03d}_{path_row}_kranj.tif", filled, **profile)
    for doy in range(68, 94):
        image = 0.05 + 0.2 * pattern(shape, doy)
        modis = np.broadcast_to(image.mean((1, 2), keepdims=True), shape) + 0.001 * (doy % 3)
        write_tif(
            root / "modis" / "filled" / f"2020{doy:03d}_18-04_kranj.tif",
            modis.astype("f4"),
            **profile,
        )


REALSET1_DAYS = (220, 236, 243)


def make_realset1(root: Path) -> None:
    """ImageFusion real-set1: uint16 GeoTIFFs, 4 bands, no georeferencing, LZW: Landsat L1 DN
    (``L_2016_DOY``; 0 = fill, 65535 = saturated) and MODIS SR x 1e4 on the fine grid, nearest
    and bilinear; 8 x 8 pixels (the real ones are 444 x 444)."""
    profile = {"compress": "lzw", "interleave": "pixel", "transform": Affine.identity()}
    shape = (4, 8, 8)
    for i, doy in enumerate(REALSET1_DAYS):
        dn = np.round(6000 + 14000 * pattern(shape, i)).astype("u2")
        if doy == 236:
            dn[:, 0, 0], dn[:, 7, 7] = 0, 65535
        sr = 150 + 1500 * pattern(shape, i)
        nearest = np.round(block_mean(sr, 4)).astype("u2")
        bilinear = np.round((block_mean(sr, 4) + block_mean(sr, 2)) / 2).astype("u2")
        write_tif(root / f"L_2016_{doy}.tif", dn, **profile)
        write_tif(root / f"M_2016_{doy}-nearestneighbor.tif", nearest, **profile)
        write_tif(root / f"M_2016_{doy}-bilinear.tif", bilinear, **profile)


def make_yanco(root: Path) -> None:
    """Yanco LST: float32 Kelvin GeoTIFFs, 1 band, EPSG:4326 at 0.001 degrees, LZW, band
    interleave, nodata -3.4e38 (cloud-removed Landsat gaps); 8 x 8 pixels (real: 400 x 400)."""
    profile = {
        "crs": CRS.from_epsg(4326),
        "transform": Affine(0.001, 0.0, 146.0, 0.0, -0.001, -34.8),
        "nodata": FLOAT32_NODATA,
        "compress": "lzw",
        "interleave": "band",
    }
    shape = (1, 8, 8)
    for i, day in enumerate(("20160205", "20160218", "20160308")):
        lst = 295 + 20 * pattern(shape, i)
        modis = block_mean(lst, 4).astype("f4")
        write_tif(root / f"MOD11A1_LST_cloudrm_{day}.tif", modis, **profile)
        if day != "20160218":
            fine = lst.astype("f4")
            fine[:, 3, 4] = FLOAT32_NODATA
            write_tif(root / f"Landsat_LST_cloudrm_{day}.tif", fine, **profile)


IFSDAF_SHAPE = (16, 24)
"""Rows, columns of the fake IFSDAF Landsat NDVI (the real ones are 552 x 576)."""
IFSDAF_FACTOR = 8
IFSDAF_CLOUDY = (191, 200, 239)
"""Days of year whose CFMask flags more than 20 % of the image (left out by prepare_data)."""
IFSDAF_SCENES = {
    104: "LC81250382015104LGN00",
    191: "LC81260382015191LGN00",
    200: "LC81250382015200LGN00",
    216: "LC81250382015216LGN00",
    239: "LC81260382015239LGN00",
    248: "LC81250382015248LGN00",
    287: "LC81260382015287LGN00",
    344: "LC81250382015344LGN00",
    360: "LC81250382015360LGN00",
}
"""Day of year (2015) -> Landsat-8 scene id; all but DOY 287 sit in ``Cloud/`` with a CFMask."""


def ifsdaf_mask(doy: int) -> np.ndarray:
    """The fake CFMask of a date: clear (0), water (1), a cloud (4) with its shadow (2), fill
    (255) in one corner; mostly cloud on :data:`IFSDAF_CLOUDY`."""
    rows, cols = IFSDAF_SHAPE
    mask = np.zeros(IFSDAF_SHAPE, "u1")
    mask[rows - 2 :, :3] = 1
    mask[0, 0] = 255
    mask[4 + doy % 5, 10:12], mask[5 + doy % 5, 12] = 4, 2
    if doy in IFSDAF_CLOUDY:
        mask[: rows // 2] = 4
    return mask


def make_ifsdaf(root: Path) -> None:
    """IFSDAF NDVI: headerless-named ENVI BSQ (``Arbitrary`` map info, 30 m): Landsat NDVI x 1e4
    (int16, -9999 outside the image) with CFMask (uint8 classification), and 23 MODIS 16-day
    composites (int16, 240 m) on their own 8x coarser grid; 16 x 24 pixels (real: 552 x 576)."""
    rows, cols = IFSDAF_SHAPE
    arbitrary = "{Arbitrary, 1.0000, 1.0000, 1.0000, 1.0000, %.10e, %.10e, 1, units=Meters}"
    start = ("x start = 0", "y start = 0")
    for doy, scene in IFSDAF_SCENES.items():
        folder = root if doy == 287 else root / "Cloud"
        folder.mkdir(parents=True, exist_ok=True)
        ndvi = np.round(1000 + 6000 * pattern((1, rows, cols), doy)).astype("<i2")
        mask = ifsdaf_mask(doy)
        ndvi[:, mask == 255] = -9999
        extra = (*start, "map info = " + arbitrary % (30.0, 30.0), "wavelength units = Unknown")
        header = envi_header(ndvi.shape, 2, description="Applied Mask Result", extra=extra)
        write_envi(folder / f"{scene}_ndvi", ndvi, header, folder / f"{scene}_ndvi.hdr")
        if doy != 287:
            classes = (
                "classes = 5",
                "class names = {\n Unclassified, Class 1, Class 2, Class 3, Class 4}",
            )
            header = envi_header(
                (1, rows, cols), 1, description="Applied Mask Result", extra=extra + classes
            ).replace("ENVI Standard", "ENVI Classification")
            write_envi(
                folder / f"{scene}_mask",
                mask[None],
                header,
                folder / f"{scene}_mask.hdr",
                dtype="u1",
            )
    shape = (23, rows // IFSDAF_FACTOR, cols // IFSDAF_FACTOR)
    modis = np.round(2000 + 5000 * pattern(shape, 1)).astype("<i2")
    names = ", ".join(f"Band Math (Band {b}:reg_MOD_t_clear)" for b in range(1, 24))
    extra = (*start, "map info = " + arbitrary % (240.0, 240.0), f"band names = {{\n {names}}}")
    header = envi_header(shape, 2, description="Band Math Result", extra=extra)
    write_envi(root / "MOD_16Day_ndvi", modis, header, root / "MOD_16Day_ndvi.hdr")


EOLEARN_SHAPE = (5, 11, 10, 13)
"""Dates, rows, columns, bands of the fake REFERENCE_SCENES.npy (real: 5 x 101 x 100 x 13)."""


def eolearn_timestamps() -> list[str]:
    """68 fake acquisition times, ten days apart from 2015-07-11 (the real file has 68)."""
    start = dt.datetime(2015, 7, 11, 10, 0, 8)
    return [(start + dt.timedelta(days=10 * i)).isoformat() for i in range(68)]


def make_eolearn(root: Path) -> None:
    """eo-learn EOPatch: Sentinel-2 L1C TOA reflectance ``REFERENCE_SCENES.npy`` (float32, dates
    x rows x columns x 13 bands), ``timestamps.json`` and ``bbox.geojson`` (EPSG:32633 polygon)."""
    dates, rows, cols, bands = EOLEARN_SHAPE
    stack = np.stack([0.05 + 0.3 * pattern((bands, rows, cols), i) for i in range(dates)])
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "REFERENCE_SCENES.npy", stack.transpose(0, 2, 3, 1).astype("<f4"))
    (root / "timestamps.json").write_text(json.dumps(eolearn_timestamps(), indent=2) + "\n")
    west, south = 465000.0, 5079000.0
    east, north = west + 10.0 * cols, south + 10.0 * rows
    ring = [[west, south], [west, north], [east, north], [east, south], [west, south]]
    bbox = {
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}},
        "type": "Polygon",
        "coordinates": [ring],
    }
    (root / "bbox.geojson").write_text(json.dumps(bbox, indent=2) + "\n")


SHARED = {
    "cia_e2starfm_3dates": make_cia_derived,
    "lgc_fsdaf_subset": lambda root: make_lgc_fsdaf(root / "original"),
    "kranj_imagefusion_2020": lambda root: make_kranj(root / "original"),
    "imagefusion_realset1_2016": lambda root: make_realset1(root / "original"),
    "yanco_lst_ubestarfm_2016": lambda root: make_yanco(root / "original"),
    "ifsdaf_ndvi_2015": lambda root: make_ifsdaf(root / "original"),
    "eolearn_s2_testeopatch_2015_2017": lambda root: make_eolearn(root / "original"),
}
"""Folder of ../shared/data -> the function writing its miniature into ``shared/<folder>``."""


def make_all(out: Path = HERE) -> list[Path]:
    """Rewrite :data:`FOLDERS` under ``out``; every file written, sorted."""
    out = Path(out)
    for name in FOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)
    make_csiro(out / "csiro")
    (out / "envi").mkdir(parents=True)
    make_envi(out / "envi")
    for name, make in SHARED.items():
        make(out / "shared" / name)
    return sorted(p for name in FOLDERS for p in (out / name).rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    """Command line: write the files and print their total size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="root folder (default: here)")
    files = make_all(parser.parse_args(argv).out)
    total = sum(p.stat().st_size for p in files)
    print(f"wrote {len(files)} files, {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
