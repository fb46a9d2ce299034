"""Fuzzing raster contents: every dtype, NaN, inf, constant, all-nodata, 1 x 1 and 1 x N images
and extreme values, through predict (naive-change, STARFM) and evaluate. Each run either gives a
prediction that is finite wherever it is valid, or one ``error:`` line and exit status 2."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from fuzzing import FUZZ, assert_clean, count, run_cli, write_tif
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]
_ids = itertools.count()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_rasters")


@st.composite
def images(draw) -> tuple[list[np.ndarray], float | None]:
    """Three images (F1, C1, C2) of one dtype and shape, and the file nodata (or None)."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(
        st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9))
        | st.sampled_from([(1, 1, 1), (2, 1, 7), (3, 7, 1), (1, 1, 40)])
    )
    if dtype.kind == "f":
        elements = st.floats(width=32 if dtype.itemsize == 4 else 64, allow_subnormal=False)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max)) | st.sampled_from(
            [int(info.min), int(info.max), 0, 1]
        )
    style = draw(st.sampled_from(["random", "constant", "plausible"]))
    arrays = []
    for _ in range(3):
        if style == "random":
            arrays.append(draw(hnp.arrays(dtype, shape, elements=elements)))
        elif style == "constant":
            arrays.append(np.full(shape, draw(elements), dtype))
        else:  # reflectance-like values the scale turns into 0-0.5
            low, high = (0.0, 0.5) if dtype.kind == "f" else (0, min(5000, np.iinfo(dtype).max))
            rng = np.random.default_rng(draw(st.integers(0, 2**16)))
            arrays.append(rng.uniform(low, high, shape).astype(dtype))
    nodata = draw(st.none() | st.sampled_from(["value", "min", "nan"]))
    if nodata == "value":
        nodata = float(arrays[0].flat[0])
    elif nodata == "min":
        nodata = float(np.iinfo(dtype).min) if dtype.kind != "f" else -9999.0
    elif nodata == "nan":
        nodata = float("nan") if dtype.kind == "f" else None
    if nodata is not None and not np.isnan(nodata) and dtype.kind == "f":
        nodata = float(np.asarray(nodata, dtype))
    return arrays, nodata


def _scene(folder: Path, arrays: list[np.ndarray], nodata, scale: float, unit: str) -> Path:
    f1, c1, c2 = (
        write_tif(folder / f"{name}.tif", a, nodata=nodata)
        for name, a in zip(("f1", "c1", "c2"), arrays, strict=True)
    )
    scene = {
        "scale": scale,
        "unit": unit,
        "coarse_factor": 2,
        "fine": {"2001-05-08": str(f1)},
        "coarse": {"2001-05-08": str(c1), "2001-05-24": str(c2)},
    }
    path = folder / "scene.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


@FUZZ
@given(
    data=images(),
    scale=st.sampled_from([1.0, 0.0001, 1e-30]),
    unit=st.sampled_from(["reflectance", "other"]),
    method=st.sampled_from(["naive-change", "starfm"]),
)
def test_any_raster_content_predicts_and_evaluates_or_fails_in_one_line(
    root, data, scale, unit, method
):
    count("raster contents")
    arrays, nodata = data
    folder = root / f"case{next(_ids)}"
    folder.mkdir()
    scene = _scene(folder, arrays, nodata, scale, unit)
    out = folder / "pred.tif"
    args = ("predict", scene, "--date", "2001-05-24", "--model", method, "--out", out, "--quiet")
    code, _, err = run_cli(*args)
    assert_clean(code, err, args)
    if code != 0:
        assert not out.exists()
        return
    with rasterio.open(out) as ds:
        assert (ds.count, ds.height, ds.width) == arrays[0].shape
        assert ds.dtypes[0] == arrays[0].dtype.name
        values = ds.read(masked=True)
    assert np.isfinite(values.compressed().astype(np.float64)).all()
    args = ("evaluate", out, folder / "f1.tif", "--json", folder / "m.json")
    code, _, err = run_cli(*args)
    assert_clean(code, err, args)
