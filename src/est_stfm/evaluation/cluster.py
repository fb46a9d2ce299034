"""The clustering application: does k-means on the fused image find the real image's classes?

The paper tests fused images in a land-cover clustering task. :func:`cluster_agreement` runs
k-means separately on the fused image and on the real fine image and measures how well the two
label maps agree. Procedure, written down once:

1. **Pixels**: those valid in both images (and finite). Each band is standardised with the
   **truth's** mean and population standard deviation over those pixels (a constant band is only
   centred), the same transform for both images, so both are clustered in one feature space.
2. **Fit**: at most ``max_samples`` (default 200,000) valid pixels, drawn uniformly without
   replacement (the same pixels in both images; all of them when there are fewer), fit ``k``
   centroids per image: **k-means++** initialisation (first centre uniform; each next centre
   drawn with probability proportional to the squared distance to the nearest chosen centre),
   then **Lloyd** iterations until no label changes, the largest centre shift is below 1e-6
   (standardised units) or ``max_iter``; a cluster left empty is re-seeded at the sample point
   farthest from its centre. ``n_init`` starts; the lowest within-cluster sum of squares wins.
   All randomness comes from ``numpy.random.default_rng(seed)``: one seed, one result.
3. **Assign**: every valid pixel gets its nearest centroid (Euclidean, in row blocks, so memory
   stays bounded for large images).
4. **Compare** through the k x k contingency table ``C[i, j]`` = pixels with fused label ``i``
   and real label ``j``:

   * **matching**: the one-to-one relabelling of fused clusters onto real clusters that
     maximises the number of agreeing pixels (Hungarian algorithm,
     :func:`scipy.optimize.linear_sum_assignment`);
   * **agreement** (overall accuracy): the fraction of valid pixels whose matched labels agree;
   * **kappa**: Cohen's kappa of the matched labels, (p_o - p_e) / (1 - p_e) with p_o the
     agreement and p_e = sum_c (fused_c / n) (real_c / n); 1.0 when p_e = 1;
   * **ari**: the adjusted Rand index (Hubert & Arabie 1985) of the two label maps, computed
     exactly from the table (it needs no matching):
     (sum_ij C(n_ij, 2) - E) / ((A + B) / 2 - E) with A = sum_i C(a_i, 2), B = sum_j C(b_j, 2),
     E = A B / C(n, 2); 1.0 when the denominator is 0 (both maps a single cluster).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from est_stfm.errors import EstStfmError
from est_stfm.evaluation.chunks import RowSums, check_pair, masked64, row_blocks

MAX_K = 64
DEFAULT_MAX_SAMPLES = 200_000
_SHIFT_TOL = 1e-6


@dataclass
class ClusterReport:
    """Agreement of the k-means label maps of a fused image and of the real image.

    ``matching[i]`` is the real cluster matched to fused cluster ``i``. ``pred_labels`` and
    ``truth_labels`` are ``(H, W)`` int16 maps (-1 where invalid), the fused one already relabelled
    to the matched real clusters; ``*_centres`` are the centroids in reflectance, row ``c`` for
    (matched) cluster ``c``; ``*_fractions`` the share of valid pixels per cluster.
    """

    k: int
    seed: int
    agreement: float
    kappa: float
    ari: float
    valid_pixels: int
    sample_pixels: int
    matching: list[int]
    truth_fractions: list[float]
    pred_fractions: list[float]
    truth_centres: list[list[float]]
    pred_centres: list[list[float]]
    pred_labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    truth_labels: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """A JSON-ready dict (without the label maps)."""
        skip = {"pred_labels", "truth_labels"}
        return {k: v for k, v in self.__dict__.items() if k not in skip}


def adjusted_rand_index(table: np.ndarray) -> float:
    """Adjusted Rand index from a contingency table (exact integer arithmetic, one division)."""
    t = np.asarray(table, dtype=np.int64)

    def pairs(values: np.ndarray) -> int:
        return sum(int(v) * (int(v) - 1) // 2 for v in values.ravel())

    n = int(t.sum())
    total = n * (n - 1) // 2
    index, a, b = pairs(t), pairs(t.sum(1)), pairs(t.sum(0))
    # ARI = (index - a b / total) / ((a + b) / 2 - a b / total), multiplied through by 2 total
    num = 2 * (index * total - a * b)
    den = (a + b) * total - 2 * a * b
    return 1.0 if den == 0 else num / den


def contingency(labels_a: np.ndarray, labels_b: np.ndarray, k: int) -> np.ndarray:
    """``(k, k)`` table of label pairs: entry ``[i, j]`` counts positions with ``a == i`` and
    ``b == j``; labels outside ``0..k-1`` (e.g. -1 for invalid) are left out."""
    a = np.asarray(labels_a).ravel().astype(np.int64)
    b = np.asarray(labels_b).ravel().astype(np.int64)
    ok = (a >= 0) & (a < k) & (b >= 0) & (b < k)
    return np.bincount(a[ok] * k + b[ok], minlength=k * k).reshape(k, k)


def adjusted_rand_score(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Adjusted Rand index of two labelings of the same items (non-negative integer labels)."""
    a = np.unique(np.asarray(labels_a).ravel(), return_inverse=True)[1]
    b = np.unique(np.asarray(labels_b).ravel(), return_inverse=True)[1]
    if a.shape != b.shape:
        raise EstStfmError(f"the two labelings have {a.size} and {b.size} items: pass equal sizes")
    k = int(max(a.max(initial=0), b.max(initial=0))) + 1
    return adjusted_rand_index(contingency(a, b, k))


