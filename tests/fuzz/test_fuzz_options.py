"""Fuzzing command-line options of predict, evaluate and cluster on a real scene: any value gives
a result or one ``error:`` line (or click's usage message) and exit status 2."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from fuzzing import FUZZ, assert_clean, count, run_cli
from hypothesis import given
from hypothesis import strategies as st

from est_stfm.scene import load_scene

_ids = itertools.count()

ints = st.integers(-3, 70) | st.sampled_from([0, 1, 15, 16, 511, 10**9, -(10**9)])
texts = st.sampled_from(["", "x", "1e3", "nan", "-0", "2001-05-24", "--quiet", "ü", "1" * 40])
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0001, 1, 0, -1])
date_texts = st.sampled_from(
    ["2001-05-08", "2001-05-24", "2001-06-09", "2001-06-25", "20010609", "2001-06-31", "", "x"]
)


@pytest.fixture(scope="module")
def prediction(tiny_scene, tmp_path_factory) -> tuple[Path, Path, Path]:
    """``(scene, prediction, truth)``: a naive-change prediction of the tiny scene's third date."""
    out = tmp_path_factory.mktemp("fuzz_options") / "pred.tif"
    code, _, err = run_cli(
        "predict", tiny_scene, "--date", "2001-06-09", "--model", "naive-change", "--out", out
    )
    assert code == 0, err
    truth = load_scene(tiny_scene).fine[load_scene(tiny_scene).pairs_dates()[2]]
    return Path(tiny_scene), out, truth


def _option(name: str, values) -> st.SearchStrategy:
    return st.tuples(st.just(name), values)


predict_options = st.lists(
    _option("--tile", ints | texts)
    | _option("--overlap", ints | texts)
    | _option("--halo", ints)
    | _option("--pairs", st.sampled_from(["1", "2", "auto", "3", ""]) | texts)
    | _option("--reference", date_texts)
    | _option("--adapt-steps", ints)
    | _option("--model", st.sampled_from(["naive-copy", "starfm", "fsdaf", "est-stfm-tiny", "."])),
    max_size=4,
)


@FUZZ
@given(date=date_texts, options=predict_options)
def test_predict_options(prediction, date, options):
    count("predict options")
    scene = prediction[0]
    out = scene.parent / f"fuzz_{next(_ids)}.tif"
    flat = [str(v) for pair in options for v in pair]
    args = ("predict", scene, "--date", date, "--model", "naive-change", "--out", out, *flat)
    args += ("--quiet",)
    code, _, err = run_cli(*args)
    assert_clean(code, err, args)
    assert out.exists() == (code == 0)


@FUZZ
@given(
    command=st.sampled_from(["evaluate", "cluster"]),
    options=st.lists(
        _option("--scale", floats | texts)
        | _option("--ratio", floats)
        | _option("--k", ints)
        | _option("--seed", ints)
        | _option("--mask", st.sampled_from(["pred", "truth", "scene", "missing", "dir"])),
        max_size=3,
    ),
)
def test_evaluate_and_cluster_options(prediction, command, options):
    count("evaluate/cluster options")
    scene, pred, truth = prediction
    paths = {
        "pred": pred,
        "truth": truth,
        "scene": scene,
        "missing": scene.parent / "no.tif",
        "dir": scene.parent,
    }
    flat = []
    for name, value in options:
        if command == "evaluate" and name in ("--k", "--seed"):
            continue
        if command == "cluster" and name == "--ratio":
            continue
        flat += [name, str(paths.get(value, value)) if name == "--mask" else str(value)]
    args = (command, pred, truth, *flat)
    code, out, err = run_cli(*args)
    assert_clean(code, err, args)
    if code == 0:
        assert out.strip()
