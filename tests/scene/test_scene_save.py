"""Writing scene files: relative paths, options, defaults left out, and a round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from scene_helpers import D1, D2, D3, write_array, write_tif

from est_stfm.errors import EstStfmError
from est_stfm.scene import load_scene, save_scene


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
