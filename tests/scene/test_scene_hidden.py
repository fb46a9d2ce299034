"""Hidden images: ``load_scene`` does not open the fine or coarse images of the dates it is told
to hide (held-out dates, a prediction's target); each is checked only when first read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scene_helpers import D1, D2, D3, coarse_grid_scene, load_error, write_scene, write_tif

from est_stfm.errors import EstStfmError
from est_stfm.scene import load_scene


def _garble(path: Path) -> Path:
    path.write_bytes(b"no raster here " * 30)
    return path


def _read_error(read, day) -> str:
    with pytest.raises(EstStfmError) as exc:
        read(day)
    message = str(exc.value)
    assert "\n" not in message, message
    return message


def test_hidden_images_are_not_opened_until_read(tmp_path: Path) -> None:
    folder = write_scene(tmp_path)
    fine, coarse = _garble(folder / "tm0524.tif"), _garble(folder / "m0711.tif")
    assert fine.name in load_error(folder / "scene.yaml")
    scene = load_scene(folder / "scene.yaml", hidden_fine=[D1], hidden_coarse=["2001-07-11"])
    assert list(scene.fine) == [D1, D3] and list(scene.coarse) == [D1, D2, D3]
    assert (scene.grid.width, scene.grid.height) == (20, 16)  # from the next fine image
    assert scene.read_fine(D3)[0].shape == (3, 16, 20)
    assert scene.read_coarse(D1)[0].shape == (3, 16, 20)  # a date hidden for fine only
    assert fine.name in _read_error(scene.read_fine, D1)
    assert coarse.name in _read_error(scene.read_coarse, D2)


def test_a_hidden_image_gets_the_checks_of_any_other_when_read(tmp_path: Path) -> None:
    folder = write_scene(tmp_path)
    write_tif(folder / "tm0812.tif", width=10)
    expected = load_error(folder / "scene.yaml")
    assert "tm0812.tif is 10x16" in expected
    scene = load_scene(folder / "scene.yaml", hidden_fine=[D3])
    assert _read_error(scene.read_fine, D3) == expected
    assert _read_error(scene.read_fine, D3) == expected  # every read, not only the first
    write_tif(folder / "tm0812.tif", value=30_000)  # on the grid, but not reflectance x 10000
    scale = load_scene(folder / "scene.yaml", hidden_fine=[D3])
    assert "outside the reflectance range" in _read_error(scale.read_fine, D3)


def test_a_hidden_coarse_image_on_its_own_grid_is_placed_when_read(tmp_path: Path) -> None:
    path = coarse_grid_scene(write_scene(tmp_path))
    whole = load_scene(path)
    scene = load_scene(path, hidden_coarse=[D2])
    assert ("coarse", D2) in whole.sources and ("coarse", D2) not in scene.sources
    for got, want in zip(scene.read_coarse(D2), whole.read_coarse(D2), strict=True):
        np.testing.assert_array_equal(got, want)
    assert scene.sources[("coarse", D2)] == whole.sources[("coarse", D2)]


def test_hiding_every_fine_image_or_a_non_date_is_a_one_line_error(tmp_path: Path) -> None:
    path = write_scene(tmp_path) / "scene.yaml"
    with pytest.raises(EstStfmError, match="every fine image of .* is hidden") as every:
        load_scene(path, hidden_fine=[D1, D3])
    with pytest.raises(EstStfmError, match="'July' is not a date") as not_a_date:
        load_scene(path, hidden_coarse=["July"])
    assert all("\n" not in str(e.value) for e in (every, not_a_date))
    assert load_scene(path, hidden_fine=["1999-01-01"]).pairs_dates() == [D1, D3]  # not listed
