"""Turn the real datasets of ``../shared/data`` into clean est-stfm scenes for the benchmark.

    python benchmarks/prepare_data.py [--data DIR] [--out DIR] [--only NAME]...

The data folder defaults to ``<repo>/../shared/data`` (or ``$EST_STFM_SHARED_DATA``); the scenes
go to ``benchmarks/scenes/<name>/`` (git-ignored): ``scene.yaml``, ``dataset.yaml`` (the record
below) and, only where the original files cannot be used as they are, converted float32 GeoTIFFs.
The real data is never copied into the repository. A dataset that cannot be made usable is
skipped with a printed reason; the others still run. Importable: :func:`prepare` and
:data:`DATASETS`.

Each dataset is a converter registered with its record's fixed fields (:func:`dataset`); its
docstring says how the files become a scene ("as is": the scene points at the original file;
"->": a float32 GeoTIFF is written in the scene folder). Nominal MODIS pixel sizes (500 m
reflectance, 1 km LST) are used where the real one is unknown.

| folder                    | files                       | unit, range  | ERGAS    | coarse |
|---------------------------|-----------------------------|--------------|----------|--------|
| cia_e2starfm_3dates       | derived GeoTIFFs as is      | refl., 1     | 50/500   | real   |
| lgc_fsdaf_subset          | ENVI int16 x1e4 as is       | refl., 1     | 1/16     | simul. |
| kranj_imagefusion_2020    | Landsat ->; MODIS as is     | refl., 1     | 30/500   | real   |
| imagefusion_realset1_2016 | Landsat ->; MODIS as is     | refl., 1     | 1/14.7   | real   |
| yanco_lst_ubestarfm_2016  | LST GeoTIFFs as is          | K, 22.15     | 100/1000 | real   |
| ifsdaf_ndvi_2015          | NDVI ->; MODIS ->           | NDVI, 2      | 30/240   | real   |
| eolearn_s2_testeopatch_*  | .npy ->, coarse ->          | TOA refl., 1 | 10/100   | simul. |
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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio
import yaml
from affine import Affine

from est_stfm.datasets.degrade import block_average, upsample_bilinear, upsample_nearest
from est_stfm.io import GeoreferencingWarning, Grid, read_grid, read_raster, write_raster
from est_stfm.scene import load_scene, save_scene

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "scenes"
ENV_VAR = "EST_STFM_SHARED_DATA"
REFLECTANCE_BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
MAX_MASKED = 0.20
"""ifsdaf: a Landsat date is usable when CFMask flags at most this fraction of its pixels."""
CFMASK_UNUSABLE = (2, 3, 4, 255)  # shadow, snow, cloud, fill


class SkipDataset(Exception):
    """The dataset cannot be made usable; the message says why."""


@dataclass(kw_only=True)
class DatasetRecord:
    """What a prepared dataset is: where, what it measures, how to score it (``dataset.yaml``).
    The defaults are the common case: reflectance 0-1 from a real coarse sensor."""

    name: str
    scene: str = "scene.yaml"
    site: str
    sensors: str
    bands: list[str]
    unit: str = "reflectance"
    data_range: float = 1.0
    ergas_ratio: float
    coarse: str = "real"
    pair_dates: list[str] = field(default_factory=list)
    notes: str = ""
    converted: list[str] = field(default_factory=list)


@dataclass
class Converted:
    """A converter's result: the scene's images per date (the fine dates are the pair dates), how
    the scene reads them, and what only the data can tell (a measured range, skipped dates)."""

    factor: float
    """Coarse pixel size in fine pixels (the scene's ``coarse_factor``; FSDAF needs it)."""
    fine: dict[dt.date, Path] = field(default_factory=dict)
    coarse: dict[dt.date, Path] = field(default_factory=dict)
    scale: float = 1.0
    unit: str = "reflectance"
    data_range: float | None = None
    notes: str = ""

    def write_scene(self, dst: Path, record: DatasetRecord) -> DatasetRecord:
        """Write ``dst/scene.yaml``; return ``record`` completed with what the files told."""
        scene = dst / record.scene
        save_scene(
            scene, self.fine, self.coarse, self.scale, unit=self.unit, coarse_factor=self.factor
        )
        days = sorted(set(self.fine) | set(self.coarse))
        images = [paths[d] for d in days for paths in (self.fine, self.coarse) if d in paths]
        return replace(
            record,
            bands=list(record.bands),
            data_range=record.data_range if self.data_range is None else self.data_range,
            pair_dates=[d.isoformat() for d in sorted(self.fine)],
            notes="; ".join(n for n in (record.notes, self.notes) if n),
            converted=[p.name for p in images if p.parent == dst],
        )


Converter = Callable[[Path, Path], Converted]  # (source folder, scene folder) -> its images

DATASETS: dict[str, tuple[DatasetRecord, Converter]] = {}
"""Dataset folder name -> its record's fixed fields and its converter, in the order they run."""


def dataset(record: DatasetRecord) -> Callable[[Converter], Converter]:
    """Register the decorated converter for the shared data's folder ``record.name``."""

    def register(convert: Converter) -> Converter:
        DATASETS[record.name] = (record, convert)
        return convert

    return register


def default_data_dir() -> Path:
    """``$EST_STFM_SHARED_DATA`` when set, else ``<repo>/../shared/data``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else REPO.parent / "shared" / "data"


def doy_date(year: int, doy: int) -> dt.date:
    """The calendar date of a day of year."""
    return dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)


def need(path: Path) -> Path:
    """``path``, or :class:`SkipDataset` when it does not exist."""
    if not path.exists():
        raise SkipDataset(f"missing file {path}")
    return path


# --- one converter per dataset, registered with its facts -------------------------------------


@dataset(
    DatasetRecord(
        name="cia_e2starfm_3dates",
        site="Coleambally Irrigation Area (AU), CIA benchmark subset at 50 m",
        sensors="Landsat-7 ETM+ / MODIS MOD09GA",
        bands=list(REFLECTANCE_BANDS),
        ergas_ratio=50 / 500,
        notes="50 m grid (ENVI pyramid level of the 25 m CIA images); MODIS smoothly resampled",
    )
)
def convert_cia(src: Path, dst: Path) -> Converted:
    """CIA: the derived GeoTIFFs are float32 reflectance on one grid: used as they are."""
    dates = [dt.date(2001, 10, 8), dt.date(2001, 10, 17), dt.date(2001, 11, 2)]
    fine = {d: need(src / "derived" / f"L_{d:%Y%m%d}_50m.tif") for d in dates}
    coarse = {d: need(src / "derived" / f"M_{d:%Y%m%d}_50m.tif") for d in dates}
    return Converted(10.0, fine, coarse)  # MODIS 500 m onto the 50 m grid


@dataset(
    DatasetRecord(
        name="lgc_fsdaf_subset",
        site="Lower Gwydir Catchment (AU), 480 x 480 window",
        sensors="Landsat-5 TM / simulated coarse (16 x 16 block mean of the Landsat image)",
        bands=["green", "red", "nir"],
        ergas_ratio=1 / 16,
        coarse="simulated",
        notes="bands inferred (green, red, NIR); not a cross-sensor test",
    )
)
def convert_lgc(src: Path, dst: Path) -> Converted:
    """LGC (FSDAF subset): ENVI int16 x1e4 as is (GDAL reads the ENVI headers next to the files).
    Coarse = the FSDAF authors' 16 x 16 block mean of the Landsat image (not MODIS)."""
    dates = [dt.date(2004, 11, 26), dt.date(2004, 12, 28)]
    fine = {d: need(src / "original" / f"Landsat{d:%Y%m%d}") for d in dates}
    coarse = {d: need(src / "original" / f"MODIS{d:%Y%m%d}") for d in dates}
    first = read_grid(fine[dates[0]])  # fails here (skip) if GDAL cannot find the header
    for path in [*fine.values(), *coarse.values()]:
        grid = read_grid(path)
        if (grid.count, grid.dtype, grid.shape) != (3, "int16", first.shape):
            raise SkipDataset(
                f"{path} is not 3-band int16 on the {first.size_text()} grid (GDAL read {grid})"
            )
    return Converted(16.0, fine, coarse, scale=1e-4)


@dataset(
    DatasetRecord(
        name="kranj_imagefusion_2020",
        site="Kranj (SI), 44 x 45 px",
        sensors="Landsat-8 / MODIS (daily, filled)",
        bands=list(REFLECTANCE_BANDS),
        ergas_ratio=30 / 500,
        notes="tiny; unfilled Landsat (gaps are nodata); bands inferred",
    )
)
def convert_kranj(src: Path, dst: Path) -> Converted:
    """Kranj: unfilled Landsat x1e4 -> reflectance (/ 1e4), its nodata kept; MODIS is already 0-1
    on the fine grid (as is). Pair dates DOY 068, 077, 093 (DOY 100 has no MODIS)."""
    out = Converted(15.4)  # MODIS 463 m (sinusoidal) onto 29.9 x 30 m: knots of the bilinear
    for doy in (68, 77, 93):
        day = doy_date(2020, doy)
        landsat = sorted((src / "original" / "landsat" / "unfilled").glob(f"2020{doy:03d}_*.tif"))
        modis = sorted((src / "original" / "modis" / "filled").glob(f"2020{doy:03d}_*.tif"))
        if len(landsat) != 1 or len(modis) != 1:
            raise SkipDataset(f"expected one Landsat and one MODIS file for DOY {doy}")
        grid = read_grid(landsat[0])
        values, valid = read_raster(landsat[0], scale=1e-4)
        out.fine[day] = dst / f"landsat_{day:%Y%m%d}_reflectance.tif"
        write_raster(out.fine[day], values, grid, valid=valid, descriptions=REFLECTANCE_BANDS)
        out.coarse[day] = modis[0]
    return out


@dataset(
    DatasetRecord(
        name="imagefusion_realset1_2016",
        site="unknown site, 444 x 444 px, no georeferencing",
        sensors="Landsat-8 L1 (DN, TOA-like after rescaling) / MODIS surface reflectance",
        bands=["band1", "band2", "band3 (NIR)", "band4"],
        ergas_ratio=1 / 14.7,
        notes="fine and coarse radiometrically inconsistent (TOA-like vs SR): a hard case",
    )
)
def convert_realset1(src: Path, dst: Path) -> Converted:
    """ImageFusion real-set1: MODIS = the author's bilinear files (uint16 SR x1e4, as is).
    Landsat-8 L1 DN -> (DN x 2e-5 - 0.1) x 1e4: TOA-like reflectance without the sun-angle term,
    stored x1e4 like the MODIS files; DN 0 (fill) and 65535 (saturated) -> nodata. No
    georeferencing (identity transform, as the originals). Fine (TOA-like) and coarse (SR) do
    not match: a hard case."""
    out = Converted(14.7, scale=1e-4)  # measured on the nearest-neighbour MODIS files (SOURCE.md)
    for doy in (220, 236, 243):
        day = doy_date(2016, doy)
        landsat = need(src / "original" / f"L_2016_{doy}.tif")
        modis = need(src / "original" / f"M_2016_{doy}-bilinear.tif")
        with rasterio.open(landsat) as ds:
            dn = ds.read()
            transform, crs = ds.transform, ds.crs
        valid = np.all((dn > 0) & (dn < 65535), axis=0)
        values = (dn.astype(np.float64) * 2e-5 - 0.1) * 1e4
        grid = Grid(crs, transform, dn.shape[2], dn.shape[1], dn.shape[0], "float32", None, ())
        out.fine[day] = dst / f"landsat_{day:%Y%m%d}_toa_x1e4.tif"
        write_raster(out.fine[day], values, grid, valid=valid)
        out.coarse[day] = modis
    return out


@dataset(
    DatasetRecord(
        name="yanco_lst_ubestarfm_2016",
        site="Yanco (AU), 400 x 400 px at 0.001 deg",
        sensors="Landsat LST / MODIS MOD11A1 LST",
        bands=["lst"],
        unit="K",
        data_range=math.nan,  # measured by the converter
        ergas_ratio=100 / 1000,
        notes="data range = max - min of the target date's fine LST",
    )
)
def convert_yanco(src: Path, dst: Path) -> Converted:
    """Yanco LST: float32 Kelvin GeoTIFFs as is; data range = max - min of the target date's fine
    LST (2016-03-08), 22.15 K. Coarse 2016-02-18 is listed too (no fine image)."""
    fine_dates = [dt.date(2016, 2, 5), dt.date(2016, 3, 8)]
    coarse_dates = [dt.date(2016, 2, 5), dt.date(2016, 2, 18), dt.date(2016, 3, 8)]
    original = src / "original"
    fine = {d: need(original / f"Landsat_LST_cloudrm_{d:%Y%m%d}.tif") for d in fine_dates}
    coarse = {d: need(original / f"MOD11A1_LST_cloudrm_{d:%Y%m%d}.tif") for d in coarse_dates}
    truth, valid = read_raster(fine[fine_dates[-1]])
    span = float(truth[:, valid].max() - truth[:, valid].min())
    # MOD11A1 1 km onto 100 m
    return Converted(10.0, fine, coarse, unit="kelvin", data_range=round(span, 2))


@dataset(
    DatasetRecord(
        name="ifsdaf_ndvi_2015",
        site="China, WRS-2 path 125/126 row 038, 576 x 552 px, no georeferencing",
        sensors="Landsat-8 NDVI / MODIS 16-day NDVI composite (240 m)",
        bands=["ndvi"],
        unit="NDVI",
        data_range=2.0,
        ergas_ratio=30 / 240,
    )
)
def convert_ifsdaf(src: Path, dst: Path) -> Converted:
    """IFSDAF NDVI: NDVI x1e4 -> NDVI; CFMask shadow, snow, cloud, fill and NDVI -9999 -> nodata.
    A date is usable when at most :data:`MAX_MASKED` of it is masked (DOY 191, 200 and 239 are
    left out); DOY 287 has no CFMask and is used as is (the IFSDAF authors' validation image).
    MODIS: the 16-day composite covering the date (band ceil(DOY / 16), IFSDAF's rule) / 1e4,
    resampled bilinearly from its 240 m grid onto the 30 m grid (8x, pixel centres aligned)."""
    original = src / "original"
    modis_path = need(original / "MOD_16Day_ndvi")
    scenes = {p.name[:21]: p for p in (original / "Cloud").glob("LC8*_ndvi")}
    scenes.update({p.name[:21]: p for p in original.glob("LC8*_ndvi")})
    if not scenes:
        raise SkipDataset(f"no Landsat NDVI files in {original}")
    grid_in, modis_grid = read_grid(next(iter(scenes.values()))), read_grid(modis_path)
    rows, cols = grid_in.shape  # 552 x 576 at 30 m; the composites 69 x 72 at 240 m
    factor = round(modis_grid.transform.a / grid_in.transform.a)
    coarse_shape = (modis_grid.count, modis_grid.height * factor, modis_grid.width * factor)
    if coarse_shape != (23, rows, cols):
        raise SkipDataset(f"{modis_path} is not 23 composites {factor}x coarser than {grid_in}")
    modis = np.fromfile(modis_path, "<i2").reshape(23, rows // factor, cols // factor)
    grid = Grid(None, grid_in.transform, cols, rows, 1, "float32", math.nan, ("ndvi",))
    out, skipped = Converted(factor, unit="ndvi"), []
    for scene_id, path in sorted(scenes.items(), key=lambda item: int(item[0][13:16])):
        doy = int(scene_id[13:16])
        day = doy_date(2015, doy)
        ndvi = np.fromfile(path, "<i2").reshape(rows, cols)
        invalid = ndvi <= -9999
        mask_path = path.with_name(path.name.replace("_ndvi", "_mask"))
        if mask_path.exists():
            invalid |= np.isin(np.fromfile(mask_path, "u1").reshape(rows, cols), CFMASK_UNUSABLE)
        if invalid.mean() > MAX_MASKED:
            skipped.append(f"DOY {doy} ({invalid.mean():.0%} masked)")
            continue
        out.fine[day] = dst / f"landsat_ndvi_{day:%Y%m%d}.tif"
        write_raster(out.fine[day], ndvi[None] / 1e4, grid, valid=~invalid)
        band = math.ceil(doy / 16)
        composite = upsample_bilinear(modis[band - 1] / 1e4, (rows, cols), factor)
        out.coarse[day] = dst / f"modis_ndvi_{day:%Y%m%d}_band{band:02d}_bilinear.tif"
        write_raster(out.coarse[day], composite.astype(np.float32)[None], grid)
    if len(out.fine) < 2:
        raise SkipDataset(f"fewer than 2 usable dates (skipped {', '.join(skipped)})")
    out.notes = "cloudy dates left out: " + ", ".join(skipped)
    return out


S2_SURFACE_BANDS = (1, 2, 3, 4, 5, 6, 7, 8, 11, 12)
S2_BAND_NAMES = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")


@dataset(
    DatasetRecord(
        name="eolearn_s2_testeopatch_2015_2017",
        site="Slovenia, 1 km x 1 km, 100 x 100 px at 10 m",
        sensors="Sentinel-2 L1C / simulated coarse (10 x 10 block mean of the fine image)",
        bands=list(S2_BAND_NAMES),
        unit="reflectance (TOA)",
        ergas_ratio=1 / 10,
        coarse="simulated",
        notes="no coarse sensor: simulated; tiny; B01, B09, B10 dropped",
    )
)
def convert_eolearn(src: Path, dst: Path) -> Converted:
    """eo-learn Sentinel-2 L1C TOA: the clean dates 2015-08-20, 08-30, 09-09 (.npy ->), rows and
    columns cropped to whole coarse pixels (rows 101 -> 100), the 10 surface bands (B01, B09, B10
    dropped: 60 m atmospheric bands; cirrus B10 has mean 0.001 and would dominate ERGAS);
    EPSG:32633 from bbox.geojson. No coarse sensor: coarse = 10 x 10 block mean of the fine
    image, replicated back onto the fine grid."""
    original = src / "original"
    stack = np.load(need(original / "REFERENCE_SCENES.npy"))
    stamps = json.loads(need(original / "timestamps.json").read_text())
    bbox = json.loads(need(original / "bbox.geojson").read_text())
    factor = 10  # the simulated coarse pixel, in fine pixels
    if stack.ndim != 4 or stack.shape[0] < 5 or stack.shape[3] != 13:
        raise SkipDataset(
            f"REFERENCE_SCENES.npy is shaped {stack.shape}, expected (5, 101, 100, 13)"
        )
    rows, cols = (n // factor * factor for n in stack.shape[1:3])  # 100 x 100
    if not rows or not cols:
        raise SkipDataset(f"REFERENCE_SCENES.npy ({stack.shape}) is smaller than a coarse pixel")
    xs = [p[0] for p in bbox["coordinates"][0]]
    ys = [p[1] for p in bbox["coordinates"][0]]
    xres, yres = (max(xs) - min(xs)) / stack.shape[2], (max(ys) - min(ys)) / stack.shape[1]
    transform = Affine(xres, 0, min(xs), 0, -yres, max(ys))
    crs = rasterio.crs.CRS.from_epsg(32633)
    grid = Grid(crs, transform, cols, rows, len(S2_BAND_NAMES), "float32", math.nan, S2_BAND_NAMES)
    out = Converted(factor)
    for index in (2, 3, 4):  # the clean dates (SOURCE.md)
        day = dt.date.fromisoformat(stamps[index][:10])
        image = stack[index, :rows, :cols, :].transpose(2, 0, 1)[list(S2_SURFACE_BANDS)]
        out.fine[day] = dst / f"s2_{day:%Y%m%d}.tif"
        out.coarse[day] = dst / f"s2_{day:%Y%m%d}_blockmean{factor}.tif"
        write_raster(out.fine[day], image, grid)
        blocks = block_average(image, factor)
        write_raster(out.coarse[day], upsample_nearest(blocks, image.shape[-2:], factor), grid)
    return out


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
        record, convert = DATASETS[name]
        record = convert(src, dst).write_scene(dst, record)
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
