"""The scene file's schema: accepted forms, inheritance between sections, and a one-line message
naming the key for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from scene_helpers import D1, D2, D3, SCENE_TEXT, load_error, write_scene

from est_stfm.errors import EstStfmError
from est_stfm.scene import load_scene
from est_stfm.scene.spec import parse_scene_spec


@pytest.fixture
def scene_dir(tmp_path: Path) -> Path:
    """A folder holding a valid scene (see :func:`scene_helpers.write_scene`)."""
    return write_scene(tmp_path)


def test_sections_inherit_top_level_options_but_coarse_not_its_masks() -> None:
    folder = Path("/data")
    spec = parse_scene_spec(
        folder / "s.yaml",
        {
            "scale": 0.0001,
            "nodata": 0,
            "masks": {"2001-05-24": "cloud.tif"},
            "fine": {D1: "f1.tif", "20010812": "f2.tif"},
            "coarse": {
                "scale": 1,
                "bands": [2],
                "images": {D1: "c1.tif", D2: {"path": "stack.tif", "bands": [4]}},
            },
        },
    )
    fine, coarse = spec.section_options("fine", folder), spec.section_options("coarse", folder)
    assert fine.scale == 0.0001 and fine.nodata == (0.0,)
    assert fine.masks == {D1: folder / "cloud.tif"}
    assert coarse.scale == 1.0 and coarse.nodata == (0.0,) and coarse.masks == {}
    assert list(spec.section_images("fine", folder)) == [D1, D3]
    images = spec.section_images("coarse", folder)
    assert images[D1].bands == (2,) and images[D2].bands == (4,)
    assert images[D2].name == "stack.tif" and images[D2].path == folder / "stack.tif"
    assert not spec.unit_given and spec.unit == "reflectance"


def test_schema_errors_name_the_file_and_need_no_images() -> None:
    path = Path("/nowhere/s.yaml")
    with pytest.raises(EstStfmError) as exc:
        parse_scene_spec(path, {"fine": {D1: "f.tif"}, "coarse": {D1: {"path": " "}}})
    assert str(exc.value) == f"scene file {path}: coarse {D1} must be an image path, got ' '"


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


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("masks: {2001-07-11: cloud.tif}\n", "no fine image on that date"),
        ("mask_valid_values: clear\n", "mask_valid_values"),
        ("valid_range: [1, 0]\n", "valid_range"),
        ("unit: celsius\n", "unit"),
        ("resampling: bicubic\n", "did you mean 'cubic'"),
        ("offset: x\n", "offset"),
        ("nodata: [a]\n", "nodata"),
    ],
)
def test_option_errors(scene_dir: Path, extra: str, expected: str) -> None:
    (scene_dir / "scene.yaml").write_text(SCENE_TEXT + extra)
    message = load_error(scene_dir / "scene.yaml")
    assert "scene.yaml" in message
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
