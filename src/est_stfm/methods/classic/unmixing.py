"""Spectral unmixing of the coarse change into a change per class, as FSDAF's step 3 does.

Two estimators of ``dF_c``, the change of each class ``c`` between the reference and the target
date, from the class fractions of the coarse pixels and their change ``dC = C2 - C1``:

* :func:`purest_unmixing`, the FSDAF authors' (their IDL code): per block of coarse pixels, for
  each class its purest coarse pixels, the middle 80 % of their changes, and one least-squares
  fit without intercept bounded to the block's change range;
* :func:`window_unmixing`, the earlier approximation of this package (``fsdaf-fast``): a ridge
  least-squares fit over every coarse pixel of a moving window around each coarse pixel.

Also the clustering and solver they use: :func:`kmeans` (the ``fsdaf-fast`` classification) and
:func:`bounded_least_squares`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import maximum_filter, minimum_filter


def _nearest(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre of each row of ``x`` and its squared distance."""
    dist = (x * x).sum(1)[:, None] - 2 * x @ centres.T + (centres * centres).sum(1)[None]
    labels = dist.argmin(1)
    return labels, np.maximum(dist[np.arange(len(x)), labels], 0)


def _lloyd(
    subset: np.ndarray, k: int, rng: np.random.Generator, iterations: int
) -> tuple[np.ndarray, float]:
    """One k-means run on ``subset``: k-means++ seeding, Lloyd iterations; (centres, inertia)."""
    centres = np.empty((k, subset.shape[1]))
    centres[0] = subset[rng.integers(len(subset))]
    closest = ((subset - centres[0]) ** 2).sum(1)
    for i in range(1, k):
        total = closest.sum()
        pick = (
            rng.choice(len(subset), p=closest / total) if total > 0 else rng.integers(len(subset))
        )
        centres[i] = subset[pick]
        closest = np.minimum(closest, ((subset - centres[i]) ** 2).sum(1))
    labels = np.full(len(subset), -1)
    for _ in range(iterations):
        new, dist = _nearest(subset, centres)
        if np.array_equal(new, labels):
            break
        labels = new
        for c in range(k):
            members = labels == c
            if members.any():
                centres[c] = subset[members].mean(0)
            else:  # re-seed an empty cluster with the worst-fitted pixel
                far = int(dist.argmax())
                centres[c], dist[far] = subset[far], 0.0
    return centres, float(_nearest(subset, centres)[1].sum())


def kmeans(
    pixels: np.ndarray,
    k: int,
    *,
    seed: int = 0,
    iterations: int = 30,
    sample: int = 20_000,
    restarts: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """k-means of ``pixels`` ``(N, features)``: ``(labels (N,), centres (k, features))``.

    ``restarts`` runs of k-means++ seeding and Lloyd iterations on a random sample of at most
    ``sample`` pixels (fixed ``seed``: deterministic), keeping the run of least inertia; then
    every pixel gets its nearest centre. An empty cluster is re-seeded with the sample pixel
    farthest from its centre.
    """
    data = np.asarray(pixels, dtype=np.float64)
    n = data.shape[0]
    rng = np.random.default_rng(seed)
    subset = data[rng.choice(n, size=sample, replace=False)] if n > sample else data
    runs = [_lloyd(subset, k, rng, iterations) for _ in range(max(1, restarts))]
    centres = min(runs, key=lambda run: run[1])[0]
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, 1 << 18):
        out[start : start + (1 << 18)] = _nearest(data[start : start + (1 << 18)], centres)[0]
    return out, centres


def bounded_least_squares(
    gram: np.ndarray,
    rhs: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    iterations: int = 500,
    tol: float = 1e-10,
) -> np.ndarray:
    """Minimise ``x Q x / 2 - q x`` subject to ``low <= x <= high`` for a batch of problems.

    ``gram``: ``(N, k, k)`` symmetric positive definite ``Q``; ``rhs``: ``(N, m, k)`` (``m``
    right-hand sides per matrix, e.g. bands); ``low``/``high``: ``(N, m, 1)`` bounds (the same
    for every unknown). Accelerated projected gradient (FISTA) from the clipped unconstrained
    solution, stopped when no unknown moves by more than ``tol``.
    """
    x = np.clip(np.linalg.solve(gram[:, None], rhs[..., None])[..., 0], low, high)
    step = 1.0 / np.linalg.eigvalsh(gram)[:, -1][:, None, None]
    y, t = x.copy(), 1.0
    for _ in range(iterations):
        grad = np.einsum("nij,nmj->nmi", gram, y) - rhs
        new = np.clip(y - step * grad, low, high)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        y = new + ((t - 1) / t_new) * (new - x)
        moved = float(np.abs(new - x).max()) if new.size else 0.0
        x, t = new, t_new
        if moved < tol:
            break
    return x


def _box_sum(array: np.ndarray, radius: int) -> np.ndarray:
    """Sum over a ``(2 radius + 1)`` square window of the last two axes, clipped at the edges."""
    widths = [(0, 0)] * (array.ndim - 2) + [(radius + 1, radius), (radius + 1, radius)]
    c = np.pad(array, widths).cumsum(-2).cumsum(-1)
    size = 2 * radius + 1
    return (
        c[..., size:, size:]
        - c[..., :-size, size:]
        - c[..., size:, :-size]
        + c[..., :-size, :-size]
    )