def match_clusters(table: np.ndarray) -> np.ndarray:
    """The permutation ``m`` (fused cluster ``i`` -> real cluster ``m[i]``) maximising the
    matched total ``sum_i table[i, m[i]]`` (Hungarian algorithm, via scipy)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(np.asarray(table, dtype=np.float64), maximize=True)
    out = np.empty(len(rows), dtype=np.int64)
    out[rows] = cols
    return out


def agreement_scores(table: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """``(agreement, kappa, ari, matching)`` of a square contingency table (module docstring)."""
    t = np.asarray(table, dtype=np.int64)
    n = int(t.sum())
    if n == 0:
        raise EstStfmError("no valid pixel to cluster: every pixel is nodata in one of the images")
    matching = match_clusters(t)
    matched = np.zeros_like(t)
    matched[matching] = t  # row i of the table becomes row matching[i]
    p_o = int(np.trace(matched)) / n
    p_e = float(sum(int(r) * int(c) for r, c in zip(matched.sum(1), matched.sum(0), strict=True)))
    p_e /= float(n) * float(n)
    kappa = 1.0 if p_e >= 1.0 else (p_o - p_e) / (1.0 - p_e)
    return p_o, kappa, adjusted_rand_index(t), matching


def _nearest(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre for each column of ``x`` (features x points) and the squared
    distance to it; ties go to the lower index."""
    best = np.full(x.shape[1], np.inf)
    labels = np.zeros(x.shape[1], dtype=np.int64)
    for c, centre in enumerate(centres):
        d2 = (x[0] - centre[0]) ** 2
        for f in range(1, x.shape[0]):
            d2 += (x[f] - centre[f]) ** 2
        closer = d2 < best
        best = np.where(closer, d2, best)
        labels[closer] = c
    return labels, best


