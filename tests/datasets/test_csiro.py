"""The raw CSIRO CIA/LGC layouts: names, dates, headerless and ENVI files, `est-stfm prepare`.

The layouts are the committed fakes of tests/data/csiro (tests/data/make_data.py); odd cases are
written into tmp_path."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from est_stfm.datasets import prepare_csiro
from est_stfm.datasets.csiro import LAYOUTS, Prepared, classify, raw_array, raw_shape
from est_stfm.errors import EstStfmError
from est_stfm.io import GeoreferencingWarning
from est_stfm.scene import load_scene

DATA = Path(__file__).resolve().parents[1] / "data" / "csiro"
"""The committed fake CSIRO layouts (tests/data/make_data.py): cia, cia_envi, lgc, lgc_raw."""
ROWS, COLS = 12, 10  # the fake CIA files
LGC_ROWS, LGC_COLS = 8, 16  # the fake LGC files
CIA_DAYS = [dt.date(2001, 10, 8), dt.date(2001, 10, 17)]  # the folder (MODIS) dates
LGC_DAYS = [dt.date(2004, 4, 16), dt.date(2004, 5, 2)]


def stored(rows: int, cols: int, index: int) -> np.ndarray:
    """The int16 values make_data.py stores in fake CSIRO image ``index`` (fine 2i, coarse
    2i + 1 of the i-th date): unique per band, row and column, so an interleave mix-up shows."""
    b, r, c = np.indices((6, rows, cols))
    return (400 + 300 * b + cols * r + c + 20 * index).astype("<i2")


def image(seed: int, bands: int = 6) -> np.ndarray:
    """Reflectance x 10000 as int16 (bands, ROWS, COLS)."""
    rng = np.random.default_rng(seed)
    return rng.integers(200, 4000, (bands, ROWS, COLS)).astype("<i2")


def write_raw(path: Path, data: np.ndarray, interleave: str) -> Path:
    """A headerless int16 file in BSQ, BIL or BIP order."""
    order = {"bsq": (0, 1, 2), "bil": (1, 0, 2), "bip": (1, 2, 0)}[interleave]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(data.transpose(order)).tofile(path)
    return path


def read_tif(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            return ds.read()


def check_values(res: Prepared, days: list[dt.date], rows: int, cols: int) -> None:
    """Every written GeoTIFF holds the stored values of its raw file, band for band."""
    for i, day in enumerate(days):
        assert np.array_equal(read_tif(res.fine[day]), stored(rows, cols, 2 * i))
        assert np.array_equal(read_tif(res.coarse[day]), stored(rows, cols, 2 * i + 1))
    assert not list(DATA.rglob("*.aux.xml"))  # nothing written beside the raw files


def test_cia_layout_headerless(tmp_path: Path) -> None:
    with pytest.warns(GeoreferencingWarning, match="no georeferencing"):
        res = prepare_csiro("cia", DATA / "cia", tmp_path / "out", rows=ROWS, cols=COLS)
    d1, d2 = CIA_DAYS
    assert sorted(res.fine) == sorted(res.coarse) == [d1, d2]  # notes.txt skipped
    assert res.scene.pairs_dates() == [d1, d2] and not res.georeferenced
    check_values(res, CIA_DAYS, ROWS, COLS)  # Landsat BIL and MODIS BSQ decoded
    raw = yaml.safe_load(res.scene_path.read_text())
    assert raw["scale"] == 0.0001 and raw["fine"][d1] == "fine_2001-10-08.tif"
    with rasterio.open(res.fine[d1]) as ds:
        assert ds.descriptions[3] == "nir" and ds.dtypes[0] == "int16"
    values, valid = res.scene.read_fine(d1)
    assert valid.all() and np.allclose(values, stored(ROWS, COLS, 0) * 1e-4)
    assert res.sources[res.fine[d2]].name.startswith("L71093084_08420011016_HRF")


def test_cia_with_envi_headers_is_read_through_them(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeoreferencingWarning)
        res = prepare_csiro("cia", DATA / "cia_envi", tmp_path / "out")  # size from the headers
    assert res.georeferenced and res.scene.grid.crs.to_epsg() == 32755
    assert res.scene.grid.transform.a == 25.0 and res.scene.grid.transform.c == 401012.5
    assert res.scene.pairs_dates() == CIA_DAYS
    check_values(res, CIA_DAYS, ROWS, COLS)  # the BIL header read as BIL
    with rasterio.open(res.coarse[CIA_DAYS[0]]) as ds:
        assert ds.descriptions == ("blue", "green", "red", "nir", "swir1", "swir2")


def test_lgc_with_envi_headers_keeps_georeferencing(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeoreferencingWarning)
        res = prepare_csiro("lgc", DATA / "lgc", tmp_path / "out")
    assert res.georeferenced and res.scene.grid.crs.to_epsg() == 32755
    assert res.scene.shape == (LGC_ROWS, LGC_COLS) and res.scene.pairs_dates() == LGC_DAYS
    check_values(res, LGC_DAYS, LGC_ROWS, LGC_COLS)
    with pytest.raises(EstStfmError) as exc:
        prepare_csiro("lgc", DATA / "lgc", tmp_path / "out2", rows=LGC_ROWS + 1, cols=LGC_COLS)
    assert "header" in str(exc.value) and "\n" not in str(exc.value)


def test_lgc_headerless_needs_and_uses_the_size(tmp_path: Path) -> None:
    with pytest.raises(EstStfmError, match="pass --rows N --cols N"):
        prepare_csiro("lgc", DATA / "lgc_raw", tmp_path / "out")
    with pytest.warns(GeoreferencingWarning):
        res = prepare_csiro("lgc", DATA / "lgc_raw", tmp_path / "out", rows=LGC_ROWS, cols=LGC_COLS)
    assert res.scene.shape == (LGC_ROWS, LGC_COLS) and res.scene.pairs_dates() == LGC_DAYS
    check_values(res, LGC_DAYS, LGC_ROWS, LGC_COLS)
    with pytest.raises(EstStfmError, match="not a whole number"):  # rows and columns swapped
        prepare_csiro("lgc", DATA / "lgc_raw", tmp_path / "out", rows=LGC_COLS + 1, cols=LGC_ROWS)


def test_flat_cia_names_pair_landsat_with_the_next_day_modis(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_raw(raw / "L71093084_08420011007_HRF_modtran_surf_ref_agd66.bil", image(0), "bil")
    write_raw(raw / "MOD09GA_A2001281.sur_refl.int", image(1), "bsq")
    write_raw(raw / "L71093084_08420011016_HRF_modtran_surf_ref_agd66.bil", image(2), "bil")
    with pytest.warns(GeoreferencingWarning):
        res = prepare_csiro("cia", raw, tmp_path / "out", rows=ROWS, cols=COLS)
    assert sorted(res.fine) == [dt.date(2001, 10, 8), dt.date(2001, 10, 16)]
    assert res.scene.pairs_dates() == [dt.date(2001, 10, 8)]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "pass --rows N --cols N"),
        ({"rows": ROWS}, "give both --rows and --cols"),
        ({"rows": 7, "cols": COLS}, "not a whole number"),
    ],
)
def test_size_errors(tmp_path: Path, options: dict, expected: str) -> None:
    with pytest.raises(EstStfmError) as exc:
        prepare_csiro("cia", DATA / "cia", tmp_path / "out", **options)
    message = str(exc.value)
    assert "\n" not in message and expected in message


def test_other_errors(tmp_path: Path) -> None:
    with pytest.raises(EstStfmError, match="unknown layout"):
        prepare_csiro("xyz", tmp_path, tmp_path / "out")
    with pytest.raises(EstStfmError, match="not a folder"):
        prepare_csiro("cia", tmp_path / "missing", tmp_path / "out")
    write_raw(tmp_path / "raw" / "20040416_TM.int", image(0), "bsq")
    with pytest.raises(EstStfmError, match="no MODIS images"):
        prepare_csiro("lgc", tmp_path / "raw", tmp_path / "out")
    write_raw(tmp_path / "raw" / "sub" / "20040416_TM.int", image(0), "bsq")
    with pytest.raises(EstStfmError, match="two fine images for 2004-04-16"):
        prepare_csiro("lgc", tmp_path / "raw", tmp_path / "out")


def test_names_and_full_scene_size(tmp_path: Path) -> None:
    fsdaf = classify(tmp_path / "Landsat20041126")
    assert fsdaf is not None and (fsdaf.kind, fsdaf.date) == ("fine", dt.date(2004, 11, 26))
    modis = classify(tmp_path / "MODIS20041228")
    assert modis is not None and modis.kind == "coarse"
    assert classify(tmp_path / "Landsat20041126_SVM_classification") is None
    assert classify(tmp_path / "20040416_TM.hdr") is None
    assert classify(tmp_path / "MOD09GA_A2004107.sur_refl.int").date == dt.date(2004, 4, 16)
    full = tmp_path / "full.int"
    with full.open("wb") as f:  # sparse: no disk used
        f.truncate(1720 * 2040 * 6 * 2)
    assert raw_shape(full, LAYOUTS["cia"], None, None) == (6, 2040, 1720)
    data = image(3)
    for interleave in ("bsq", "bil", "bip"):
        path = write_raw(tmp_path / f"x.{interleave}", data, interleave)
        assert np.array_equal(raw_array(path, 6, ROWS, COLS, interleave), data)


def run_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "est_stfm", *map(str, args)], capture_output=True, text=True
    )


def test_prepare_command(tmp_path: Path) -> None:
    res = run_cli("prepare", "cia", DATA / "cia", tmp_path / "out")
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("error: ") and "--rows" in res.stderr
    res = run_cli("prepare", "cia", DATA / "cia", tmp_path / "out", "--rows", ROWS, "--cols", COLS)
    assert res.returncode == 0, res.stderr
    assert "2 dates with both" in res.stdout
    assert res.stderr.startswith("warning: ") and "Traceback" not in res.stderr
    with pytest.warns(GeoreferencingWarning):
        assert load_scene(tmp_path / "out" / "scene.yaml").bands == 6
