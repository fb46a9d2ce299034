"""FSDAF's similar-pixel filter compiled (numba): the rule of
:func:`~est_stfm.methods.classic.similar.most_similar_mean`, pixel by pixel.

The array version computes, for every pixel, the relative spectral distance to all
``(2 r + 1)^2`` window neighbours in every band (1,681 for FSDAF's 41 x 41 window), then
partitions them. Here each pixel walks its window once: a neighbour is dropped at the first band
that differs by the threshold or more (most are, after one or two bands), and the ``count``
best candidates are kept in a small sorted list (ties: the earlier neighbour in row-major order,
as the array version takes them). The arithmetic is float32 in the array version's order, so
the same neighbours are chosen; the weighted sums may differ in the last bit (summation order).
Rows are shared among threads (``prange``) when asked.
"""

from __future__ import annotations

import os
from types import FunctionType

import numpy as np
from numba import njit, prange

_TIE = np.float32(1e-5)


def _filter(
    padded: np.ndarray,
    scaled: np.ndarray,
    factors: np.ndarray,
    values_pad: np.ndarray,
    values: np.ndarray,
    radius: int,
    count: int,
    rank_factor: np.ndarray,
    spread: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (bands, H, W). ``padded``: ``scaled`` padded by ``radius`` with NaN;
    ``values_pad``: ``values`` padded by ``radius`` (zeros)."""
    bands, h, w = scaled.shape
    k = 2 * radius + 1
    one = np.float32(1.0)
    for y in prange(h):
        keys = np.empty(count, np.float32)
        cols = np.empty(count, np.int64)
        chosen = np.empty(count, np.int64)
        for x in range(w):
            m = 0
            for dy in range(k):
                for dx in range(k):
                    score = np.float32(0.0)
                    similar = True
                    for b in range(bands):
                        d = abs(padded[b, y + dy, x + dx] - scaled[b, y, x])
                        if not d < one:  # NaN (outside the image) is never similar
                            similar = False
                            break
                        score += d * factors[b, y, x]
                    if not similar:
                        continue
                    j = dy * k + dx
                    key = (score + _TIE) * rank_factor[j]
                    if m == count and not key < keys[m - 1]:
                        continue
                    i = m if m < count else count - 1  # the last slot is dropped when full
                    while i > 0 and keys[i - 1] > key:  # equal keys stay before: earlier first
                        keys[i] = keys[i - 1]
                        cols[i] = cols[i - 1]
                        i -= 1
                    keys[i] = key
                    cols[i] = j
                    if m < count:
                        m += 1
            if m == 0:  # nothing similar (a zero threshold): the pixel keeps its own value
                for b in range(bands):
                    out[b, y, x] = values[b, y, x]
                continue
            for i in range(m):  # the chosen neighbours in row-major order, as summed there
                chosen[i] = cols[i]
            chosen[:m].sort()
            total = np.float32(0.0)
            for b in range(bands):
                out[b, y, x] = 0.0
            for i in range(m):
                j = chosen[i]
                for q in range(m):  # that neighbour's key
                    if cols[q] == j:
                        break
                s = keys[q] / rank_factor[j] - _TIE
                weight = one / (spread[j] * (s + one))
                total += weight
                yy, xx = y + j // k, x + j % k
                for b in range(bands):
                    out[b, y, x] += values_pad[b, yy, xx] * weight
            for b in range(bands):
                out[b, y, x] /= total


def _renamed(function: FunctionType, name: str) -> FunctionType:
    """The same code under another name: numba's on-disk cache is keyed by the name, so the
    serial and the parallel compilation of one function need two."""
    copy = FunctionType(function.__code__, function.__globals__, name)
    copy.__qualname__ = name
    return copy


_serial = njit(cache=True, nogil=True)(_filter)
_parallel = njit(cache=True, nogil=True, parallel=True)(_renamed(_filter, "_filter_parallel"))


_POOL_OWNER: list[int] = []
"""The process that started numba's thread pool (a pool does not survive a fork: a forked
child of that process runs the serial kernel)."""


def compiled_most_similar_mean(
    padded: np.ndarray,
    scaled: np.ndarray,
    factors: np.ndarray,
    values_pad: np.ndarray,
    values: np.ndarray,
    radius: int,
    count: int,
    rank_factor: np.ndarray,
    spread: np.ndarray,
    threads: int,
) -> np.ndarray:
    """``(bands, H, W)`` float32 filter output (see the module); ``threads`` > 1 shares the rows
    among that many threads of numba's pool, 1 runs without touching it."""
    out = np.empty(scaled.shape, dtype=np.float32)
    args = (padded, scaled, factors, values_pad, values, radius, count, rank_factor, spread, out)
    if not _POOL_OWNER and threads > 1:
        _POOL_OWNER.append(os.getpid())
    if threads > 1 and _POOL_OWNER[0] == os.getpid():
        import numba

        previous = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            _parallel(*args)
        finally:
            numba.set_num_threads(previous)
    else:
        _serial(*args)
    return out