def _kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: D^2-weighted draws of k columns of ``x`` (features x points)."""
    n = x.shape[1]
    centres = np.empty((k, x.shape[0]))
    centres[0] = x[:, rng.integers(n)]
    d2 = ((x - centres[0][:, None]) ** 2).sum(0)
    for c in range(1, k):
        cum = np.cumsum(d2)
        if cum[-1] <= 0:  # every point sits on a centre already: any point will do
            pick = int(rng.integers(n))
        else:
            pick = min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), n - 1)
        centres[c] = x[:, pick]
        d2 = np.minimum(d2, ((x - centres[c][:, None]) ** 2).sum(0))
    return centres


def _lloyd(x: np.ndarray, centres: np.ndarray, max_iter: int) -> tuple[np.ndarray, float]:
    """Lloyd iterations from ``centres``; returns the final centres and their inertia."""
    k = len(centres)
    labels, d2 = _nearest(x, centres)
    for _ in range(max_iter):
        counts = np.bincount(labels, minlength=k)
        new = np.stack([np.bincount(labels, weights=row, minlength=k) for row in x], 1)
        new /= np.maximum(counts, 1)[:, None]
        far = d2.copy()
        for c in np.flatnonzero(counts == 0):  # re-seed an empty cluster at the farthest point
            pick = int(far.argmax())
            new[c] = x[:, pick]
            far[pick] = -1.0
        shift = float(np.abs(new - centres).max())
        centres = new
        new_labels, d2 = _nearest(x, centres)
        done = np.array_equal(new_labels, labels) or shift < _SHIFT_TOL
        labels = new_labels
        if done:
            break
    return centres, math.fsum(d2.tolist())


def kmeans(
    x: np.ndarray, k: int, seed: int = 0, *, n_init: int = 3, max_iter: int = 100
) -> np.ndarray:
    """Centroids ``(k, features)`` of the columns of ``x`` (features x points): k-means++ then
    Lloyd, best of ``n_init`` starts by inertia; deterministic for a seed."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if not 1 <= k <= x.shape[1]:
        raise EstStfmError(f"k-means needs 1 <= k <= {x.shape[1]} (the points), got k = {k}")
    rng = np.random.default_rng(seed)
    best, best_inertia = None, math.inf
    for _ in range(max(1, n_init)):
        centres, inertia = _lloyd(x, _kmeans_pp(x, k, rng), max_iter)
        if inertia < best_inertia:
            best, best_inertia = centres, inertia
    return best


