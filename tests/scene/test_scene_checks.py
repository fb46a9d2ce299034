"""The checks on a scene's files: existence, grids, bands, masks, nodata and plausible values."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scene_helpers import (
    D1,
    D3,
    SCENE_TEXT,
    coarse_grid_scene,
    load_error,
    write_array,
    write_scene,
    write_tif,
)

from est_stfm.io import GeoreferencingWarning
from est_stfm.scene import load_scene


@pytest.fixture
def scene_dir(tmp_path: Path) -> Path:
    """A folder holding a valid scene (see :func:`scene_helpers.write_scene`)."""
    return write_scene(tmp_path)


def test_missing_image(scene_dir: Path) -> None:
    (scene_dir / "m0711.tif").unlink()
    message = load_error(scene_dir / "scene.yaml")
    assert str(scene_dir / "m0711.tif") in message
    assert "2001-07-11" in message and "relative to the scene file" in message


def test_image_that_is_not_a_raster(scene_dir: Path) -> None:
    (scene_dir / "m0711.tif").write_text("not an image")
    message = load_error(scene_dir / "scene.yaml")
    assert "m0711.tif" in message and "2001-07-11" in message


def test_fine_on_another_grid_size(scene_dir: Path) -> None:
    write_tif(scene_dir / "tm0812.tif", width=21)
    message = load_error(scene_dir / "scene.yaml")
    assert "tm0812.tif" in message and "21x16" in message


def test_coarse_that_does_not_overlap(scene_dir: Path) -> None:
    write_tif(scene_dir / "m0812.tif", epsg=32755)  # the same numbers, other hemisphere
    message = load_error(scene_dir / "scene.yaml")
    assert "m0812.tif" in message and "EPSG:32755" in message and "EPSG:32655" in message
    assert "does not overlap" in message

    write_tif(scene_dir / "m0812.tif", origin=(600_000.0, 4_800_000.0))
    message = load_error(scene_dir / "scene.yaml")
    assert "m0812.tif" in message and "does not overlap" in message


def test_fine_on_another_crs_or_transform(scene_dir: Path) -> None:
    write_tif(scene_dir / "tm0812.tif", epsg=32755)
    message = load_error(scene_dir / "scene.yaml")
    assert "tm0812.tif" in message and "EPSG:32755" in message and "EPSG:32655" in message

    write_tif(scene_dir / "tm0812.tif", origin=(500_015.0, 4_800_000.0))
    message = load_error(scene_dir / "scene.yaml")
    assert "tm0812.tif" in message and "origin" in message


def test_band_count_mismatch(scene_dir: Path) -> None:
    write_tif(scene_dir / "m0524.tif", count=4)
    message = load_error(scene_dir / "scene.yaml")
    assert "m0524.tif" in message and "4 bands" in message and "3" in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("masks: {2001-05-24: missing.tif}\n", "not found"),
        ("masks: {2001-05-24: small.tif}\n", "not on the grid"),
        ("masks: {2001-05-24: two.tif}\n", "2 bands"),
    ],
)
def test_mask_file_errors(scene_dir: Path, extra: str, expected: str) -> None:
    write_array(scene_dir / "small.tif", np.zeros((1, 8, 10), np.uint8))
    write_array(scene_dir / "two.tif", np.zeros((2, 16, 20), np.uint8))
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT + extra)
    message = load_error(scene_dir / "scene.yaml")
    assert ".tif" in message
    assert expected in message


def test_wrong_scale_is_caught_and_unit_other_skips_the_check(scene_dir: Path) -> None:
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT.replace("scale: 0.0001", "scale: 1"))
    message = load_error(scene_dir / "scene.yaml")
    assert "tm0524.tif" in message and "2001-05-24" in message
    assert "reflectance" in message and "scale: 0.0001" in message and "unit" in message
    (scene_dir / "scene.yaml").write_text(
        SCENE_TEXT.replace("scale: 0.0001", "scale: 1\nunit: other")
    )
    assert load_scene(scene_dir / "scene.yaml").unit == "other"


def test_kelvin_values_without_unit_warn_and_with_unit_do_not(scene_dir: Path) -> None:
    lst = np.full((3, 16, 20), 305.5, np.float32)
    for name in ("tm0524.tif", "tm0812.tif", "m0524.tif", "m0711.tif", "m0812.tif"):
        write_array(scene_dir / name, lst)
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT.replace("scale: 0.0001", "scale: 1"))
    with pytest.warns(UserWarning, match="unit: kelvin"):
        load_scene(scene_dir / "scene.yaml")
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT.replace("scale: 0.0001", "unit: kelvin"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = load_scene(scene_dir / "scene.yaml")
    assert scene.unit == "kelvin" and np.allclose(scene.read_fine(D1)[0], 305.5)


def test_file_that_is_all_nodata(scene_dir: Path) -> None:
    write_array(scene_dir / "m0711.tif", np.full((3, 16, 20), -9999, np.int16), nodata=-9999)
    message = load_error(scene_dir / "scene.yaml")
    assert "m0711.tif" in message and "no valid pixel" in message
    nan = np.full((3, 16, 20), np.nan, np.float32)
    write_array(scene_dir / "m0711.tif", nan)
    assert "no valid pixel" in load_error(scene_dir / "scene.yaml")


def test_no_georeferencing_warns_and_assumes_the_same_extent(tmp_path: Path) -> None:
    fine = np.full((2, 16, 20), 1000, np.int16)
    write_array(tmp_path / "f1.tif", fine, epsg=None)
    write_array(tmp_path / "f2.tif", fine, epsg=None)
    write_array(tmp_path / "c1.tif", np.full((2, 16, 20), 1200, np.int16), epsg=None)
    write_array(tmp_path / "c2.tif", np.full((2, 4, 5), 1500, np.int16), epsg=None)
    (tmp_path / "scene.yaml").write_text(
        "scale: 0.0001\nfine: {2001-05-24: f1.tif, 2001-08-12: f2.tif}\n"
        "coarse: {2001-05-24: c1.tif, 2001-08-12: c2.tif}\n"
    )
    with pytest.warns(GeoreferencingWarning) as record:
        scene = load_scene(tmp_path / "scene.yaml")
    messages = " ".join(str(w.message) for w in record)
    assert "no georeferencing" in messages and "c2.tif" in messages
    assert scene.sources.get(("coarse", D1)) is None  # same size: read as it is
    image, valid = scene.read_coarse(D3)
    assert valid.all() and np.allclose(image, 0.15)


def test_resampled_coarse_with_two_nodata_values_is_an_error(scene_dir: Path) -> None:
    path = coarse_grid_scene(scene_dir)
    path.write_text(
        "scale: 0.0001\nnodata: [-1, -2]\n"
        "fine: {2001-05-24: tm0524.tif, 2001-08-12: tm0812.tif}\n"
        "coarse: {2001-05-24: m0524.tif, 2001-07-11: m0711.tif}\n"
    )
    message = load_error(path)
    assert "m0711.tif" in message and "one nodata value" in message
