"""Atomic writes: a destination is replaced whole or left untouched, and bad destinations are
one-line errors before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_target, atomic_write_text, check_output_folder


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_target(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_directory_destination_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(EstStfmError, match="is a directory"):
        atomic_write_text(tmp_path, "x")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_folder_under_a_file_is_a_user_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(EstStfmError, match=r"/file is a file, not a folder"):
        atomic_write_text(tmp_path / "file" / "sub" / "out.txt", "x")
    assert (tmp_path / "file").read_text() == "x"


def test_output_folder_check(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert check_output_folder(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    assert check_output_folder(tmp_path, "--out") == tmp_path
    with pytest.raises(EstStfmError, match=r"^--out .*file is a file: give a folder"):
        check_output_folder(tmp_path / "file", "--out")
    with pytest.raises(EstStfmError, match=r"^--runs .*/file is a file, not a folder"):
        check_output_folder(tmp_path / "file" / "runs", "--runs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing made


def test_predict_out_naming_a_directory_exits_2_with_one_line(capsys, tiny_scene, tmp_path):
    folder = tmp_path / "preds"
    folder.mkdir()
    code, out, err = cli(
        capsys,
        "predict",
        tiny_scene,
        "--date",
        "2001-06-09",
        "--model",
        "naive-change",
        "--out",
        folder,
        "--quiet",
    )
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "is a directory" in err
    assert list(folder.iterdir()) == []
