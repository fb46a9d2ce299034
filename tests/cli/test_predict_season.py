"""``est-stfm predict`` with several dates: a folder of GeoTIFFs, a cube, a quick-look, a rerun
that keeps the finished dates, and one-line errors checked before any work."""

from __future__ import annotations

import json

import pytest
import xarray as xr
from helpers import cli
from season_helpers import COARSE_ONLY, DATES, FINE, make_season_scene

from est_stfm.inference.season import SEASON_FILE


@pytest.fixture(scope="module")
def season_scene(tmp_path_factory):
    return make_season_scene(tmp_path_factory.mktemp("season"))


def _predict(capsys, scene, out, *args):
    return cli(capsys, "predict", scene, "--model", "naive-change", "--out", out, "--quiet", *args)


def test_a_season_in_one_command(season_scene, tmp_path, capsys):
    out, cube, figure = tmp_path / "season", tmp_path / "season.zarr", tmp_path / "season.png"
    span = f"{DATES[0]}..{DATES[-1]}"
    code, stdout, err = _predict(
        capsys, season_scene, out, "--dates", span, "--cube", cube, "--quicklook", figure
    )
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        *(f"{d}.tif" for d in COARSE_ONLY),
        SEASON_FILE,
    ]
    assert f"not predicted, they have a fine image: {', '.join(map(str, FINE))}" in stdout
    assert "3 fused now, 0 kept" in stdout
    with xr.open_dataset(cube) as ds:
        assert ds.sizes["time"] == len(DATES)
        assert ds.rio.crs.to_epsg() == 32655
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same command again keeps every date
    code, stdout, err = _predict(capsys, season_scene, out, "--dates", span)
    assert code == 0, err
    assert "0 fused now, 3 kept from an earlier run" in stdout


def test_repeated_dates(season_scene, tmp_path, capsys):
    out = tmp_path / "two"
    code, stdout, err = _predict(
        capsys, season_scene, out, "--date", str(COARSE_ONLY[0]), "--date", str(FINE[1])
    )
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.tif")) == [f"{COARSE_ONLY[0]}.tif"]
    assert f"not predicted, they have a fine image: {FINE[1]}" in stdout
    assert list(json.loads((out / SEASON_FILE).read_text())["done"]) == [str(COARSE_ONLY[0])]


def test_one_date_still_writes_one_file(season_scene, tmp_path, capsys):
    out = tmp_path / "one.tif"
    code, stdout, err = _predict(capsys, season_scene, out, "--date", str(COARSE_ONLY[1]))
    assert code == 0, err
    assert out.is_file() and stdout.startswith(f"wrote {out} (naive-change")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--date DATE (repeatable) or --dates FIRST..LAST"),
        (["--dates", "2001-05-08"], "FIRST..LAST"),
        (["--dates", "2001-05-28..2001-05-08"], "ends before it starts"),
        (["--dates", "2002-01-01..2002-02-01"], "no coarse image from 2002-01-01"),
        (["--dates", "2001-05-08..2001-05-28", "--cube", "c.tif"], "*.zarr"),
        (["--dates", "2001-05-08..2001-05-28", "--quicklook", "q.jpg"], ".png, .pdf or .svg"),
        (["--dates", "2001-05-08..2001-05-28", "--adapt-steps", "2"], "single --date"),
        (["--date", "2001-05-12", "--date", "1999-01-01"], "no coarse image for 1999-01-01"),
    ],
)
def test_user_errors_come_before_any_work(season_scene, tmp_path, capsys, args, message):
    out = tmp_path / "season"
    code, _, err = _predict(capsys, season_scene, out, *args)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert message in err
    assert not out.exists()


def test_a_tif_out_with_several_dates_is_refused(season_scene, tmp_path, capsys):
    out = tmp_path / "season.tif"
    code, _, err = _predict(capsys, season_scene, out, "--dates", "2001-05-08..2001-05-28")
    assert code == 2 and "give a folder" in err
    assert not out.exists()
