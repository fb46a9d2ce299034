"""``kill -9`` at any moment of ``predict`` never damages the destination: it holds the old file
or the complete new one, and the next run finishes cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from est_stfm.io import read_raster


def _predict(scene: Path, out: Path) -> subprocess.Popen:
    args = ["predict", str(scene), "--date", "2001-06-09", "--model", "starfm", "--out", str(out)]
    return subprocess.Popen(
        [sys.executable, "-m", "est_stfm", *args, "--tile", "16", "--overlap", "4", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_kill_9_during_predict_leaves_old_or_complete_file(tiny_scene, tmp_path):
    reference = tmp_path / "reference.tif"
    start = time.monotonic()
    done = _predict(Path(tiny_scene), reference)
    assert done.wait(timeout=300) == 0, done.stderr.read().decode()
    duration = time.monotonic() - start
    expected, _ = read_raster(reference)

    out = tmp_path / "pred.tif"
    old = b"an older file the user cares about"
    for fraction in (0.15, 0.5, 0.75, 0.9):
        out.write_bytes(old)
        proc = _predict(Path(tiny_scene), out)
        time.sleep(duration * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        data = out.read_bytes()
        if data != old:  # the rename happened: the new file is whole
            got, _ = read_raster(out)
            np.testing.assert_array_equal(got, expected)
    proc = _predict(Path(tiny_scene), out)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    got, _ = read_raster(out)
    np.testing.assert_array_equal(got, expected)
