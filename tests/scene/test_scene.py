"""Loading scenes and reading them: dates, references, encodings, masks, bands and coarse grids."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from scene_helpers import (
    D1,
    D2,
    D3,
    SCENE_TEXT,
    coarse_grid_scene,
    load_error,
    write_array,
    write_scene,
    write_tif,
)

from est_stfm.errors import EstStfmError
from est_stfm.scene import Scene, load_scene, save_scene


@pytest.fixture
def scene_dir(tmp_path: Path) -> Path:
    """A folder holding a valid scene (see :func:`scene_helpers.write_scene`)."""
    return write_scene(tmp_path)


def test_load_scene(scene_dir: Path) -> None:
    scene = load_scene(scene_dir / "scene.yaml")
    assert isinstance(scene, Scene)
    assert scene.path == scene_dir / "scene.yaml"
    assert scene.scale == 0.0001
    assert list(scene.fine) == [D1, D3]
    assert list(scene.coarse) == [D1, D2, D3]
    assert scene.fine[D1] == scene_dir / "tm0524.tif"
    assert all(p.is_absolute() for p in [*scene.fine.values(), *scene.coarse.values()])
    assert scene.bands == 3
    assert (scene.grid.width, scene.grid.height) == (20, 16)
    assert scene.pairs_dates() == [D1, D3]

    image, valid = scene.read_fine(D1)
    assert image.shape == (3, 16, 20) and image.dtype == np.float32
    assert np.allclose(image[:, valid], 0.1)
    assert not valid[0, 0] and valid.sum() == 16 * 20 - 1
    part, _ = scene.read_coarse("2001-07-11", window=((2, 6), (3, 9)))
    assert part.shape == (3, 4, 6)


def test_scene_loads_from_another_working_directory(
    scene_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(scene_dir.parent)
    scene = load_scene(Path(scene_dir.name) / "scene.yaml")
    assert scene.coarse[D2] == scene_dir / "m0711.tif"


def test_nearest_reference_and_require_coarse(scene_dir: Path) -> None:
    scene = load_scene(scene_dir / "scene.yaml")
    assert scene.nearest_reference(D2) == D3  # 32 days after vs 48 days before
    assert scene.nearest_reference(D1) == D3  # never the date itself
    with pytest.raises(EstStfmError) as exc:
        scene.nearest_reference(D3, exclude=[D1])
    assert "\n" not in str(exc.value)
    # ties go to the earlier date: 2001-07-03 is 40 days from both D1 and D3
    assert scene.nearest_reference(dt.date(2001, 7, 3)) == D1
    assert scene.require_coarse(D2) == scene_dir / "m0711.tif"
    with pytest.raises(EstStfmError) as exc:
        scene.require_coarse(dt.date(2001, 6, 1))
    message = str(exc.value)
    assert "\n" not in message and "2001-06-01" in message
    assert all(d.isoformat() in message for d in (D1, D2, D3))
    with pytest.raises(EstStfmError):
        scene.read_fine(D2)  # coarse only


def test_fine_date_without_coarse_is_allowed(scene_dir: Path) -> None:
    write_tif(scene_dir / "tm0601.tif")
    (scene_dir / "scene.yaml").write_text(
        SCENE_TEXT.replace("tm0812.tif}", "tm0812.tif, 2001-06-01: tm0601.tif}")
    )
    scene = load_scene(scene_dir / "scene.yaml")
    assert dt.date(2001, 6, 1) in scene.fine
    assert scene.pairs_dates() == [D1, D3]


def test_coarse_covering_part_of_the_grid_is_resampled(scene_dir: Path) -> None:
    write_tif(scene_dir / "m0711.tif", width=10, height=8, value=2000)  # top-left quarter
    scene = load_scene(scene_dir / "scene.yaml")
    assert scene.sources[("coarse", D2)].placement is not None
    image, valid = scene.read_coarse(D2)
    assert image.shape == (3, 16, 20)
    assert valid[1:8, 1:10].all() and not valid[8:].any() and not valid[:, 10:].any()
    assert np.allclose(image[:, 1:7, 1:9], 0.2)


def test_section_form_with_per_section_scale_and_offset(scene_dir: Path) -> None:
    write_array(scene_dir / "m0524.tif", np.full((3, 16, 20), 0.25, np.float32))
    (scene_dir / "scene.yaml").write_text(
        "offset: 0.5\n"
        "fine:\n"
        "  scale: 0.0001\n"
        "  offset: 0\n"
        "  images: {2001-05-24: tm0524.tif, 2001-08-12: tm0812.tif}\n"
        "coarse:\n"
        "  scale: 1\n"
        "  images: {2001-05-24: m0524.tif}\n"
    )
    scene = load_scene(scene_dir / "scene.yaml")
    assert scene.scale == 0.0001 and scene.offset == 0.0  # the fine encoding
    assert scene.options("coarse").scale == 1.0 and scene.options("coarse").offset == 0.5
    fine, fine_ok = scene.read_fine(D1)
    coarse, _ = scene.read_coarse(D1)
    assert np.allclose(fine[:, fine_ok], 0.1)
    assert np.allclose(coarse, 0.75)  # 0.25 x 1 + 0.5


def test_offset_nodata_list_and_valid_range(scene_dir: Path) -> None:
    data = np.full((3, 16, 20), 10_000, np.uint16)  # 10000 x 2e-5 - 0.1 = 0.1
    data[:, 1, 1] = 0
    data[:, 2, 2] = 65535
    data[0, 3, 3] = 70_00  # band 0 only: 0.04, below valid_range
    write_array(scene_dir / "tm0524.tif", data)
    write_array(scene_dir / "tm0812.tif", data)
    (scene_dir / "scene.yaml").write_text(
        "fine: {scale: 2.0e-5, offset: -0.1, nodata: [0, 65535], valid_range: [0.05, 1],\n"
        "       images: {2001-05-24: tm0524.tif, 2001-08-12: tm0812.tif}}\n"
        "coarse: {scale: 0.0001, images: {2001-05-24: m0524.tif}}\n"
    )
    scene = load_scene(scene_dir / "scene.yaml")
    image, valid = scene.read_fine(D1)
    assert not valid[1, 1] and not valid[2, 2] and not valid[3, 3]
    assert valid.sum() == valid.size - 3
    assert np.allclose(image[:, valid], 0.1, atol=1e-6)
    assert np.all(image[:, ~valid] == 0.0)


def test_band_choice_per_image_and_per_section(scene_dir: Path) -> None:
    stack = np.stack([np.full((16, 20), v, np.int16) for v in (100, 200, 300, 400)])
    write_array(scene_dir / "stack.tif", stack)
    (scene_dir / "scene.yaml").write_text(
        "scale: 0.0001\n"
        "fine: {bands: [2], images: {2001-05-24: stack.tif, 2001-08-12: stack.tif}}\n"
        "coarse:\n"
        "  images:\n"
        "    2001-05-24: {path: stack.tif, bands: [4]}\n"
        "    2001-07-11: {path: stack.tif, bands: [3]}\n"
    )
    scene = load_scene(scene_dir / "scene.yaml")
    assert scene.bands == 1
    assert np.allclose(scene.read_fine(D1)[0], 0.02)
    assert np.allclose(scene.read_coarse(D1)[0], 0.04)
    assert np.allclose(scene.read_coarse(D2)[0], 0.03)
    (scene_dir / "scene.yaml").write_text(
        "fine: {2001-05-24: {path: stack.tif, bands: [5]}}\ncoarse: {2001-05-24: m0524.tif}\n"
    )
    message = load_error(scene_dir / "scene.yaml")
    assert "band 5" in message and "4 bands" in message


def test_masks_default_and_valid_values(scene_dir: Path) -> None:
    cloud = np.zeros((1, 16, 20), np.uint8)
    cloud[0, 5, 5], cloud[0, 6, 6], cloud[0, 7, 7] = 4, 1, 255  # cloud, water, fill
    write_array(scene_dir / "cloud0524.tif", cloud)
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT + "masks: {2001-05-24: cloud0524.tif}\n")
    scene = load_scene(scene_dir / "scene.yaml")
    image, valid = scene.read_fine(D1)
    assert not valid[5, 5] and not valid[6, 6] and not valid[7, 7] and not valid[0, 0]
    assert valid.sum() == valid.size - 4 and np.all(image[:, ~valid] == 0.0)
    assert scene.read_fine(D3)[1].sum() == valid.size - 1  # the mask is for one date only
    assert scene.read_coarse(D1)[1].sum() == valid.size - 1  # top-level masks: fine images
    part, part_ok = scene.read_fine(D1, window=((4, 8), (4, 8)))
    assert np.array_equal(part_ok, valid[4:8, 4:8])

    (scene_dir / "scene.yaml").write_text(
        SCENE_TEXT + "masks: {2001-05-24: cloud0524.tif}\nmask_valid_values: [0, 1]\n"
    )
    valid = load_scene(scene_dir / "scene.yaml").read_fine(D1)[1]
    assert valid[6, 6] and not valid[5, 5] and not valid[7, 7]


def test_coarse_on_its_own_grid_is_resampled_window_by_window(scene_dir: Path) -> None:
    scene = load_scene(coarse_grid_scene(scene_dir))
    full, full_ok = scene.read_coarse(D2)
    assert full.shape == (3, 16, 20) and full_ok.all()
    # coarse pixel (1, 1) is centred between fine rows/cols 5 and 6; (2, 3) between 9|10, 13|14
    assert np.isclose(full[0, 5:7, 5:7].mean(), (1000 + 100 * 6) * 1e-4, atol=1e-4)
    assert np.isclose(full[0, 9:11, 13:15].mean(), (1000 + 100 * 13) * 1e-4, atol=1e-4)
    assert np.all(np.diff(full[0, 5, 2:18]) > 0)  # bilinear: smooth ramp along a row
    for window in (((3, 11), (5, 17)), ((0, 16), (0, 20)), ((15, 16), (19, 20))):
        part, part_ok = scene.read_coarse(D2, window=window)
        (r0, r1), (c0, c1) = window
        assert np.allclose(part, full[:, r0:r1, c0:c1], atol=1e-6)
        assert np.array_equal(part_ok, full_ok[r0:r1, c0:c1])

    nearest = load_scene(coarse_grid_scene(scene_dir, "resampling: nearest\n"))
    blocks = nearest.read_coarse(D2)[0][0]
    assert np.allclose(blocks[:4, :4], 0.1) and np.allclose(blocks[12:, 16:], 0.29)


def test_coarse_in_another_crs_is_reprojected(scene_dir: Path) -> None:
    with rasterio.open(scene_dir / "tm0524.tif") as ds:
        bounds = ds.bounds
    west, south, east, north = rasterio.warp.transform_bounds(
        CRS.from_epsg(32655), CRS.from_epsg(4326), *bounds
    )
    step = 0.002
    transform = Affine(step, 0.0, west - step, 0.0, -step, north + step)
    shape = (int((north - south) / step) + 3, int((east - west) / step) + 3)
    write_array(
        scene_dir / "m0711.tif",
        np.full((3, *shape), 1500, np.int16),
        transform=transform,
        epsg=4326,
    )
    scene = load_scene(scene_dir / "scene.yaml")
    place = scene.sources[("coarse", D2)].placement
    assert place is not None and place.src_crs == CRS.from_epsg(4326)
    image, valid = scene.read_coarse(D2)
    assert valid.all() and np.allclose(image, 0.15)


def test_coarse_factor_written_measured_and_checked(tmp_path, tiny_scene):
    scene = load_scene(tiny_scene)
    assert scene.coarse_factor == 8  # written by the synthetic generator
    # a coarse image on its own grid: measured from the transforms
    fine_day = scene.dates[0]
    with rasterio.open(scene.coarse[fine_day]) as src:
        block = src.read(out_shape=(src.count, 16, 16), resampling=Resampling.average)
        profile = src.profile | {
            "width": 16,
            "height": 16,
            "transform": src.transform @ Affine.scale(4),
        }
    own = tmp_path / "coarse_own.tif"
    with rasterio.open(own, "w", **profile) as dst:
        dst.write(block)
    path = save_scene(tmp_path / "s.yaml", scene.fine, {fine_day: own}, scale=scene.scale)
    assert load_scene(path).coarse_factor == pytest.approx(4.0)
    path = save_scene(tmp_path / "s2.yaml", scene.fine, scene.coarse, scale=scene.scale)
    assert load_scene(path).coarse_factor is None
    text = path.read_text() + "coarse_factor: 0.5\n"
    path.write_text(text)
    with pytest.raises(EstStfmError, match="coarse_factor must be a number >= 1"):
        load_scene(path)
