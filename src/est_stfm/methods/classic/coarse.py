"""The coarse pixels over a fine grid, for any real coarse factor (14.7 as well as 16).

A coarse pixel of ``factor`` fine pixels on a side tiles the fine grid from its top-left corner:
coarse pixel ``k`` covers the fine coordinates ``[k factor, (k + 1) factor)`` along each axis,
the last one ending at the image edge (a partial coarse pixel; a sliver narrower than half a fine
pixel is merged into the one before). A fine pixel straddling a boundary belongs to both
coarse pixels in proportion to its area in each (:meth:`CoarseGrid.means`); where a fine pixel
needs a single coarse pixel, it takes the one containing its centre (:meth:`CoarseGrid.expand`).
With an integer factor both reduce to plain ``factor`` x ``factor`` blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


def block_means(image: np.ndarray, size: int) -> np.ndarray:
    """Mean over ``size`` x ``size`` blocks from the top-left corner of the last two axes;
    partial blocks at the right and bottom edges average the pixels they have."""
    h, w = image.shape[-2:]
    nh, nw = math.ceil(h / size), math.ceil(w / size)
    widths = [(0, 0)] * (image.ndim - 2) + [(0, nh * size - h), (0, nw * size - w)]
    sums = np.pad(image.astype(np.float64), widths).reshape(*image.shape[:-2], nh, size, nw, size)
    rows = np.minimum(size, h - np.arange(nh) * size)
    cols = np.minimum(size, w - np.arange(nw) * size)
    return sums.sum(axis=(-3, -1)) / np.outer(rows, cols)


def expand_blocks(blocks: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    """Each block value repeated over its ``size`` x ``size`` fine pixels, cropped to ``shape``."""
    out = np.repeat(np.repeat(blocks, size, axis=-2), size, axis=-1)
    return out[..., : shape[0], : shape[1]]


def _edges(length: int, factor: float) -> np.ndarray:
    """Boundaries of the coarse pixels along an axis of ``length`` fine pixels: every
    ``factor``, the last at the edge (a sliver under half a fine pixel joins its neighbour)."""
    count = max(1, math.ceil((length - 0.5) / factor))
    edges = np.minimum(np.arange(count + 1) * factor, float(length))
    edges[-1] = length
    return edges


def _overlap(length: int, factor: float) -> np.ndarray:
    """``(coarse, fine)`` length of each fine pixel ``[i, i + 1)`` inside each coarse pixel."""
    edges = _edges(length, factor)
    pixel = np.arange(length)[None]
    low = np.maximum(edges[:-1, None], pixel)
    high = np.minimum(edges[1:, None], pixel + 1)
    return np.maximum(high - low, 0.0)


@dataclass(frozen=True)
class CoarseGrid:
    """The coarse pixels of ``factor`` (>= 1) fine pixels over a fine grid of ``shape``."""

    factor: float
    shape: tuple[int, int]

    @cached_property
    def size(self) -> tuple[int, int]:
        """Number of coarse rows and columns (a partial last one counts)."""
        return len(_edges(self.shape[0], self.factor)) - 1, len(
            _edges(self.shape[1], self.factor)
        ) - 1

    @cached_property
    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = _overlap(self.shape[0], self.factor), _overlap(self.shape[1], self.factor)
        return rows / rows.sum(1, keepdims=True), cols / cols.sum(1, keepdims=True)

    @cached_property
    def index(self) -> tuple[np.ndarray, np.ndarray]:
        """The coarse row of each fine row and the coarse column of each fine column: the
        coarse pixel containing the fine pixel's centre."""
        nh, nw = self.size
        rows = np.minimum(((np.arange(self.shape[0]) + 0.5) // self.factor).astype(int), nh - 1)
        cols = np.minimum(((np.arange(self.shape[1]) + 0.5) // self.factor).astype(int), nw - 1)
        return rows, cols

    @cached_property
    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Boundaries of the coarse rows and columns in fine coordinates (pixel edges at
        integers): ``rows + 1`` and ``cols + 1`` values from 0 to the image size."""
        return _edges(self.shape[0], self.factor), _edges(self.shape[1], self.factor)

    @cached_property
    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Fine coordinates (pixel centres at integers) of the coarse pixels' centres."""
        rows, cols = self.edges
        return (rows[:-1] + rows[1:]) / 2 - 0.5, (cols[:-1] + cols[1:]) / 2 - 0.5

    def means(self, image: np.ndarray) -> np.ndarray:
        """Area-weighted mean of ``image`` (``(..., H, W)``) over each coarse pixel:
        ``(..., rows, cols)`` in float64."""
        rows, cols = self._weights
        return rows @ np.asarray(image, dtype=np.float64) @ cols.T

    def expand(self, values: np.ndarray) -> np.ndarray:
        """``values`` of the coarse pixels (``(..., rows, cols)``) on the fine grid: each fine
        pixel takes its coarse pixel's value (see :attr:`index`)."""
        rows, cols = self.index
        return values[..., rows[:, None], cols[None, :]]

    def owner_means(self, image: np.ndarray) -> np.ndarray:
        """Mean of ``image`` (``(..., H, W)``) over the fine pixels whose centres each coarse
        pixel contains: ``(..., rows, cols)``."""
        rows, cols = self.index
        nh, nw = self.size
        owner = (rows[:, None] * nw + cols[None, :]).ravel()
        counts = np.bincount(owner, minlength=nh * nw).astype(np.float64)
        flat = np.asarray(image, dtype=np.float64).reshape(-1, owner.size)
        sums = np.stack([np.bincount(owner, weights=row, minlength=nh * nw) for row in flat])
        out = sums / np.maximum(counts, 1)
        return out.reshape(*image.shape[:-2], nh, nw)
