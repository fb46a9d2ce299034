"""Row blocks, the valid mask of a pair and exact per-row sums, shared by metrics and clustering."""

from __future__ import annotations

import math

import numpy as np
import pytest

from est_stfm.errors import EstStfmError
from est_stfm.evaluation.chunks import (
    CHUNK_PIXELS,
    MIN_CHUNK_ROWS,
    RowSums,
    check_pair,
    masked64,
    row_blocks,
)


def test_row_blocks_cover_every_row_once() -> None:
    assert row_blocks(10, 4, chunk_rows=4) == [(0, 4), (4, 8), (8, 10)]
    assert row_blocks(0, 4, chunk_rows=4) == []
    default = row_blocks(5000, 1000)
    assert default[0] == (0, max(MIN_CHUNK_ROWS, math.ceil(CHUNK_PIXELS / 1000)))
    assert default[-1][1] == 5000
    with pytest.raises(EstStfmError, match="chunk_rows"):
        row_blocks(10, 4, chunk_rows=0)


def test_check_pair_drops_non_finite_pixels_and_refuses_bad_input() -> None:
    pred = np.zeros((2, 3, 4))
    truth = np.zeros((2, 3, 4))
    pred[1, 0, 0] = np.nan
    truth[0, 2, 3] = np.inf
    valid = np.ones((3, 4), bool)
    valid[1, 1] = False
    out = check_pair(pred, truth, valid, chunk_rows=1)
    assert out.sum() == 9 and not out[0, 0] and not out[2, 3] and not out[1, 1]
    assert valid.sum() == 11  # the caller's mask is left alone
    with pytest.raises(EstStfmError, match="shape"):
        check_pair(pred, truth[:1], None)
    with pytest.raises(EstStfmError, match="mask"):
        check_pair(pred, truth, np.ones((4, 3), bool))
    with pytest.raises(EstStfmError, match="no valid pixel"):
        check_pair(pred, truth, np.zeros((3, 4), bool))


def test_masked64_zeroes_invalid_pixels_whatever_they_hold() -> None:
    img = np.array([[1.5, np.nan], [np.inf, 2.0]], np.float32)
    out = masked64(img, np.array([[True, False], [False, True]]))
    assert out.dtype == np.float64 and out.tolist() == [[1.5, 0.0], [0.0, 2.0]]


def test_row_sums_are_exact_whatever_the_split() -> None:
    rows = np.array([1e16, 1.0, -1e16, 1.0])
    whole, split = RowSums(), RowSums()
    whole.add("x", rows)
    for part in np.split(rows, 4):
        split.add("x", part)
    assert whole.total("x") == split.total("x") == 2.0  # a plain float sum gives 1.0 or 0.0
    assert whole.total("missing") == 0.0
