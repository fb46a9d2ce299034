"""Scene files: loading, date handling, reference choice, and one-line errors for every mistake."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.errors
import rasterio.warp
import yaml
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling

from est_stfm.errors import EstStfmError
from est_stfm.io import GeoreferencingWarning
from est_stfm.scene import Scene, load_scene, save_scene

D1, D2, D3 = dt.date(2001, 5, 24), dt.date(2001, 7, 11), dt.date(2001, 8, 12)


def write_tif(
    path: Path,
    *,
    width: int = 20,
    height: int = 16,
    count: int = 3,
    epsg: int = 32655,
    origin: tuple[float, float] = (500_000.0, 4_800_000.0),
    value: int = 1000,
) -> Path:
    """A small int16 GeoTIFF written with rasterio directly (independent of write_raster)."""
    data = np.full((count, height, width), value, dtype=np.int16)
    data[:, 0, 0] = -9999
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype="int16",
        crs=CRS.from_epsg(epsg),
        transform=Affine(30.0, 0.0, origin[0], 0.0, -30.0, origin[1]),
        nodata=-9999,
    ) as ds:
        ds.write(data)
    return path


SCENE_TEXT = """\
scale: 0.0001
fine:   {2001-05-24: tm0524.tif, 2001-08-12: tm0812.tif}
coarse: {2001-05-24: m0524.tif, 2001-07-11: m0711.tif, 2001-08-12: m0812.tif}
"""


@pytest.fixture
def scene_dir(tmp_path: Path) -> Path:
    for name in ("tm0524.tif", "tm0812.tif", "m0524.tif", "m0711.tif", "m0812.tif"):
        write_tif(tmp_path / name)
    (tmp_path / "scene.yaml").write_text(SCENE_TEXT)
    return tmp_path


def load_error(path: Path) -> str:
    with pytest.raises(EstStfmError) as exc:
        load_scene(path)
    message = str(exc.value)
    assert "\n" not in message, message
    return message


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


def test_date_key_forms_and_string_scale(scene_dir: Path) -> None:
    (scene_dir / "scene.yaml").write_text(
        "scale: 1e-4\n"  # PyYAML reads this as a string
        "fine: {'2001-05-24': tm0524.tif, 20010812: tm0812.tif}\n"
        "coarse: {'20010524': m0524.tif, 2001-07-11: m0711.tif, '2001-08-12': m0812.tif}\n"
    )
    scene = load_scene(scene_dir / "scene.yaml")
    assert scene.scale == pytest.approx(1e-4)
    assert list(scene.fine) == [D1, D3]
    assert list(scene.coarse) == [D1, D2, D3]


def test_fine_date_without_coarse_is_allowed(scene_dir: Path) -> None:
    write_tif(scene_dir / "tm0601.tif")
    (scene_dir / "scene.yaml").write_text(
        SCENE_TEXT.replace("tm0812.tif}", "tm0812.tif, 2001-06-01: tm0601.tif}")
    )
    scene = load_scene(scene_dir / "scene.yaml")
    assert dt.date(2001, 6, 1) in scene.fine
    assert scene.pairs_dates() == [D1, D3]


def test_missing_and_malformed_scene_files(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope.yaml")
    assert "nope.yaml" in message and "not found" in message

    bad = tmp_path / "bad.yaml"
    bad.write_text("fine: {2001-05-24: a.tif\ncoarse: [\n")
    message = load_error(bad)
    assert "bad.yaml" in message and "YAML" in message

    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    assert "list.yaml" in load_error(listed)

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert "empty.yaml" in load_error(empty)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("coarse: {2001-05-24: m0524.tif}\n", "'fine' is missing"),
        ("fine: {2001-05-24: tm0524.tif}\ncoarse: {}\n", "'coarse' is empty"),
        ("fine: {2001-05-24: tm0524.tif}\ncoarse:\n", "'coarse' is empty"),
        ("fine: {May 24: tm0524.tif}\ncoarse: {2001-05-24: m0524.tif}\n", "not a date"),
        ("fine: {2001-02-30: tm0524.tif}\ncoarse: {2001-05-24: m0524.tif}\n", "date"),
        ("scale: -1\nfine: {2001-05-24: tm0524.tif}\ncoarse: {2001-05-24: m0524.tif}\n", "scale"),
        ("scale: big\nfine: {2001-05-24: tm0524.tif}\ncoarse: {2001-05-24: m0524.tif}\n", "scale"),
        (
            "fnie: {2001-05-24: tm0524.tif}\ncoarse: {2001-05-24: m0524.tif}\n",
            "did you mean 'fine'",
        ),
        (
            "fine: {2001-05-24: tm0524.tif, 2001-05-24: tm0812.tif}\n"
            "coarse: {2001-05-24: m0524.tif}\n",
            "duplicate",
        ),
        (
            "fine: {2001-05-24: tm0524.tif, '20010524': tm0812.tif}\n"
            "coarse: {2001-05-24: m0524.tif}\n",
            "twice",
        ),
        ("fine: [tm0524.tif]\ncoarse: {2001-05-24: m0524.tif}\n", "map dates"),
    ],
)
def test_scene_key_errors(scene_dir: Path, text: str, expected: str) -> None:
    (scene_dir / "scene.yaml").write_text(text)
    message = load_error(scene_dir / "scene.yaml")
    assert "scene.yaml" in message
    assert expected in message


def test_unknown_key_is_named(scene_dir: Path) -> None:
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT + "nodatta: 0\n")
    message = load_error(scene_dir / "scene.yaml")
    assert "'nodatta'" in message and "did you mean 'nodata'" in message
    assert "scene.yaml" in message


def test_missing_image(scene_dir: Path) -> None:
    (scene_dir / "m0711.tif").unlink()
    message = load_error(scene_dir / "scene.yaml")
    assert str(scene_dir / "m0711.tif") in message
    assert "2001-07-11" in message and "relative to the scene file" in message


def test_image_that_is_not_a_raster(scene_dir: Path) -> None:
    (scene_dir / "m0711.tif").write_text("not an image")
    message = load_error(scene_dir / "scene.yaml")
    assert "m0711.tif" in message and "2001-07-11" in message


def test_coarse_covering_part_of_the_grid_is_resampled(scene_dir: Path) -> None:
    write_tif(scene_dir / "m0711.tif", width=10, height=8, value=2000)  # top-left quarter
    scene = load_scene(scene_dir / "scene.yaml")
    assert scene.sources[("coarse", D2)].placement is not None
    image, valid = scene.read_coarse(D2)
    assert image.shape == (3, 16, 20)
    assert valid[1:8, 1:10].all() and not valid[8:].any() and not valid[:, 10:].any()
    assert np.allclose(image[:, 1:7, 1:9], 0.2)


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


def test_save_scene_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("f1.tif", "f2.tif", "c1.tif", "c2.tif"):
        write_tif(data / name)
    outside = write_tif(tmp_path / "c3.tif")
    path = save_scene(
        data / "scenes" / "s.yaml",
        fine={D1: data / "f1.tif", "2001-08-12": str(data / "f2.tif")},
        coarse={D1: data / "c1.tif", D2: outside, D3: data / "c2.tif"},
        scale=0.0001,
    )
    raw = yaml.safe_load(path.read_text())
    assert raw["scale"] == 0.0001
    assert raw["fine"] == {D1: "../f1.tif", D3: "../f2.tif"}
    assert raw["coarse"][D2] == "../../c3.tif"
    scene = load_scene(path)
    assert scene.fine[D3] == data / "f2.tif"
    assert scene.coarse[D2] == outside
    assert scene.pairs_dates() == [D1, D3]
    assert sorted(p.name for p in path.parent.iterdir()) == ["s.yaml"]  # no temporary left
    with pytest.raises(EstStfmError):
        save_scene(path, fine={}, coarse={D1: "c1.tif"})
    with pytest.raises(EstStfmError):
        save_scene(path, fine={"yesterday": "f1.tif"}, coarse={D1: "c1.tif"})


# --- encodings, masks, checks, coarse grids ---------------------------------------------------


def write_array(
    path: Path,
    data: np.ndarray,
    *,
    transform: Affine | None = None,
    epsg: int | None = 32655,
    nodata: float | None = None,
) -> Path:
    """Any (bands, H, W) array as a GeoTIFF (identity transform and no CRS when epsg is None)."""
    if transform is None:
        transform = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_800_000.0)
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": str(data.dtype),
        "crs": None if epsg is None else CRS.from_epsg(epsg),
        "transform": transform if epsg is not None else Affine.identity(),
        "nodata": nodata,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(data)
    return path


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


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("masks: {2001-07-11: cloud.tif}\n", "no fine image on that date"),
        ("masks: {2001-05-24: missing.tif}\n", "not found"),
        ("masks: {2001-05-24: small.tif}\n", "not on the grid"),
        ("masks: {2001-05-24: two.tif}\n", "2 bands"),
        ("mask_valid_values: clear\n", "mask_valid_values"),
        ("valid_range: [1, 0]\n", "valid_range"),
        ("unit: celsius\n", "unit"),
        ("resampling: bicubic\n", "did you mean 'cubic'"),
        ("offset: x\n", "offset"),
        ("nodata: [a]\n", "nodata"),
    ],
)
def test_option_errors(scene_dir: Path, extra: str, expected: str) -> None:
    write_array(scene_dir / "cloud.tif", np.zeros((1, 16, 20), np.uint8))
    write_array(scene_dir / "small.tif", np.zeros((1, 8, 10), np.uint8))
    write_array(scene_dir / "two.tif", np.zeros((2, 16, 20), np.uint8))
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT + extra)
    message = load_error(scene_dir / "scene.yaml")
    assert "scene.yaml" in message or ".tif" in message
    assert expected in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "fine: {scale: 0.0001, 2001-05-24: tm0524.tif}\ncoarse: {2001-05-24: m0524.tif}\n",
            "no 'images'",
        ),
        (
            "fine: {images: {2001-05-24: tm0524.tif}, scael: 1}\ncoarse: {2001-05-24: m0524.tif}\n",
            "did you mean 'scale'",
        ),
        (
            "fine: {images: {2001-05-24: tm0524.tif}, resampling: nearest}\n"
            "coarse: {2001-05-24: m0524.tif}\n",
            "unknown key 'resampling' under fine",
        ),
        (
            "masks: {2001-05-24: tm0524.tif}\n"
            "fine: {masks: {2001-05-24: tm0524.tif}, images: {2001-05-24: tm0524.tif}}\n"
            "coarse: {2001-05-24: m0524.tif}\n",
            "keep one",
        ),
        (
            "fine: {2001-05-24: {file: tm0524.tif}}\ncoarse: {2001-05-24: m0524.tif}\n",
            "path",
        ),
        (
            "fine: {images: {2001-05-24: tm0524.tif}, bands: [0]}\n"
            "coarse: {2001-05-24: m0524.tif}\n",
            "counted from 1",
        ),
    ],
)
def test_section_form_errors(scene_dir: Path, text: str, expected: str) -> None:
    (scene_dir / "scene.yaml").write_text(text)
    message = load_error(scene_dir / "scene.yaml")
    assert "scene.yaml" in message and expected in message


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


def coarse_grid_scene(scene_dir: Path, extra: str = "", epsg: int = 32655) -> Path:
    """Fine 20x16 at 30 m; coarse 5x4 at 120 m covering the same extent, values a ramp."""
    ramp = (1000 + 100 * np.arange(20, dtype=np.int16)).reshape(1, 4, 5).repeat(3, axis=0)
    transform = Affine(120.0, 0.0, 500_000.0, 0.0, -120.0, 4_800_000.0)
    write_array(scene_dir / "m0711.tif", ramp, transform=transform, epsg=epsg)
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT + extra)
    return scene_dir / "scene.yaml"


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


def test_save_scene_with_options_round_trip(tmp_path: Path) -> None:
    for name in ("f1.tif", "f2.tif", "c1.tif", "c2.tif"):
        write_tif(tmp_path / name)
    write_array(tmp_path / "cloud.tif", np.zeros((1, 16, 20), np.uint8))
    path = save_scene(
        tmp_path / "s.yaml",
        fine={D1: tmp_path / "f1.tif", D3: tmp_path / "f2.tif"},
        coarse={D1: tmp_path / "c1.tif", D3: {"path": tmp_path / "c2.tif", "bands": [1, 2, 3]}},
        scale=0.0001,
        unit="reflectance",
        valid_range=(0.0, 1.0),
        masks={D1: tmp_path / "cloud.tif"},
        mask_valid_values=[0, 1],
        coarse_options={"scale": 0.0001, "offset": 0.0, "resampling": "nearest"},
    )
    raw = yaml.safe_load(path.read_text())
    assert raw["valid_range"] == [0.0, 1.0] and raw["masks"] == {D1: "cloud.tif"}
    assert "unit" not in raw and "offset" not in raw  # defaults are not written
    assert raw["fine"] == {D1: "f1.tif", D3: "f2.tif"}
    assert raw["coarse"]["resampling"] == "nearest"
    assert raw["coarse"]["images"][D3] == {"path": "c2.tif", "bands": [1, 2, 3]}
    scene = load_scene(path)
    assert scene.options("fine").valid_range == (0.0, 1.0)
    assert scene.options("fine").masks == {D1: tmp_path / "cloud.tif"}
    assert scene.options("coarse").resampling == "nearest"
    assert scene.sources[("coarse", D3)].bands == (1, 2, 3)
    with pytest.raises(EstStfmError):
        save_scene(path, fine={D1: "f1.tif"}, coarse={D1: "c1.tif"}, fine_options={"colour": 1})


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
