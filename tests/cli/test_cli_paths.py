"""Every path a user names on the command line, given wrong: one ``error:`` line, exit status 2,
and nothing already in the working folder changed (no file replaced, nothing half-written).

Each case builds its bad input in its own ``tmp_path`` and runs the command in-process; the
files under ``tmp_path`` are compared before and after the run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import cli

from est_stfm.models import create_model
from est_stfm.models.checkpoint import METADATA, WEIGHTS, save_model

DATE = "2001-06-09"  # a date of the tiny scene with a pair before it
FIT = ["--model", "est-stfm-tiny", "--epochs", 1, "--patch-size", 32, "--threads", 1, "--quiet"]
"""The cheapest fit: every bad-path case must fail before any training step."""
RAW_ROWS, RAW_COLS = 12, 10


@dataclass(frozen=True)
class Inputs:
    """Good inputs every case starts from (outside the case's folder, never changed)."""

    scene: Path
    model: Path
    pred: Path
    truth: Path
    raw: Path
    protocol: Path


def _write_raw_csiro(folder: Path) -> Path:
    """Two dates of headerless CIA-named int16 files (Landsat BIL, MODIS BSQ), 12 x 10 pixels."""
    rng = np.random.default_rng(0)
    names = [
        ("2001_281_08oct", "L71093084_08420011007_HRF_modtran_surf_ref_agd66.bil", "2001281"),
        ("2001_290_17oct", "L71093084_08420011016_HRF_modtran_surf_ref_agd66.bil", "2001290"),
    ]
    for day, landsat, modis in names:
        for sub, name in (("Landsat", landsat), ("MODIS", f"MOD09GA_A{modis}.sur_refl.int")):
            path = folder / sub / day / name
            path.parent.mkdir(parents=True)
            rng.integers(200, 4000, (6, RAW_ROWS, RAW_COLS)).astype("<i2").tofile(path)
    return folder


@pytest.fixture(scope="module")
def inputs(tiny_scene: Path, tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("good")
    model = save_model(root / "model", create_model("est-stfm-tiny", bands=6), {})
    spec = yaml.safe_load(tiny_scene.read_text())
    fine = {str(d): tiny_scene.parent / name for d, name in spec["fine"].items()}
    protocol = root / "protocol.yaml"
    case = {"id": "tiny", "scene": str(tiny_scene), "target": DATE, "ergas_ratio": 0.125}
    protocol.write_text(
        yaml.safe_dump({"version": 1, "cases": [case], "methods": [{"id": "naive-copy"}]})
    )
    return Inputs(
        scene=tiny_scene,
        model=model,
        pred=fine["2001-05-24"],
        truth=fine[DATE],
        raw=_write_raw_csiro(root / "raw"),
        protocol=protocol,
    )


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder``: a file's bytes, None for a folder."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def _file(path: Path, content: bytes = b"keep me") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


# -- model folders (predict --model, fit --init) -------------------------------------------------


def _model_copy(tmp: Path, inp: Inputs, edit: Callable[[Path], object]) -> Path:
    folder = tmp / "model"
    shutil.copytree(inp.model, folder)
    edit(folder)
    return folder


def _edit_json(change: Callable[[dict], object]) -> Callable[[Path], None]:
    """An edit of a model folder that rewrites its model.json as ``change(meta)``."""

    def edit(folder: Path) -> None:
        meta = json.loads((folder / METADATA).read_text())
        (folder / METADATA).write_text(json.dumps(change(meta)))

    return edit


def _set_config(key: str, value: object) -> Callable[[Path], None]:
    return _edit_json(lambda m: {**m, "config": {**m["config"], key: value}})


MODEL_EDITS: dict[str, tuple[Callable[[Path], object], str]] = {
    "json-lacks-config": (
        _edit_json(lambda m: {k: v for k, v in m.items() if k != "config"}),
        "config",
    ),
    "json-config-not-object": (_edit_json(lambda m: {**m, "config": "est-stfm"}), "config"),
    "json-fit-not-object": (_edit_json(lambda m: {**m, "fit": [1]}), "'fit'"),
    "json-preset-not-name": (_edit_json(lambda m: {**m, "preset": 5}), "'preset'"),
    "json-a-list": (_edit_json(lambda m: [m]), "JSON list"),
    "json-truncated": (lambda f: _file(f / METADATA, b'{"format": '), "not valid JSON"),
    "json-binary": (lambda f: _file(f / METADATA, b"\xff\xfe\x00\x01"), "not a text file"),
    "json-a-folder": (lambda f: ((f / METADATA).unlink(), _folder(f / METADATA)), "no saved model"),
    "json-missing": (lambda f: (f / METADATA).unlink(), "no saved model"),
    "arch-a-list": (_set_config("arch", ["est-stfm"]), "architecture"),
    "config-bands-mismatch": (_set_config("bands", 4), "other shapes"),
    "config-wider-than-weights": (_set_config("dims", [16, 32, 64, 128]), "other shapes"),
    "weights-missing": (lambda f: (f / WEIGHTS).unlink(), "no saved model"),
    "weights-random-bytes": (lambda f: _file(f / WEIGHTS, bytes(range(256)) * 4), WEIGHTS),
    "weights-empty": (lambda f: _file(f / WEIGHTS, b""), WEIGHTS),
    "weights-truncated": (
        lambda f: _file(f / WEIGHTS, (f / WEIGHTS).read_bytes()[:3000]),
        WEIGHTS,
    ),
}


def _predict(
    inp: Inputs, out: Path, model: object = "naive-change", scene: Path | None = None
) -> list[object]:
    """``predict`` of the tiny scene's DATE with ``model`` into ``out``."""
    scene = inp.scene if scene is None else scene
    return ["predict", scene, "--date", DATE, "--model", model, "--out", out, "--quiet"]


def _fit(tmp: Path, inp: Inputs, *options: object, out: Path | None = None) -> list[object]:
    """The cheapest ``fit`` of the tiny scene into ``out`` (default: a new folder)."""
    return ["fit", inp.scene, "--out", tmp / "new" if out is None else out, *options, *FIT]


def _prepare(raw: Path, out: Path) -> list[object]:
    """``prepare`` of the CIA layout with the fake files' size."""
    return ["prepare", "cia", raw, out, "--rows", RAW_ROWS, "--cols", RAW_COLS]


def _model_case(edit: Callable[[Path], object]) -> Callable[[Path, Inputs], list[object]]:
    """``predict --model`` of a damaged model folder, over an earlier prediction."""
    return lambda t, i: _predict(i, _file(t / "old.tif"), _model_copy(t, i, edit))


def _init_case(edit: Callable[[Path], object]) -> Callable[[Path, Inputs], list[object]]:
    """``fit --init`` of a damaged model folder."""
    return lambda t, i: _fit(t, i, "--init", _model_copy(t, i, edit))


# -- every command's path options ----------------------------------------------------------------

Build = Callable[[Path, Inputs], list[object]]

CASES: dict[str, tuple[Build, str]] = {
    **{f"predict-model-{k}": (_model_case(e), n) for k, (e, n) in MODEL_EDITS.items()},
    "predict-model-a-file": (lambda t, i: _predict(i, t / "p.tif", _file(t / "m")), "no saved"),
    "predict-model-empty-folder": (
        lambda t, i: _predict(i, t / "p.tif", _folder(t / "m")),
        "no saved model",
    ),
    "predict-model-missing": (lambda t, i: _predict(i, t / "p.tif", t / "m"), "not found"),
    "predict-out-a-folder": (lambda t, i: _predict(i, _folder(t / "p")), "is a directory"),
    "predict-out-under-a-file": (lambda t, i: _predict(i, _file(t / "f") / "p.tif"), "is a file"),
    "predict-scene-a-folder": (
        lambda t, i: _predict(i, t / "p.tif", scene=_folder(t / "s")),
        "directory",
    ),
    "fit-init-lacks-config": (_init_case(MODEL_EDITS["json-lacks-config"][0]), "config"),
    "fit-init-weights-corrupt": (_init_case(MODEL_EDITS["weights-random-bytes"][0]), WEIGHTS),
    "fit-init-empty-folder": (lambda t, i: _fit(t, i, "--init", _folder(t / "m")), "no saved"),
    "fit-init-a-file": (lambda t, i: _fit(t, i, "--init", _file(t / "m.txt")), "--init"),
    "fit-config-a-folder": (
        lambda t, i: _fit(t, i, "--config", _folder(t / "c")),
        "is a directory",
    ),
    "fit-config-missing": (lambda t, i: _fit(t, i, "--config", t / "c.yaml"), "not found"),
    "fit-config-binary": (
        lambda t, i: _fit(t, i, "--config", _file(t / "c.yaml", b"\xff\xfe\x00")),
        "not a text file",
    ),
    "fit-out-a-file": (lambda t, i: _fit(t, i, out=_file(t / "model")), "is a file"),
    "fit-out-under-a-file": (lambda t, i: _fit(t, i, out=_file(t / "f") / "m"), "is a file"),
    "fit-scene-a-folder": (
        lambda t, i: ["fit", _folder(t / "s"), "--out", t / "new", *FIT],
        "directory",
    ),
    "fit-scene-missing": (
        lambda t, i: ["fit", t / "s.yaml", "--out", t / "new", *FIT],
        "not found",
    ),
    "evaluate-pred-missing": (lambda t, i: ["evaluate", t / "no.tif", i.truth], "not found"),
    "evaluate-truth-a-folder": (lambda t, i: ["evaluate", i.pred, _folder(t / "d")], "directory"),
    "evaluate-pred-truncated": (
        lambda t, i: ["evaluate", _file(t / "p.tif", i.pred.read_bytes()[:2000]), i.truth],
        "cannot read",
    ),
    "evaluate-json-a-folder": (
        lambda t, i: ["evaluate", i.pred, i.truth, "--json", _folder(t / "d")],
        "is a directory",
    ),
    "evaluate-json-under-a-file": (
        lambda t, i: ["evaluate", i.pred, i.truth, "--json", _file(t / "f") / "m.json"],
        "is a file",
    ),
    "evaluate-csv-a-folder": (
        lambda t, i: ["evaluate", i.pred, i.truth, "--csv", _folder(t / "d")],
        "is a directory",
    ),
    "evaluate-csv-a-folder-after-json": (
        lambda t, i: [
            *("evaluate", i.pred, i.truth, "--json", _file(t / "old.json")),
            *("--csv", _folder(t / "d")),
        ],
        "is a directory",
    ),
    "evaluate-figure-a-folder": (
        lambda t, i: ["evaluate", i.pred, i.truth, "--figure", _folder(t / "d")],
        "is a directory",
    ),
    "evaluate-mask-a-folder": (
        lambda t, i: ["evaluate", i.pred, i.truth, "--mask", _folder(t / "d")],
        "directory",
    ),
    "evaluate-mask-not-a-raster": (
        lambda t, i: ["evaluate", i.pred, i.truth, "--mask", _file(t / "m.tif", b"text")],
        "cannot read",
    ),
    "cluster-truth-missing": (lambda t, i: ["cluster", i.pred, t / "no.tif"], "not found"),
    "cluster-json-a-folder": (
        lambda t, i: ["cluster", i.pred, i.truth, "--json", _folder(t / "d")],
        "is a directory",
    ),
    "cluster-figure-a-folder": (
        lambda t, i: ["cluster", i.pred, i.truth, "--figure", _folder(t / "d")],
        "is a directory",
    ),
    "cluster-figure-a-folder-after-json": (
        lambda t, i: [
            *("cluster", i.pred, i.truth, "--json", _file(t / "old.json")),
            *("--figure", _folder(t / "d")),
        ],
        "is a directory",
    ),
    "cluster-mask-a-folder": (
        lambda t, i: ["cluster", i.pred, i.truth, "--mask", _folder(t / "d")],
        "directory",
    ),
    "prepare-raw-a-file": (lambda t, i: _prepare(_file(t / "raw"), t / "out"), "not a folder"),
    "prepare-raw-missing": (lambda t, i: _prepare(t / "raw", t / "out"), "not a folder"),
    "prepare-out-a-file": (lambda t, i: _prepare(i.raw, _file(t / "out")), "is a file"),
    "prepare-out-under-a-file": (lambda t, i: _prepare(i.raw, _file(t / "f") / "o"), "is a file"),
    "benchmark-protocol-missing": (
        lambda t, i: ["benchmark", t / "no.yaml", "--out", t / "res"],
        "not found",
    ),
    "benchmark-protocol-a-folder": (
        lambda t, i: ["benchmark", _folder(t / "p"), "--out", t / "res"],
        "is a directory",
    ),
    "benchmark-out-a-file": (
        lambda t, i: ["benchmark", i.protocol, "--out", _file(t / "res")],
        "is a file",
    ),
    "benchmark-runs-a-file": (
        lambda t, i: ["benchmark", i.protocol, "--out", t / "res", "--runs", _file(t / "runs")],
        "is a file",
    ),
    "demo-out-a-file": (
        lambda t, i: ["demo", "--out", _file(t / "demo"), "--epochs", 1, "--size", 64],
        "is a file",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_path_is_one_error_line_and_changes_nothing(
    name: str, inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build, needle = CASES[name]
    args = build(tmp_path, inputs)
    before = _snapshot(tmp_path)
    code, _, err = cli(capsys, *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], lines[0]
    assert _snapshot(tmp_path) == before, "the failed command changed files"