def window_unmixing(
    fractions: np.ndarray, change: np.ndarray, radius: int, ridge: float
) -> np.ndarray:
    """``(bands, classes, rows, cols)`` class changes, one fit per coarse pixel over the
    ``(2 radius + 1)`` square window of coarse pixels around it: ``min ||A x - dC||^2 + lam ||x -
    mean(dC)||^2`` with ``min(dC) - std(dC) <= x <= max(dC) + std(dC)`` over the window and
    ``lam = ridge * n`` (``n`` coarse pixels in the window). ``fractions``: ``(classes, rows,
    cols)``; ``change``: ``(bands, rows, cols)``."""
    k, nh, nw = fractions.shape
    bands = change.shape[0]
    gram = _box_sum(fractions[:, None] * fractions[None], radius)  # (k, k, nh, nw)
    rhs = _box_sum(fractions[None] * change[:, None], radius)  # (bands, k, nh, nw)
    count = _box_sum(np.ones((nh, nw)), radius)
    mean = _box_sum(change, radius) / count  # (bands, nh, nw)
    size = 2 * radius + 1
    spread = np.sqrt(np.maximum(_box_sum(change**2, radius) / count - mean**2, 0.0))
    low = np.stack([minimum_filter(c, size=size, mode="nearest") for c in change]) - spread
    high = np.stack([maximum_filter(c, size=size, mode="nearest") for c in change]) + spread
    lam = ridge * count
    gram = gram + lam * np.eye(k)[:, :, None, None]
    rhs = rhs + (lam * mean)[:, None]
    n = nh * nw
    solved = bounded_least_squares(
        gram.transpose(2, 3, 0, 1).reshape(n, k, k),
        rhs.transpose(2, 3, 0, 1).reshape(n, bands, k),
        low.transpose(1, 2, 0).reshape(n, bands, 1),
        high.transpose(1, 2, 0).reshape(n, bands, 1),
    )
    return solved.reshape(nh, nw, bands, k).transpose(2, 3, 0, 1)


def _purest_rows(fraction: np.ndarray, change: np.ndarray, count: int) -> np.ndarray:
    """Indices (into the flattened block) of the class's ``count`` purest coarse pixels that
    contain it (fraction > 0.01) whose change lies between the 10th and 90th percentile of
    theirs (the authors' ``value_locate`` rule: the sorted values at ``floor(p n)``)."""
    order = np.argsort(-fraction, kind="stable")
    chosen = order[: min(count, int((fraction > 0.01).sum()))]
    if len(chosen) == 0:
        return chosen
    values = np.sort(change[chosen])
    n = len(values)
    low, high = values[min(n - 1, int(0.1 * n))], values[min(n - 1, int(0.9 * n))]
    return chosen[(change[chosen] >= low) & (change[chosen] <= high)]


def purest_unmixing(
    fractions: np.ndarray, change: np.ndarray, num_pure: int, block: int, margin: int = 1
) -> np.ndarray:
    """``(bands, classes, rows, cols)`` class changes as in the FSDAF authors' code: the coarse
    grid is cut into ``block`` x ``block`` blocks; for each block and band, every class
    contributes the rows (fractions of all classes) and changes of its ``num_pure`` purest coarse
    pixels (:func:`_purest_rows`) in the block and a ``margin`` of coarse pixels around it, and
    one least-squares fit without intercept, bounded to ``[min(dC) - std(dC), max(dC) +
    std(dC)]`` over those coarse pixels, gives each class's change, constant over the block."""
    k, nh, nw = fractions.shape
    bands = change.shape[0]
    out = np.zeros((bands, k, nh, nw))
    for i0 in range(0, nh, block):
        for j0 in range(0, nw, block):
            rows = slice(max(0, i0 - margin), min(nh, i0 + block + margin))
            cols = slice(max(0, j0 - margin), min(nw, j0 + block + margin))
            frac = fractions[:, rows, cols].reshape(k, -1)
            grams, rhss, lows, highs = [], [], [], []
            for b in range(bands):
                dc = change[b, rows, cols].ravel()
                picked = np.concatenate([_purest_rows(frac[c], dc, num_pure) for c in range(k)])
                x = frac[:, picked].T
                gram = x.T @ x
                # a tiny ridge keeps a class without pure pixels solvable (its change -> 0)
                gram += 1e-9 * max(float(np.trace(gram)), 1.0) * np.eye(k)
                grams.append(gram)
                rhss.append((x.T @ dc[picked])[None])
                spread = float(dc.std())
                lows.append(float(dc.min()) - spread)
                highs.append(float(dc.max()) + spread)
            solved = bounded_least_squares(
                np.stack(grams),
                np.stack(rhss),
                np.array(lows)[:, None, None],
                np.array(highs)[:, None, None],
            )[:, 0]  # (bands, k)
            out[:, :, i0 : i0 + block, j0 : j0 + block] = solved[:, :, None, None]
    return out