def _band_stats(
    img: np.ndarray, valid: np.ndarray, blocks: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and population standard deviation over valid pixels (two exact passes);
    a zero deviation becomes 1."""
    n = int(valid.sum())
    means, stds = [], []
    for b in range(img.shape[0]):
        sums = RowSums()
        for r0, r1 in blocks:
            sums.add("x", masked64(img[b, r0:r1], valid[r0:r1]).sum(1))
        mean = sums.total("x") / n
        for r0, r1 in blocks:
            v = valid[r0:r1]
            sums.add("xx", (np.where(v, masked64(img[b, r0:r1], v) - mean, 0.0) ** 2).sum(1))
        std = math.sqrt(sums.total("xx") / n)
        means.append(mean)
        stds.append(std if std > 0 else 1.0)
    return np.array(means), np.array(stds)


def _sample_pixels(
    valid: np.ndarray, max_samples: int, rng: np.random.Generator, blocks: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of at most ``max_samples`` valid pixels, uniform without replacement, in
    row-major order; memory bounded by the block size and the sample."""
    per_row = valid.sum(1)
    n = int(per_row.sum())
    if n <= max_samples:
        return np.nonzero(valid)
    ranks = np.sort(rng.choice(n, size=max_samples, replace=False))
    start = np.concatenate([[0], np.cumsum(per_row)])
    rows, cols = [], []
    for r0, r1 in blocks:
        lo, hi = np.searchsorted(ranks, [start[r0], start[r1]])
        if hi > lo:
            rr, cc = np.nonzero(valid[r0:r1])
            pick = ranks[lo:hi] - start[r0]
            rows.append(rr[pick] + r0)
            cols.append(cc[pick])
    return np.concatenate(rows), np.concatenate(cols)


def _assign(
    img: np.ndarray,
    valid: np.ndarray,
    centres: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    blocks: list[tuple[int, int]],
) -> np.ndarray:
    """``(H, W)`` int16 nearest-centroid labels of every valid pixel, -1 elsewhere."""
    labels = np.full(valid.shape, -1, dtype=np.int16)
    for r0, r1 in blocks:
        v = valid[r0:r1]
        if not v.any():
            continue
        feats = (img[:, r0:r1][:, v].astype(np.float64) - mean[:, None]) / std[:, None]
        labels[r0:r1][v] = _nearest(feats, centres)[0]
    return labels


def cluster_agreement(
    pred: np.ndarray,
    truth: np.ndarray,
    valid: np.ndarray | None = None,
    k: int = 6,
    seed: int = 0,
    *,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    n_init: int = 3,
    max_iter: int = 100,
    chunk_rows: int | None = None,
) -> ClusterReport:
    """K-means (``k`` clusters) of the fused ``pred`` and of the real ``truth`` image, both
    ``(bands, H, W)`` reflectance, compared over valid pixels (see the module docstring)."""
    if not 2 <= k <= MAX_K:
        raise EstStfmError(f"k must be between 2 and {MAX_K} clusters, got {k}")
    if max_samples < k:
        raise EstStfmError(f"max_samples ({max_samples}) must be at least k ({k})")
    if seed < 0:
        raise EstStfmError(f"seed must be a whole number >= 0, got {seed}")
    valid = check_pair(pred, truth, valid, chunk_rows)
    n = int(valid.sum())
    if n < k:
        raise EstStfmError(f"only {n} valid pixels: too few for {k} clusters")
    blocks = row_blocks(*valid.shape, chunk_rows)
    mean, std = _band_stats(truth, valid, blocks)
    rng = np.random.default_rng(seed)
    rows, cols = _sample_pixels(valid, max_samples, rng, blocks)
    centres, labels = {}, {}
    for i, (name, img) in enumerate((("truth", truth), ("pred", pred))):
        feats = (img[:, rows, cols].astype(np.float64) - mean[:, None]) / std[:, None]
        centres[name] = kmeans(feats, k, seed + i, n_init=n_init, max_iter=max_iter)
        labels[name] = _assign(img, valid, centres[name], mean, std, blocks)
    table = np.zeros((k, k), dtype=np.int64)
    for r0, r1 in blocks:
        table += contingency(labels["pred"][r0:r1], labels["truth"][r0:r1], k)
    agreement, kappa, ari, matching = agreement_scores(table)
    lut = np.append(matching, -1).astype(np.int16)  # index -1 (invalid) stays -1
    for r0, r1 in blocks:
        labels["pred"][r0:r1] = lut[labels["pred"][r0:r1]]
    pred_centres = np.empty_like(centres["pred"])
    pred_centres[matching] = centres["pred"]
    pred_sizes = np.zeros(k, dtype=np.int64)
    pred_sizes[matching] = table.sum(1)

    def reflectance(c: np.ndarray) -> list[list[float]]:
        return (c * std + mean).tolist()

    return ClusterReport(
        k=k,
        seed=seed,
        agreement=agreement,
        kappa=kappa,
        ari=ari,
        valid_pixels=n,
        sample_pixels=len(rows),
        matching=matching.tolist(),
        truth_fractions=(table.sum(0) / n).tolist(),
        pred_fractions=(pred_sizes / n).tolist(),
        truth_centres=reflectance(centres["truth"]),
        pred_centres=reflectance(pred_centres),
        pred_labels=labels["pred"],
        truth_labels=labels["truth"],
    )


def cluster_files(
    pred_path: str | Path,
    truth_path: str | Path,
    *,
    k: int = 6,
    seed: int = 0,
    scale: float | None = None,
    mask: str | Path | None = None,
) -> ClusterReport:
    """:func:`cluster_agreement` of two raster files on one grid (one-line errors otherwise)."""
    from est_stfm.evaluation.compare import load_pair

    pred, truth, valid = load_pair(pred_path, truth_path, scale=scale, mask=mask)
    return cluster_agreement(pred, truth, valid, k=k, seed=seed)
