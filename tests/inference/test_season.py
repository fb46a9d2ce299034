"""A season in one run: each date's file is the single-date prediction bit for bit, the dates
with a fine image are reported and left alone, and a stopped run resumes."""

from __future__ import annotations

import json
import shutil

import pytest
from season_helpers import COARSE_ONLY, DATES, FINE, make_season_scene

from est_stfm.errors import EstStfmError
from est_stfm.inference.predict import predict_to_file
from est_stfm.inference.season import (
    SEASON_FILE,
    coarse_dates_between,
    date_file,
    date_range,
    predict_season,
)
from est_stfm.methods import resolve_method
from est_stfm.scene import load_scene

TILING = {"tile": 24, "overlap": 6}  # 48 x 40 pixels: several tiles, so the buffers move


@pytest.fixture(scope="module")
def season_scene(tmp_path_factory):
    return make_season_scene(tmp_path_factory.mktemp("season"))


@pytest.mark.parametrize("name", ["naive-change", "fit-fc"])
def test_each_date_equals_the_single_date_prediction(season_scene, tmp_path, name):
    scene = load_scene(season_scene)
    method = resolve_method(name, scene)
    season = predict_season(scene, DATES, method, tmp_path / "season", **TILING)
    assert sorted(season.written) == COARSE_ONLY
    assert season.tiles == 6
    for day in COARSE_ONLY:
        single = tmp_path / f"single_{day}.tif"
        alone = load_scene(season_scene, hidden_fine=[day])
        written = predict_to_file(alone, day, resolve_method(name, alone), single, **TILING)
        assert season.references[day] == written.references
        assert season.written[day].read_bytes() == single.read_bytes()


def test_passes_of_one_date_write_the_same_files(season_scene, tmp_path):
    scene = load_scene(season_scene)
    method = resolve_method("naive-change", scene)
    together = predict_season(scene, DATES, method, tmp_path / "together", **TILING)
    apart = predict_season(scene, DATES, method, tmp_path / "apart", dates_per_pass=1, **TILING)
    for day in COARSE_ONLY:
        assert together.written[day].read_bytes() == apart.written[day].read_bytes()


def test_dates_with_a_fine_image_are_reported_and_not_written(season_scene, tmp_path):
    scene = load_scene(season_scene)
    out = tmp_path / "season"
    season = predict_season(scene, DATES, resolve_method("naive-change", scene), out)
    assert season.fine == FINE
    for day in FINE:
        assert not date_file(out, day).exists()
    record = json.loads((out / SEASON_FILE).read_text())
    assert sorted(record["done"]) == [d.isoformat() for d in COARSE_ONLY]


def test_a_stopped_run_resumes_where_it_stopped(season_scene, tmp_path):
    scene = load_scene(season_scene)
    method = resolve_method("naive-change", scene)
    fresh = predict_season(scene, DATES, method, tmp_path / "fresh", **TILING)
    out = tmp_path / "resumed"
    # the first run stops after one pass of one date (as a kill after that pass leaves it)
    predict_season(scene, COARSE_ONLY[:1], method, out, dates_per_pass=1, **TILING)
    first = date_file(out, COARSE_ONLY[0])
    stamp = first.stat().st_mtime_ns
    (out / f".{COARSE_ONLY[1]}.tif.0123456789ab.tmp").write_bytes(b"left by a kill")
    again = predict_season(scene, DATES, method, out, **TILING)
    assert again.resumed == COARSE_ONLY[:1]
    assert first.stat().st_mtime_ns == stamp  # kept, not fused again
    for day in COARSE_ONLY:
        assert again.written[day].read_bytes() == fresh.written[day].read_bytes()
    # a date recorded as done whose file is gone is fused again
    date_file(out, COARSE_ONLY[2]).unlink()
    third = predict_season(scene, DATES, method, out, **TILING)
    assert third.resumed == COARSE_ONLY[:2]
    assert third.written[COARSE_ONLY[2]].read_bytes() == fresh.written[COARSE_ONLY[2]].read_bytes()


def test_a_folder_of_another_run_is_refused(season_scene, tmp_path):
    scene = load_scene(season_scene)
    out = tmp_path / "season"
    predict_season(scene, DATES, resolve_method("naive-change", scene), out)
    with pytest.raises(EstStfmError, match="other settings.*method 'naive-change' there"):
        predict_season(scene, DATES, resolve_method("naive-copy", scene), out)
    shutil.rmtree(out)
    out.write_text("a file")
    with pytest.raises(EstStfmError, match="is a file"):
        predict_season(scene, DATES, resolve_method("naive-change", scene), out)


def test_date_ranges(season_scene):
    scene = load_scene(season_scene)
    assert date_range("2001-05-10..2001-05-24") == (DATES[0].replace(day=10), DATES[4])
    assert coarse_dates_between(scene, "2001-05-10", "2001-05-24") == DATES[1:5]
    for text, message in [
        ("2001-05-10", "FIRST..LAST"),
        ("2001-05-24..2001-05-10", "ends before it starts"),
        ("May..2001-05-10", "YYYY-MM-DD"),
    ]:
        with pytest.raises(EstStfmError, match=message):
            date_range(text)
    with pytest.raises(EstStfmError, match="no coarse image from 2002-01-01"):
        coarse_dates_between(scene, "2002-01-01", "2002-02-01")
