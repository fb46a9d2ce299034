"""Similar-pixel filters: a weighted mean of a quantity over a pixel's spectrally similar
neighbours, the last step of FSDAF (and the idea behind STARFM's candidates).

* :func:`most_similar_mean`, the FSDAF authors' rule: the ``count`` (20) most similar neighbours
  in the window, ranked by their relative spectral distance;
* :func:`similar_mean`, the earlier approximation of this package (``fsdaf-fast``): every
  similar neighbour in the window, weighted by distance only.

A neighbour is *similar* when it differs from the centre by less than the band's threshold in
every band. The array versions loop over window rows or offsets and handle whole rows of
pixels at once. :func:`most_similar_mean` (90 % of an FSDAF run in its array version) runs
compiled by default (:mod:`~est_stfm.methods.classic.similar_compiled`: 8x faster on one
core, 16x on two threads, for a 576 x 576 x 6 image); its array version is the reference the
tests hold it to, and shares its strips of rows among threads too (numpy releases the GIL in
the array operations: 1.7x on two cores). Threads:
:func:`~est_stfm.methods.classic.threads.get_threads`; the result does not depend on them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from est_stfm.methods.classic.common import offsets, pad, shifted
from est_stfm.methods.classic.threads import get_threads

WORK = 1 << 22
"""Pixel-neighbour pairs in the strips of :func:`most_similar_mean` being worked on at once
(all threads together: bounds its memory to ~50 MB)."""


def similar_mean(
    fine: np.ndarray, values: np.ndarray, window: int, thresholds: np.ndarray
) -> np.ndarray:
    """``(bands, H, W)`` mean of ``values`` over the neighbours of a ``window`` x ``window``
    neighbourhood (clipped at the border) with ``|fine(x) - fine(centre)| <= thresholds`` in
    every band, weighted ``1 / (1 + d / (window / 2))`` (``d`` the distance in pixels).
    ``thresholds``: ``(bands, 1, 1)``."""
    bands, h, w = fine.shape
    r = window // 2
    f_pad = pad(fine, r)
    values_pad = pad(values.astype(np.float32), r)
    inside = pad(np.ones((h, w), dtype=np.float32), r)
    numerator = np.zeros((bands, h, w), dtype=np.float32)
    denominator = np.zeros((h, w), dtype=np.float32)
    diff = np.empty((bands, h, w), dtype=np.float32)
    keep = np.empty((bands, h, w), dtype=bool)
    weight = np.empty((h, w), dtype=np.float32)
    for dy, dx, d in offsets(r):
        np.subtract(shifted(f_pad, r, dy, dx, (h, w)), fine, out=diff)
        np.abs(diff, out=diff)
        np.less_equal(diff, thresholds, out=keep)
        similar = keep.all(axis=0)
        np.multiply(
            shifted(inside, r, dy, dx, (h, w)),
            np.float32(1.0 / (1.0 + d / (window / 2))),
            out=weight,
        )
        weight *= similar
        denominator += weight
        numerator += weight * shifted(values_pad, r, dy, dx, (h, w))
    return numerator / denominator  # the centre is always similar: denominator > 0


def _strip_keys(
    windows: np.ndarray, scaled: np.ndarray, factors: np.ndarray, y0: int, n: int
) -> np.ndarray:
    """For centre rows ``y0 .. y0 + n``: ``(n, W, K)`` relative spectral distance ``s`` to each
    of the ``K`` window offsets (row-major), ``inf`` where that neighbour is not similar.

    ``scaled``: the fine image divided by the thresholds (similar: every band differs by less
    than 1); ``windows``: the same padded with NaN, as ``(bands, rows, W, k)`` sliding windows
    along each row; ``factors``: ``threshold / fine`` at each centre, turning a scaled
    difference into a relative one."""
    bands, _, w = scaled.shape
    k = windows.shape[-1]
    keys = np.empty((n, w, k, k), dtype=np.float32)
    score, worst, diff = (np.empty((n, w, k), dtype=np.float32) for _ in range(3))
    centres = scaled[:, y0 : y0 + n, :, None]
    factor = factors[:, y0 : y0 + n, :, None]
    for dy in range(k):
        for b in range(bands):
            row = windows[b, y0 + dy : y0 + dy + n]
            if b == 0:
                np.subtract(row, centres[b], out=worst)
                np.abs(worst, out=worst)  # NaN outside the image: never similar
                np.multiply(worst, factor[b], out=score)
            else:
                np.subtract(row, centres[b], out=diff)
                np.abs(diff, out=diff)
                np.maximum(worst, diff, out=worst)
                diff *= factor[b]
                score += diff
        keys[:, :, dy] = np.where(worst < 1, score, np.float32(np.inf))
    return keys.reshape(n, w, k * k)


def _smallest(key: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the ``count`` smallest finite entries of each row of ``key`` ``(N, K)``
    (``count < K``), ``(N, count)`` in column order, and whether each slot is used (a row with
    fewer finite entries leaves slots unused). Every entry below the ``count``-th smallest key
    is taken; of the entries equal to it, the first columns. A value partition finds each
    row's ``count``-th smallest key; the entries are then found in one pass (cheaper than an
    index partition)."""
    n, k = key.shape
    kth = np.partition(key, count - 1, axis=-1)[:, count - 1 : count]
    np.minimum(kth, np.finfo(np.float32).max, out=kth)  # an infinite key is never taken
    below = key < kth
    tied = key == kth
    if (tied.sum(1) <= 1).all():  # no ties: at most count entries per row
        take = below | tied
    else:
        room = count - below.sum(1, keepdims=True)
        take = below | (tied & (np.cumsum(tied, axis=1) <= room))
    flat = np.flatnonzero(take)
    rows, cols = np.divmod(flat, k)
    counts = np.bincount(rows, minlength=n)
    if (counts == count).all():
        return cols.reshape(n, count), np.ones((n, count), dtype=bool)
    slot = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    chosen = np.zeros((n, count), dtype=np.int64)
    used = np.zeros((n, count), dtype=bool)
    chosen[rows, slot] = cols
    used[rows, slot] = True
    return chosen, used


