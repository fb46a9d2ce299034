"""JSON files every strict parser reads: undefined numbers are written as null."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np

from est_stfm.io.jsonfile import write_json


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def test_non_finite_numbers_become_null(tmp_path: Path):
    value = {
        "CC": math.nan,
        "PSNR": math.inf,
        "per_band": [{"SAM": np.float32("nan"), "RMSE": np.float64(0.25)}, (-math.inf, 2)],
        "centres": np.array([[0.5, np.nan]]),
        "count": np.int64(7),
        "date": dt.date(2001, 5, 8),
    }
    path = tmp_path / "report.json"
    write_json(path, value, default=str)
    assert json.loads(path.read_text(), parse_constant=_not_json) == {
        "CC": None,
        "PSNR": None,
        "per_band": [{"SAM": None, "RMSE": 0.25}, [None, 2]],
        "centres": [[0.5, None]],
        "count": 7,
        "date": "2001-05-08",
    }
