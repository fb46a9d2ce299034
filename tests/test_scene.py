"""Scene files: loading, date handling, reference choice, and one-line errors for every mistake."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from rasterio.crs import CRS

from est_stfm.data import Scene, load_scene, save_scene
from est_stfm.errors import EstStfmError

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
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT + "nodata: 0\n")
    message = load_error(scene_dir / "scene.yaml")
    assert "'nodata'" in message and "scene.yaml" in message


def test_missing_image(scene_dir: Path) -> None:
    (scene_dir / "m0711.tif").unlink()
    message = load_error(scene_dir / "scene.yaml")
    assert str(scene_dir / "m0711.tif") in message
    assert "2001-07-11" in message and "relative to the scene file" in message


def test_image_that_is_not_a_raster(scene_dir: Path) -> None:
    (scene_dir / "m0711.tif").write_text("not an image")
    message = load_error(scene_dir / "scene.yaml")
    assert "m0711.tif" in message and "2001-07-11" in message


def test_coarse_on_another_grid_size(scene_dir: Path) -> None:
    write_tif(scene_dir / "m0711.tif", width=10, height=8)
    message = load_error(scene_dir / "scene.yaml")
    assert "m0711.tif" in message and "2001-07-11" in message
    assert "10x8" in message and "20x16" in message
    assert "resample coarse images onto the fine grid" in message


def test_fine_on_another_grid_size(scene_dir: Path) -> None:
    write_tif(scene_dir / "tm0812.tif", width=21)
    message = load_error(scene_dir / "scene.yaml")
    assert "tm0812.tif" in message and "21x16" in message


def test_other_crs_and_shifted_transform(scene_dir: Path) -> None:
    write_tif(scene_dir / "m0812.tif", epsg=32755)
    message = load_error(scene_dir / "scene.yaml")
    assert "m0812.tif" in message and "EPSG:32755" in message and "EPSG:32655" in message

    write_tif(scene_dir / "m0812.tif", origin=(500_015.0, 4_800_000.0))
    message = load_error(scene_dir / "scene.yaml")
    assert "m0812.tif" in message and "origin" in message


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
