"""Turn the real datasets of ``../shared/data`` into clean est-stfm scenes for the benchmark.

    python benchmarks/prepare_data.py [--data DIR] [--out DIR] [--only NAME]...

The data folder defaults to ``<repo>/../shared/data`` (or ``$EST_STFM_SHARED_DATA``); the scenes
go to ``benchmarks/scenes/<name>/`` (git-ignored): ``scene.yaml``, ``dataset.yaml`` (the record
below) and, only where the original files cannot be used as they are, converted float32 GeoTIFFs.
The real data is never copied into the repository. A dataset that cannot be made usable is
skipped with a printed reason; the others still run. Importable: :func:`prepare` and
:data:`DATASETS`.

What each dataset becomes ("as is": the scene points at the original file; "->": a float32
GeoTIFF is written in the scene folder; the scene's ``scale`` turns stored values into the unit):

| folder                    | files                       | unit, range  | ERGAS    | coarse |
|---------------------------|-----------------------------|--------------|----------|--------|
| cia_e2starfm_3dates       | derived GeoTIFFs as is      | refl., 1     | 50/500   | real   |
| lgc_fsdaf_subset          | ENVI int16 x1e4 as is (a)   | refl., 1     | 1/16     | simul. |
| kranj_imagefusion_2020    | Landsat -> (b); MODIS as is | refl., 1     | 30/500   | real   |
| imagefusion_realset1_2016 | Landsat -> (c); MODIS as is | refl., 1     | 1/14.7   | real   |
| yanco_lst_ubestarfm_2016  | LST GeoTIFFs as is          | K, 22.15 (d) | 100/1000 | real   |
| ifsdaf_ndvi_2015          | NDVI -> (e); MODIS -> (f)   | NDVI, 2      | 30/240   | real   |
| eolearn_s2_testeopatch_*  | .npy -> (g), coarse -> (h)  | TOA refl., 1 | 10/100   | simul. |

(a) GDAL reads the ENVI headers next to the files; scale 1e-4. Coarse = the FSDAF authors'
    16 x 16 block mean of the Landsat image (not MODIS). 2 pair dates.
(b) Unfilled Landsat x1e4 -> reflectance (/ 1e4), its nodata kept; MODIS is already 0-1 on the
    fine grid. Pair dates DOY 068, 077, 093 (DOY 100 has no MODIS).
(c) MODIS: the author's bilinear files (uint16 SR x1e4). Landsat-8 L1 DN -> (DN x 2e-5 - 0.1)
    x 1e4 (TOA-like reflectance without the sun-angle term, stored x1e4 like the MODIS files,
    scale 1e-4); DN 0 (fill) and 65535 (saturated) -> nodata. No georeferencing (identity
    transform, as the originals). Coarse cell 14.7 fine pixels (measured on the
    nearest-neighbour files, SOURCE.md). Fine (TOA-like) and coarse (SR) do not match: hard.
(d) Kelvin; data range = max - min of the target date's fine LST (2016-03-08), 22.15 K.
    MOD11A1 1 km over 100 m fine pixels. Coarse 2016-02-18 is listed too (no fine image).
(e) NDVI x1e4 -> NDVI; CFMask shadow (2), snow (3), cloud (4), fill (255) and NDVI -9999
    -> nodata. A date is usable when at most 20 % of it is masked: DOY 191, 200 and 239 are
    left out; DOY 287 has no CFMask and is used as is (the IFSDAF authors' validation image).
(f) The 16-day composite covering the date (band ceil(DOY/16), IFSDAF's rule) / 1e4, resampled
    bilinearly from its 240 m grid onto the 30 m grid (8x, pixel centres aligned).
(g) Sentinel-2 L1C TOA, the clean dates 2015-08-20, 08-30, 09-09, rows cropped 101 -> 100,
    the 10 surface bands (B01, B09, B10 dropped: 60 m atmospheric bands; cirrus B10 has mean
    0.001 and would dominate ERGAS); EPSG:32633 from bbox.geojson.
(h) No coarse sensor: simulated coarse = 10 x 10 block mean of the fine image, replicated back.

Nominal MODIS pixel sizes (500 m reflectance, 1 km LST) are used where the real one is unknown.
Every scene.yaml carries ``coarse_factor`` (coarse pixel size in fine pixels; FSDAF needs it):
CIA 10, LGC 16, Kranj 15.4, realset1 14.7, Yanco 10, ifsdaf 8, eolearn 10.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import yaml
from affine import Affine

from est_stfm.io import read_grid, read_raster, write_raster
from est_stfm.io.raster import GeoreferencingWarning, Grid
from est_stfm.scene import load_scene
from est_stfm.scene.scene import save_scene

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "scenes"
ENV_VAR = "EST_STFM_SHARED_DATA"
REFLECTANCE_BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
MAX_MASKED = 0.20
"""ifsdaf: a Landsat date is usable when CFMask flags at most this fraction of its pixels."""

# Coarse pixel size in fine pixels (the scene's ``coarse_factor``, needed by FSDAF) where the
# coarse images come already on the fine grid (ifsdaf and eolearn use their own ``factor``).
CIA_FACTOR = 10.0  # MODIS 500 m onto the 50 m grid
LGC_FACTOR = 16.0  # simulated: 16 x 16 block means
KRANJ_FACTOR = 15.4  # MODIS 463 m (sinusoidal) onto 29.9 x 30 m; knots of the bilinear MODIS
REALSET1_FACTOR = 14.7  # measured on the nearest-neighbour MODIS files (SOURCE.md)
YANCO_FACTOR = 10.0  # MOD11A1 1 km onto 100 m


class SkipDataset(Exception):
    """The dataset cannot be made usable; the message says why."""


@dataclass
class DatasetRecord:
    """What a prepared dataset is: where, what it measures, how to score it."""

    name: str
    scene: str
    site: str
    sensors: str
    bands: list[str]
    unit: str
    data_range: float
    ergas_ratio: float
    coarse: str
    pair_dates: list[str]
    notes: str = ""
    converted: list[str] = field(default_factory=list)


def default_data_dir() -> Path:
    """``$EST_STFM_SHARED_DATA`` when set, else ``<repo>/../shared/data``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else REPO.parent / "shared" / "data"


