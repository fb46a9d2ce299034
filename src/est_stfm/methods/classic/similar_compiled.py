"""FSDAF's similar-pixel filter compiled (numba): the rule of
:func:`~est_stfm.methods.classic.similar.most_similar_mean`, pixel by pixel.

The array version computes, for every pixel, the relative spectral distance to all
``(2 r + 1)^2`` window neighbours in every band (1,681 for FSDAF's 41 x 41 window) as arrays
of the whole strip, then partitions them. Here each pixel works through its window one row at a
time: the row's largest scaled difference and relative distance in every band (short loops the
compiler vectorises), then the similar neighbours of the row go into a small sorted list of the
``count`` best (equal keys: the earlier neighbour in row-major order, as the array version takes
them). The arithmetic is float32 in the array version's order, so the same neighbours are
chosen; the weighted sums may differ in the last bit (summation order). Rows of pixels are
shared among threads (``prange``) when asked."""

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
        worst = np.empty(k, np.float32)
        score = np.empty(k, np.float32)
        for x in range(w):
            m = 0
            for dy in range(k):
                # one window row at a time, every band (loops the compiler vectorises): the
                # largest scaled difference and the relative distance of each neighbour
                centre, factor = scaled[0, y, x], factors[0, y, x]
                for dx in range(k):
                    d = abs(padded[0, y + dy, x + dx] - centre)
                    worst[dx] = d
                    score[dx] = d * factor
                for b in range(1, bands):
                    centre, factor = scaled[b, y, x], factors[b, y, x]
                    for dx in range(k):
                        d = abs(padded[b, y + dy, x + dx] - centre)
                        worst[dx] = max(worst[dx], d)  # outside the image every band is NaN
                        score[dx] += d * factor
                for dx in range(k):
                    if not worst[dx] < one:  # NaN (outside the image) is never similar
                        continue
                    j = dy * k + dx
                    key = (score[dx] + _TIE) * rank_factor[j]
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
