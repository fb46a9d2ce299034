"""Row blocks: how the evaluation walks an image of any size in bounded memory, exactly.

The metrics (:mod:`est_stfm.evaluation.metrics`) and the clustering
(:mod:`est_stfm.evaluation.cluster`) share one way to go over an image: row blocks of about
:data:`CHUNK_PIXELS` pixels, pixels counted only where the pair's valid mask says so, and sums
taken per row and added up exactly at the end, so the block size never changes a bit of a result.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from est_stfm.errors import EstStfmError

CHUNK_PIXELS = 1 << 17
"""Pixels per row block when ``chunk_rows`` is not given (1 MB per float64 plane; at least
:data:`MIN_CHUNK_ROWS` rows). Small blocks stay in cache: they are faster than large ones."""
MIN_CHUNK_ROWS = 32


def row_blocks(height: int, width: int, chunk_rows: int | None = None) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges covering ``height`` rows, ``chunk_rows`` rows each (default:
    about :data:`CHUNK_PIXELS` pixels per block, at least :data:`MIN_CHUNK_ROWS` rows)."""
    if chunk_rows is None:
        chunk_rows = max(MIN_CHUNK_ROWS, -(-CHUNK_PIXELS // max(width, 1)))
    if chunk_rows < 1:
        raise EstStfmError(f"chunk_rows must be a positive number of rows, not {chunk_rows}")
    return [(r, min(r + chunk_rows, height)) for r in range(0, height, chunk_rows)]


def check_pair(
    pred: np.ndarray,
    truth: np.ndarray,
    valid: np.ndarray | None,
    chunk_rows: int | None = None,
) -> np.ndarray:
    """The ``(H, W)`` mask of pixels valid in ``valid`` and finite in both images.

    Raises :class:`EstStfmError` for mismatched shapes or when no pixel is valid.
    """
    if pred.shape != truth.shape:
        raise EstStfmError(
            f"prediction shape {pred.shape} differs from truth shape {truth.shape}: "
            "compare images on the same grid with the same bands"
        )
    if pred.ndim != 3:
        raise EstStfmError(f"expected (bands, H, W) arrays, got shape {pred.shape}")
    if valid is None:
        out = np.ones(pred.shape[1:], dtype=bool)
    else:
        if np.shape(valid) != pred.shape[1:]:
            raise EstStfmError(
                f"the valid mask is shaped {np.shape(valid)} but the images are "
                f"{pred.shape[1]}x{pred.shape[2]}: pass an (H, W) mask"
            )
        out = np.array(valid, dtype=bool)
    for r0, r1 in row_blocks(*pred.shape[1:], chunk_rows):
        out[r0:r1] &= np.isfinite(pred[:, r0:r1]).all(0) & np.isfinite(truth[:, r0:r1]).all(0)
    if not out.any():
        raise EstStfmError("no valid pixel to evaluate: every pixel is nodata in one of the images")
    return out


def masked64(img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``img`` as float64 with every invalid pixel set to 0 (so garbage never propagates)."""
    return np.where(valid, np.asarray(img, dtype=np.float64), 0.0)


class RowSums:
    """Named per-row partial sums, added up exactly at the end (so block size never changes a
    bit): ``add`` the row sums of each block under a key, then read its ``total``."""

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, key: str, rows: np.ndarray) -> None:
        """Keep the per-row sums ``rows`` of one block under ``key``."""
        self._parts[key].append(np.asarray(rows, dtype=np.float64))

    def total(self, key: str) -> float:
        """The correctly rounded sum (:func:`math.fsum`) of every row kept under ``key``."""
        parts = self._parts.get(key)
        return math.fsum(np.concatenate(parts).tolist()) if parts else 0.0