def doy_date(year: int, doy: int) -> dt.date:
    """The calendar date of a day of year."""
    return dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)


def _need(path: Path) -> Path:
    if not path.exists():
        raise SkipDataset(f"missing file {path}")
    return path


def _iso(dates) -> list[str]:
    return [d.isoformat() for d in sorted(dates)]


def upsample_bilinear(image: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear resampling of ``(H, W)`` onto a grid ``factor`` times finer, pixel centres aligned.

    A fine pixel centre lies at ``(i + 0.5) / factor - 0.5`` in coarse pixel units; positions
    beyond the outer coarse centres take the edge value.
    """

    def axis(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0, n - 1)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        return i0, i1, (pos - i0).astype(np.float64)

    img = image.astype(np.float64)
    r0, r1, wr = axis(img.shape[0])
    rows = img[r0] * (1 - wr)[:, None] + img[r1] * wr[:, None]
    c0, c1, wc = axis(img.shape[1])
    return (rows[:, c0] * (1 - wc) + rows[:, c1] * wc).astype(np.float32)


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """``(bands, H, W)`` averaged over ``factor`` x ``factor`` blocks and replicated back."""
    b, h, w = image.shape
    blocks = image.reshape(b, h // factor, factor, w // factor, factor).mean(axis=(2, 4))
    return np.repeat(np.repeat(blocks, factor, axis=1), factor, axis=2).astype(np.float32)


# --- one function per dataset: (source folder, scene folder) -> record -------------------------


def prepare_cia(src: Path, dst: Path) -> DatasetRecord:
    """CIA: the derived GeoTIFFs are float32 reflectance on one grid: used as they are."""
    dates = [dt.date(2001, 10, 8), dt.date(2001, 10, 17), dt.date(2001, 11, 2)]
    fine = {d: _need(src / "derived" / f"L_{d:%Y%m%d}_50m.tif") for d in dates}
    coarse = {d: _need(src / "derived" / f"M_{d:%Y%m%d}_50m.tif") for d in dates}
    save_scene(dst / "scene.yaml", fine, coarse, scale=1.0, coarse_factor=CIA_FACTOR)
    return DatasetRecord(
        name="cia_e2starfm_3dates",
        scene="scene.yaml",
        site="Coleambally Irrigation Area (AU), CIA benchmark subset at 50 m",
        sensors="Landsat-7 ETM+ / MODIS MOD09GA",
        bands=list(REFLECTANCE_BANDS),
        unit="reflectance",
        data_range=1.0,
        ergas_ratio=50 / 500,
        coarse="real",
        pair_dates=_iso(dates),
        notes="50 m grid (ENVI pyramid level of the 25 m CIA images); MODIS smoothly resampled",
    )


def prepare_lgc(src: Path, dst: Path) -> DatasetRecord:
    """LGC (FSDAF subset): ENVI int16 x1e4 that GDAL opens directly; coarse is simulated."""
    dates = [dt.date(2004, 11, 26), dt.date(2004, 12, 28)]
    fine = {d: _need(src / "original" / f"Landsat{d:%Y%m%d}") for d in dates}
    coarse = {d: _need(src / "original" / f"MODIS{d:%Y%m%d}") for d in dates}
    for path in [*fine.values(), *coarse.values()]:
        grid = read_grid(path)  # fails here (skip) if GDAL cannot find the header
        if (grid.count, grid.width, grid.height, grid.dtype) != (3, 480, 480, "int16"):
            raise SkipDataset(f"{path} is not 3 x 480 x 480 int16 (GDAL read {grid})")
    save_scene(dst / "scene.yaml", fine, coarse, scale=1e-4, coarse_factor=LGC_FACTOR)
    return DatasetRecord(
        name="lgc_fsdaf_subset",
        scene="scene.yaml",
        site="Lower Gwydir Catchment (AU), 480 x 480 window",
        sensors="Landsat-5 TM / simulated coarse (16 x 16 block mean of the Landsat image)",
        bands=["green", "red", "nir"],
        unit="reflectance",
        data_range=1.0,
        ergas_ratio=1 / 16,
        coarse="simulated",
        pair_dates=_iso(dates),
        notes="bands inferred (green, red, NIR); not a cross-sensor test",
    )


def prepare_kranj(src: Path, dst: Path) -> DatasetRecord:
    """Kranj: Landsat x1e4 -> reflectance (unfilled, nodata kept); MODIS 0-1 used as is."""
    doys = (68, 77, 93)
    fine, coarse, converted = {}, {}, []
    for doy in doys:
        day = doy_date(2020, doy)
        landsat = sorted((src / "original" / "landsat" / "unfilled").glob(f"2020{doy:03d}_*.tif"))
        modis = sorted((src / "original" / "modis" / "filled").glob(f"2020{doy:03d}_*.tif"))
        if len(landsat) != 1 or len(modis) != 1:
            raise SkipDataset(f"expected one Landsat and one MODIS file for DOY {doy}")
        grid = read_grid(landsat[0])
        values, valid = read_raster(landsat[0], scale=1e-4)
        out = dst / f"landsat_{day:%Y%m%d}_reflectance.tif"
        write_raster(out, values, grid, valid=valid, descriptions=REFLECTANCE_BANDS)
        fine[day], coarse[day] = out, modis[0]
        converted.append(out.name)
    save_scene(dst / "scene.yaml", fine, coarse, scale=1.0, coarse_factor=KRANJ_FACTOR)
    return DatasetRecord(
        name="kranj_imagefusion_2020",
        scene="scene.yaml",
        site="Kranj (SI), 44 x 45 px",
        sensors="Landsat-8 / MODIS (daily, filled)",
        bands=list(REFLECTANCE_BANDS),
        unit="reflectance",
        data_range=1.0,
        ergas_ratio=30 / 500,
        coarse="real",
        pair_dates=_iso(fine),
        notes="tiny; unfilled Landsat (gaps are nodata); bands inferred",
        converted=converted,
    )


def prepare_realset1(src: Path, dst: Path) -> DatasetRecord:
    """ImageFusion real-set1: L1 DN -> reflectance x1e4 (float32); bilinear MODIS used as is."""
    doys = (220, 236, 243)
    fine, coarse, converted = {}, {}, []
    for doy in doys:
        day = doy_date(2016, doy)
        landsat = _need(src / "original" / f"L_2016_{doy}.tif")
        modis = _need(src / "original" / f"M_2016_{doy}-bilinear.tif")
        with rasterio.open(landsat) as ds:
            dn = ds.read()
            transform, crs = ds.transform, ds.crs
        valid = np.all((dn > 0) & (dn < 65535), axis=0)  # 0 = fill, 65535 = saturated
        values = (dn.astype(np.float64) * 2e-5 - 0.1) * 1e4  # stored x1e4, like the MODIS files
        grid = Grid(crs, transform, dn.shape[2], dn.shape[1], dn.shape[0], "float32", None, ())
        out = dst / f"landsat_{day:%Y%m%d}_toa_x1e4.tif"
        write_raster(out, values, grid, valid=valid)
        fine[day], coarse[day] = out, modis
        converted.append(out.name)
    save_scene(dst / "scene.yaml", fine, coarse, scale=1e-4, coarse_factor=REALSET1_FACTOR)
    return DatasetRecord(
        name="imagefusion_realset1_2016",
        scene="scene.yaml",
        site="unknown site, 444 x 444 px, no georeferencing",
        sensors="Landsat-8 L1 (DN, TOA-like after rescaling) / MODIS surface reflectance",
        bands=["band1", "band2", "band3 (NIR)", "band4"],
        unit="reflectance",
        data_range=1.0,
        ergas_ratio=1 / 14.7,
        coarse="real",
        pair_dates=_iso(fine),
        notes="fine and coarse radiometrically inconsistent (TOA-like vs SR): a hard case",
        converted=converted,
    )


def prepare_yanco(src: Path, dst: Path) -> DatasetRecord:
    """Yanco LST: float32 Kelvin GeoTIFFs used as they are; data range from the target truth."""
    fine_dates = [dt.date(2016, 2, 5), dt.date(2016, 3, 8)]
    coarse_dates = [dt.date(2016, 2, 5), dt.date(2016, 2, 18), dt.date(2016, 3, 8)]
    original = src / "original"
    fine = {d: _need(original / f"Landsat_LST_cloudrm_{d:%Y%m%d}.tif") for d in fine_dates}
    coarse = {d: _need(original / f"MOD11A1_LST_cloudrm_{d:%Y%m%d}.tif") for d in coarse_dates}
    truth, valid = read_raster(fine[fine_dates[-1]])
    span = float(truth[:, valid].max() - truth[:, valid].min())
    save_scene(
        dst / "scene.yaml", fine, coarse, scale=1.0, unit="kelvin", coarse_factor=YANCO_FACTOR
    )
    return DatasetRecord(
        name="yanco_lst_ubestarfm_2016",
        scene="scene.yaml",
        site="Yanco (AU), 400 x 400 px at 0.001 deg",
        sensors="Landsat LST / MODIS MOD11A1 LST",
        bands=["lst"],
        unit="K",
        data_range=round(span, 2),
        ergas_ratio=100 / 1000,
        coarse="real",
        pair_dates=_iso(fine_dates),
        notes="data range = max - min of the target date's fine LST",
    )


def _cfmask_invalid(mask: np.ndarray) -> np.ndarray:
    """CFMask codes 2 (shadow), 3 (snow), 4 (cloud) and 255 (fill) are not usable."""
    return np.isin(mask, (2, 3, 4, 255))


def prepare_ifsdaf(src: Path, dst: Path) -> DatasetRecord:
    """IFSDAF NDVI: masked float32 NDVI; MODIS 16-day composites resampled bilinear 8x."""
    original = src / "original"
    rows, cols, factor = 552, 576, 8
    modis_path = _need(original / "MOD_16Day_ndvi")
    modis = np.fromfile(modis_path, "<i2")
    if modis.size != 23 * (rows // factor) * (cols // factor):
        raise SkipDataset(f"{modis_path} does not hold 23 x 69 x 72 int16 values")
    modis = modis.reshape(23, rows // factor, cols // factor)
    scenes = {p.name[:21]: p for p in (original / "Cloud").glob("LC8*_ndvi")}
    scenes.update({p.name[:21]: p for p in original.glob("LC8*_ndvi")})
    if not scenes:
        raise SkipDataset(f"no Landsat NDVI files in {original}")
    grid_in = read_grid(next(iter(scenes.values())))
    grid = Grid(None, grid_in.transform, cols, rows, 1, "float32", math.nan, ("ndvi",))
    fine, coarse, converted, skipped = {}, {}, [], []
    for scene_id, path in sorted(scenes.items(), key=lambda item: int(item[0][13:16])):
        doy = int(scene_id[13:16])
        day = doy_date(2015, doy)
        ndvi = np.fromfile(path, "<i2").reshape(rows, cols)
        invalid = ndvi <= -9999
        mask_path = path.with_name(path.name.replace("_ndvi", "_mask"))
        if mask_path.exists():
            invalid |= _cfmask_invalid(np.fromfile(mask_path, "u1").reshape(rows, cols))
        if invalid.mean() > MAX_MASKED:
            skipped.append(f"DOY {doy} ({invalid.mean():.0%} masked)")
            continue
        out_f = dst / f"landsat_ndvi_{day:%Y%m%d}.tif"
        write_raster(out_f, ndvi[None] / 1e4, grid, valid=~invalid)
        band = math.ceil(doy / 16)  # the composite covering this DOY (IFSDAF's rule)
        out_c = dst / f"modis_ndvi_{day:%Y%m%d}_band{band:02d}_bilinear.tif"
        write_raster(out_c, upsample_bilinear(modis[band - 1] / 1e4, factor)[None], grid)
        fine[day], coarse[day] = out_f, out_c
        converted += [out_f.name, out_c.name]
    if len(fine) < 2:
        raise SkipDataset(f"fewer than 2 usable dates (skipped {', '.join(skipped)})")
    save_scene(dst / "scene.yaml", fine, coarse, scale=1.0, unit="ndvi", coarse_factor=factor)
    return DatasetRecord(
        name="ifsdaf_ndvi_2015",
        scene="scene.yaml",
        site="China, WRS-2 path 125/126 row 038, 576 x 552 px, no georeferencing",
        sensors="Landsat-8 NDVI / MODIS 16-day NDVI composite (240 m)",
        bands=["ndvi"],
        unit="NDVI",
        data_range=2.0,
        ergas_ratio=30 / 240,
        coarse="real",
        pair_dates=_iso(fine),
        notes="cloudy dates left out: " + ", ".join(skipped),
        converted=converted,
    )


S2_SURFACE_BANDS = (1, 2, 3, 4, 5, 6, 7, 8, 11, 12)
S2_BAND_NAMES = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")


def prepare_eolearn(src: Path, dst: Path) -> DatasetRecord:
    """eo-learn Sentinel-2: 3 clean dates, 10 bands; coarse simulated by 10x10 block mean."""
    original = src / "original"
    stack = np.load(_need(original / "REFERENCE_SCENES.npy"))
    stamps = json.loads(_need(original / "timestamps.json").read_text())
    bbox = json.loads(_need(original / "bbox.geojson").read_text())
    if stack.shape[1:] != (101, 100, 13):
        raise SkipDataset(
            f"REFERENCE_SCENES.npy is shaped {stack.shape}, expected (5, 101, 100, 13)"
        )
    xs = [p[0] for p in bbox["coordinates"][0]]
    ys = [p[1] for p in bbox["coordinates"][0]]
    xres, yres = (max(xs) - min(xs)) / 100, (max(ys) - min(ys)) / 101
    factor = 10
    grid = Grid(
        rasterio.crs.CRS.from_epsg(32633),
        Affine(xres, 0, min(xs), 0, -yres, max(ys)),
        100,
        100,
        len(S2_SURFACE_BANDS),
        "float32",
        math.nan,
        S2_BAND_NAMES,
    )
    fine, coarse, converted = {}, {}, []
    for index in (2, 3, 4):  # the clean dates (SOURCE.md)
        day = dt.date.fromisoformat(stamps[index][:10])
        image = stack[index, :100, :, :].transpose(2, 0, 1)[list(S2_SURFACE_BANDS)]
        out_f = dst / f"s2_{day:%Y%m%d}.tif"
        out_c = dst / f"s2_{day:%Y%m%d}_blockmean{factor}.tif"
        write_raster(out_f, image, grid)
        write_raster(out_c, block_mean(image, factor), grid)
        fine[day], coarse[day] = out_f, out_c
        converted += [out_f.name, out_c.name]
    save_scene(dst / "scene.yaml", fine, coarse, scale=1.0, coarse_factor=factor)
    return DatasetRecord(
        name="eolearn_s2_testeopatch_2015_2017",
        scene="scene.yaml",
        site="Slovenia, 1 km x 1 km, 100 x 100 px at 10 m",
        sensors="Sentinel-2 L1C / simulated coarse (10 x 10 block mean of the fine image)",
        bands=list(S2_BAND_NAMES),
        unit="reflectance (TOA)",
        data_range=1.0,
        ergas_ratio=1 / factor,
        coarse="simulated",
        pair_dates=_iso(fine),
        notes="no coarse sensor: simulated; tiny; B01, B09, B10 dropped",
        converted=converted,
    )


DATASETS: dict[str, Callable[[Path, Path], DatasetRecord]] = {
    "cia_e2starfm_3dates": prepare_cia,
    "lgc_fsdaf_subset": prepare_lgc,
    "kranj_imagefusion_2020": prepare_kranj,
    "imagefusion_realset1_2016": prepare_realset1,
    "yanco_lst_ubestarfm_2016": prepare_yanco,
    "ifsdaf_ndvi_2015": prepare_ifsdaf,
    "eolearn_s2_testeopatch_2015_2017": prepare_eolearn,
}
"""Dataset folder name -> the function that prepares it."""


def prepare_one(name: str, data_dir: Path, out_dir: Path) -> DatasetRecord:
    """Prepare one dataset into ``out_dir/name``; :class:`SkipDataset` when it cannot be used."""
    src = Path(data_dir) / name
    if not src.is_dir():
        raise SkipDataset(f"{src} not found")
    dst = Path(out_dir) / name
    dst.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # several datasets have no georeferencing, on purpose
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        warnings.simplefilter("ignore", GeoreferencingWarning)
        record = DATASETS[name](src, dst)
        load_scene(dst / record.scene)  # the scene must load; raises a one-line error otherwise
    text = "# written by benchmarks/prepare_data.py\n" + yaml.safe_dump(
        asdict(record), sort_keys=False, allow_unicode=True
    )
    (dst / "dataset.yaml").write_text(text, encoding="utf-8")
    return record


def prepare(
    data_dir: str | Path | None = None,
    out_dir: str | Path = DEFAULT_OUT,
    names: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, DatasetRecord]:
    """Prepare the named datasets (default: all); skipped ones are logged with their reason."""
    data = Path(data_dir) if data_dir else default_data_dir()
    unknown = [n for n in names or [] if n not in DATASETS]
    if unknown:
        raise SystemExit(f"unknown dataset {unknown[0]!r}: choose from {', '.join(DATASETS)}")
    done = {}
    for name in names or list(DATASETS):
        try:
            done[name] = prepare_one(name, data, Path(out_dir))
        except Exception as exc:  # one broken dataset must not stop the others
            log(f"skip {name}: {' '.join(str(exc).split()) or type(exc).__name__}")
            continue
        rec = done[name]
        log(
            f"ok   {name}: {len(rec.pair_dates)} pair dates, {rec.unit}, "
            f"data range {rec.data_range:g}, ERGAS ratio {rec.ergas_ratio:.4g}, {rec.coarse} coarse"
        )
    return done


def main(argv: list[str] | None = None) -> int:
    """Command line: prepare the datasets and print one line per dataset."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help=f"data folder (or ${ENV_VAR})")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="scenes folder")
    ap.add_argument("--only", action="append", default=None, help="dataset name (repeatable)")
    args = ap.parse_args(argv)
    data = args.data or default_data_dir()
    if not data.is_dir():
        print(f"no shared data at {data}: nothing prepared (set --data or ${ENV_VAR})")
        return 0
    done = prepare(data, args.out, args.only)
    print(f"prepared {len(done)} scene(s) under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