def most_similar_mean(
    fine: np.ndarray,
    values: np.ndarray,
    radius: int,
    count: int,
    thresholds: np.ndarray,
    *,
    compiled: bool = True,
) -> np.ndarray:
    """``(bands, H, W)`` weighted mean of ``values`` over each pixel's ``count`` most similar
    neighbours, as the FSDAF authors' code selects them.

    Within the ``(2 radius + 1)`` square window (clipped at the border), a neighbour is a
    candidate when ``|fine(x) - fine(centre)| < thresholds`` in every band; its spectral
    distance is ``s = sum_b |fine_b(x) - fine_b(centre)| / |fine_b(centre)|`` (the code divides
    by ``fine_b(centre)``, the same for reflectance; the absolute value keeps the ranking and the
    weights positive for data with negative values such as NDVI); the candidates are
    ranked by ``(s + 1e-5)(10 + d / radius)`` (``d`` the distance in pixels: a tie-breaker) and
    the first ``count`` weighted ``1 / ((1 + d / radius)(s + 1))``. A pixel without candidates
    (a zero threshold) takes its own value. ``thresholds``: ``(bands,)``.

    ``compiled``: run the numba kernel (:mod:`~est_stfm.methods.classic.similar_compiled`),
    else the array version below (the reference it is tested against, same neighbours chosen).
    Both use :func:`~est_stfm.methods.classic.threads.get_threads` threads.
    """
    bands, h, w = fine.shape
    r = radius
    k = 2 * r + 1
    thresholds = np.asarray(thresholds, dtype=np.float32).reshape(bands, 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero threshold: nothing similar
        scaled = (fine / thresholds).astype(np.float32)
        factors = (thresholds / (np.abs(fine) + np.float32(1e-8))).astype(np.float32)
    padded = pad(scaled, r, value=np.nan)
    values_pad = pad(values.astype(np.float32), r)
    oy, ox = np.divmod(np.arange(k * k), k)
    distance = np.hypot(oy - r, ox - r).astype(np.float32)
    rank_factor = np.float32(10) + distance / np.float32(r)
    spread = np.float32(1) + distance / np.float32(r)
    pick = min(count, k * k)
    workers = min(get_threads(), h)
    if compiled:
        from est_stfm.methods.classic.similar_compiled import compiled_most_similar_mean

        values32 = np.ascontiguousarray(values, dtype=np.float32)
        arrays = (padded, scaled, factors, values_pad, values32)
        return compiled_most_similar_mean(*arrays, r, pick, rank_factor, spread, workers)
    windows = sliding_window_view(padded, k, axis=2)
    out = np.empty((bands, h, w), dtype=np.float32)
    strip = max(1, WORK // (w * k * k * workers))  # every worker holds one strip at a time

    def fill(y0: int) -> None:
        n = min(strip, h - y0)
        with np.errstate(invalid="ignore"):  # inf - inf under a zero threshold: not similar
            key = _strip_keys(windows, scaled, factors, y0, n)  # s, inf where not similar
        key += np.float32(1e-5)
        key *= rank_factor
        if pick < k * k:
            chosen, used = _smallest(key.reshape(n * w, k * k), pick)
            chosen, used = chosen.reshape(n, w, pick), used.reshape(n, w, pick)
        else:
            chosen = np.broadcast_to(np.arange(k * k), (n, w, k * k))
            used = key < np.inf
        ranked = np.take_along_axis(key, chosen, -1)
        s = ranked / rank_factor[chosen] - np.float32(1e-5)
        weight = np.where(used, 1 / (spread[chosen] * (s + 1)), 0).astype(np.float32)
        rows = np.arange(y0, y0 + n)[:, None, None] + oy[chosen]
        cols = np.arange(w)[None, :, None] + ox[chosen]
        gathered = values_pad[:, rows, cols]  # (bands, n, w, pick)
        total = weight.sum(-1)
        mean = (gathered * weight).sum(-1) / np.where(total > 0, total, 1)
        out[:, y0 : y0 + n] = np.where(total > 0, mean, values[:, y0 : y0 + n])

    starts = range(0, h, strip)
    if workers > 1:  # numpy releases the GIL inside these array operations
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fill, starts))
    else:
        for y0 in starts:
            fill(y0)
    return out
