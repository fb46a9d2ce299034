"""Fuzzing scene files: any structure, keys, dates, paths and scales either load and predict, or
stop with one ``error:`` line and exit status 2; never a traceback."""

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

DATES = ["2001-05-08", "2001-05-24", "2001-06-09"]
_ids = itertools.count()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Real images to point scene files at, and things that are not images."""
    root = tmp_path_factory.mktemp("fuzz_scene")
    rng = np.random.default_rng(0)
    out: dict[str, Path] = {}
    for i, d in enumerate(DATES):
        fine = (rng.uniform(0.02, 0.4, (3, 24, 24)) / 0.0001).astype(np.int16)
        coarse = (fine.astype(np.float32) + 50 * i).astype(np.int16)
        out[f"fine{i}"] = write_tif(root / f"fine_{d}.tif", fine, nodata=-9999)
        out[f"coarse{i}"] = write_tif(root / f"coarse_{d}.tif", coarse, nodata=-9999)
    out["coarse_grid"] = write_tif(
        root / "coarse_own_grid.tif", np.full((3, 3, 3), 1500, np.int16), pixel=240.0
    )
    out["float"] = write_tif(root / "float.tif", rng.uniform(0, 0.4, (3, 24, 24)).astype("f4"))
    out["two_bands"] = write_tif(root / "two.tif", np.full((2, 24, 24), 900, np.int16))
    out["small"] = write_tif(root / "small.tif", np.full((3, 12, 24), 900, np.int16))
    out["mask"] = write_tif(root / "mask.tif", (rng.uniform(size=(1, 24, 24)) > 0.7).astype("u1"))
    (root / "notes.txt").write_text("not a raster\n")
    out["text"] = root / "notes.txt"
    (root / "folder").mkdir()
    out["folder"] = root / "folder"
    out["missing"] = root / "missing.tif"
    out["binary"] = root / "binary.tif"
    out["binary"].write_bytes(bytes(range(256)) * 4)
    return out


dates = st.one_of(
    st.sampled_from(DATES),
    st.sampled_from(DATES),
    st.sampled_from(DATES),
    st.sampled_from(["20010524", "2001-02-30", "2001-13-01", "yesterday", "", "2001/05/24"]),
    st.integers(-5, 20010524),
    st.dates().map(str),
)
numbers = st.one_of(
    st.sampled_from([1, 0.0001, 0.0001, 2.5e-5, 0, -1, 1e-30, 1e308]),
    st.sampled_from([[0.0, 1.0], [-0.05, 1.2], -9999, [0, 1], [1, 2, 3]]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["x", "nan", "inf", "0.0001", None, [], {}, True]),
)
file_keys = st.sampled_from(
    [
        "fine0",
        "fine1",
        "fine2",
        "coarse0",
        "coarse1",
        "coarse2",
        "coarse_grid",
        "float",
        "two_bands",
        "small",
        "text",
        "folder",
        "missing",
        "binary",
        "mask",
    ]
)


OPTION_VALUES = {
    "scale": numbers,
    "offset": numbers,
    "nodata": st.one_of(numbers, st.lists(numbers, max_size=3)),
    "valid_range": st.one_of(st.lists(numbers, max_size=3), numbers),
    "bands": st.one_of(st.lists(st.integers(-1, 4), max_size=3), numbers),
    "resampling": st.sampled_from(["bilinear", "nearest", "cubic", "average", "magic", 3]),
    "mask_valid_values": st.one_of(st.lists(st.integers(-2, 3), max_size=3), numbers),
    "unit": st.sampled_from(["reflectance", "ndvi", "kelvin", "other", "lux", 5]),
    "coarse_factor": numbers,
    "colour": st.just("blue"),
}


def base_scene(files: dict[str, Path]) -> dict:
    """A valid scene: fine and coarse sections with three dates, Landsat-like encoding."""
    return {
        "scale": 0.0001,
        "fine": {
            "nodata": -9999,
            "images": {d: str(files[f"fine{i}"]) for i, d in enumerate(DATES[:2])},
        },
        "coarse": {"images": {d: str(files[f"coarse{i}"]) for i, d in enumerate(DATES)}},
    }


mutations = st.lists(
    st.one_of(
        st.tuples(
            st.just("option"),
            st.sampled_from([None, "fine", "coarse"]),
            st.sampled_from(sorted(OPTION_VALUES)),
            st.data(),
        ),
        st.tuples(
            st.just("image"),
            st.sampled_from(["fine", "coarse"]),
            dates,
            file_keys,
            st.one_of(st.none(), st.lists(st.integers(-1, 4), max_size=3)),
        ),
        st.tuples(st.just("drop"), st.sampled_from(["fine", "coarse", "scale", "images"])),
        st.tuples(st.just("mask"), dates, file_keys),
        st.tuples(st.just("plain"), st.sampled_from(["fine", "coarse"])),
        st.tuples(
            st.just("raw"),
            st.sampled_from(["fine", "coarse"]),
            st.sampled_from([None, 3, "fine.tif", [], {}]),
        ),
    ),
    max_size=2,
)


def mutate(scene: dict, steps: list, files: dict[str, Path]) -> dict:
    """Apply each mutation in turn (a bad value, another image or date, a dropped key ...)."""
    for step in steps:
        kind = step[0]
        if kind == "option":
            _, where, key, data = step
            target = scene if where is None else scene.get(where)
            if isinstance(target, dict):
                target[key] = data.draw(OPTION_VALUES[key])
        elif kind == "image":
            _, where, date, key, bands = step
            images = scene.get(where, {})
            images = images.get("images", images) if isinstance(images, dict) else None
            if isinstance(images, dict):
                path = str(files[key])
                images[date] = path if bands is None else {"path": path, "bands": bands}
        elif kind == "drop":
            key = step[1]
            if key == "images" and isinstance(scene.get("fine"), dict):
                scene["fine"].pop("images", None)
            else:
                scene.pop(key, None)
        elif kind == "mask":
            scene.setdefault("masks", {})[step[1]] = str(files[step[2]])
        elif kind == "plain" and isinstance(scene.get(step[1]), dict):
            scene[step[1]] = scene[step[1]].get("images", scene[step[1]])
        elif kind == "raw":
            scene[step[1]] = step[2]
    return scene


def _write_scene(scene: dict, files: dict[str, Path]) -> Path:
    folder = files["text"].parent / f"case{next(_ids)}"
    folder.mkdir()
    path = folder / "scene.yaml"
    path.write_text(yaml.safe_dump(scene, sort_keys=False))
    return path


@FUZZ
@given(steps=mutations, date=dates)
def test_any_scene_file_predicts_or_fails_in_one_line(files, steps, date):
    count("scene files")
    scene = _write_scene(mutate(base_scene(files), steps, files), files)
    out = scene.parent / "pred.tif"
    args = ("predict", scene, "--date", date, "--model", "naive-change", "--out", out, "--quiet")
    code, _, err = run_cli(*args)
    assert_clean(code, err, args)
    if code == 0:
        with rasterio.open(out) as ds:
            assert (ds.height, ds.width) in ((24, 24), (12, 24))
    else:
        assert not out.exists()


@FUZZ
@given(text=st.text(max_size=200))
def test_any_text_as_a_scene_file_fails_in_one_line(files, text):
    count("scene texts")
    folder = files["text"].parent / f"text{next(_ids)}"
    folder.mkdir()
    path = folder / "scene.yaml"
    path.write_text(text, encoding="utf-8")
    args = ("predict", path, "--date", DATES[1], "--model", "naive-copy", "--out", folder / "p.tif")
    code, _, err = run_cli(*args)
    assert_clean(code, err, args)
    assert code == 2  # no text of up to 200 characters names real image files
