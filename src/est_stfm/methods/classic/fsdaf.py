"""FSDAF, the Flexible Spatiotemporal DAta Fusion method (Zhu et al. 2016).

Zhu, X., Helmer, E.H., Gao, F., Liu, D., Chen, J., Lefsky, M.A. (2016) "A flexible
spatiotemporal method for fusing satellite images with different resolutions", Remote Sensing
of Environment 172, 165-177.

Our own, vectorised implementation of the paper's steps; :class:`Fsdaf` lists the conventions
and where it departs from the paper and the authors' IDL code.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import map_coordinates, maximum_filter, minimum_filter, uniform_filter

from est_stfm.errors import EstStfmError
from est_stfm.methods.base import PairwiseMethod
from est_stfm.methods.classic.common import (
    as_image,
    check_factor,
    check_same_shape,
    check_window,
    offsets,
    pad,
    shifted,
)
from est_stfm.methods.classic.starfm import similarity_thresholds

SPATIAL = ("tps", "cubic")
TPS_CHUNK = 40
"""The thin-plate spline is fitted on at most this many coarse pixels squared (plus a margin of
:data:`TPS_MARGIN`) at a time: exact below that, a seamless piecewise fit above."""
TPS_MARGIN = 8


def _thin_plate(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, at_rows: np.ndarray, at_cols: np.ndarray
) -> np.ndarray:
    """The thin-plate spline through ``values`` ``(bands, len(rows), len(cols))`` at the grid
    ``rows x cols``, evaluated on the grid ``at_rows x at_cols``: ``(bands, len(at_rows), ...)``."""
    from scipy.interpolate import RBFInterpolator  # slow to import: only when used

    bands = values.shape[0]
    points = np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
    spline = RBFInterpolator(
        points, values.reshape(bands, -1).T, kernel="thin_plate_spline", degree=1
    )
    query = np.stack(np.meshgrid(at_rows, at_cols, indexing="ij"), -1).reshape(-1, 2)
    return spline(query).T.reshape(bands, len(at_rows), len(at_cols))


def _lloyd(
    subset: np.ndarray, k: int, rng: np.random.Generator, iterations: int
) -> tuple[np.ndarray, float]:
    """One k-means run on ``subset``: k-means++ seeding, Lloyd iterations; (centres, inertia)."""
    centres = np.empty((k, subset.shape[1]))
    centres[0] = subset[rng.integers(len(subset))]
    nearest = ((subset - centres[0]) ** 2).sum(1)
    for i in range(1, k):
        total = nearest.sum()
        pick = (
            rng.choice(len(subset), p=nearest / total) if total > 0 else rng.integers(len(subset))
        )
        centres[i] = subset[pick]
        nearest = np.minimum(nearest, ((subset - centres[i]) ** 2).sum(1))
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


def _nearest(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre of each row of ``x`` and its squared distance."""
    dist = (x * x).sum(1)[:, None] - 2 * x @ centres.T + (centres * centres).sum(1)[None]
    labels = dist.argmin(1)
    return labels, np.maximum(dist[np.arange(len(x)), labels], 0)


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


class Fsdaf(PairwiseMethod):
    """FSDAF (Zhu et al. 2016, Remote Sensing of Environment 172): one reference pair.

    ``factor`` is the coarse pixel size in fine pixels (e.g. 16 for 480 m / 30 m). It is rounded
    to the nearest integer ``s`` (at least 1; 14.7 -> 15): coarse pixels are taken as the
    ``s`` x ``s`` blocks of the fine grid from the image's top-left corner (partial blocks at the
    right and bottom edges), and their values are the block means of the coarse images as given on
    the fine grid. The steps, as in the paper:

    1. classify ``F1`` into ``num_classes`` (default 5) classes by k-means (our own, fixed
       ``seed`` 0, best of 4 k-means++ starts on at most 20 000 sampled pixels; the paper uses
       ISODATA);
    2. class fractions ``f_c`` in each coarse pixel;
    3. the temporal change of each class ``dF_c`` by constrained least-squares unmixing of the
       coarse change ``dC = C2 - C1``: for each coarse pixel, over the ``(2 unmix_radius + 1)``
       square window of coarse pixels around it (default radius 3: 7 x 7), ``min ||A x - dC||^2
       + lam ||x - mean(dC)||^2`` with ``min(dC) - std(dC) <= x <= max(dC) + std(dC)`` over
       the window (our reading of the authors' IDL code, not checked against it),
       ``lam = ridge * n`` (``ridge`` 1e-3, ``n`` coarse pixels in the window; it mainly
       decides the change of a class absent from the window), solved by accelerated projected
       gradient for all windows at once;
    4. temporal prediction ``F_TP = F1 + dF_c`` (class of the pixel, window of its coarse
       pixel) and the coarse residual ``R = dC - mean(F_TP - F1)`` over each coarse pixel;
    5. spatial prediction ``F_SP``: a thin-plate spline through the coarse pixels of ``C2`` at
       their centres (``spatial="tps"``, scipy's ``RBFInterpolator``), evaluated every
       ``max(1, s // 4)`` fine pixels and linearly interpolated between (the spline is smooth
       at that scale); above 40 x 40 coarse pixels it is fitted piecewise on 40 x 40 chunks
       with an 8 coarse pixel margin. ``"cubic"``: a cheaper cubic B-spline interpolation of
       the same values;
    6. residual distribution with the homogeneity index ``HI`` (share of the ``s`` x ``s``
       window around a pixel in its class): ``CW = |E_ho| HI + |R| (1 - HI) + 1e-6`` with
       ``E_ho = F_SP - F_TP`` (its term dropped where its sign differs from ``R``'s), and
       ``r = R CW / mean(CW)`` over the coarse pixel (our reading of the IDL code; the paper has
       ``CW = E_ho HI + R (1 - HI)``, whose normalisation divides by sums near 0);
       ``dF = dF_c + r``;
    7. final filtering: ``F2 = F1 + sum w dF`` over the pixels of a ``window`` x ``window``
       neighbourhood (default ``2 s + 1``) similar to the centre in every band (``|F1(x) -
       F1(centre)| <= 2 std / num_classes``, the band's std over the image), ``w`` normalised
       ``1 / (1 + d / (window / 2))``. The paper keeps the 20 most similar pixels; we keep all
       similar ones (STARFM's rule), which vectorises.

    The temporal prediction is not clipped to a valid data range (the paper adjusts ``dF_c``
    there). Run tile by tile, every tile is classified and unmixed on its own and its coarse
    blocks start at the tile's corner, so tiles differ from a whole-image run; ``halo``
    (``(unmix_radius + 1) s + window // 2``) gives each tile the unmixing window and the
    final filter's context, and the tile overlaps are blended. ``C1 == C2`` gives back ``F1``
    exactly; a uniform change ``C2 = C1 + a`` gives ``F1 + a``.
    """

    name = "fsdaf"

    def __init__(
        self,
        factor: float,
        num_classes: int = 5,
        *,
        window: int | None = None,
        unmix_radius: int = 3,
        ridge: float = 1e-3,
        spatial: str = "tps",
        seed: int = 0,
    ) -> None:
        check_factor("FSDAF", factor)
        for name, value, least in (
            ("num_classes", num_classes, 1),
            ("unmix_radius", unmix_radius, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise EstStfmError(f"FSDAF {name} must be an integer >= {least}, got {value!r}")
        if spatial not in SPATIAL:
            raise EstStfmError(f"FSDAF spatial {spatial!r}: use one of {', '.join(SPATIAL)}")
        if isinstance(ridge, bool) or not isinstance(ridge, (int, float)) or not ridge > 0:
            raise EstStfmError(f"FSDAF ridge must be a number > 0, got {ridge!r}")
        self.factor = float(factor)
        self.block = max(1, int(round(self.factor)))
        self.num_classes = int(num_classes)
        self.window = check_window(2 * self.block + 1 if window is None else window)
        self.unmix_radius = int(unmix_radius)
        self.ridge = float(ridge)
        self.spatial = spatial
        self.seed = int(seed)

    @property
    def halo(self) -> int:
        """Context in fine pixels needed around a tile: the unmixing window and the filter."""
        return (self.unmix_radius + 1) * self.block + self.window // 2

    # --- the steps ---------------------------------------------------------------------------

    def classify(self, f1: np.ndarray) -> np.ndarray:
        """Step 1: ``(H, W)`` class labels of ``F1`` by k-means."""
        bands, h, w = f1.shape
        labels, _ = kmeans(f1.reshape(bands, -1).T, self.num_classes, seed=self.seed)
        return labels.reshape(h, w)

    def class_change(self, fractions: np.ndarray, change: np.ndarray) -> np.ndarray:
        """Step 3: ``(bands, classes, nh, nw)`` change of each class for each coarse pixel,
        from ``fractions`` ``(classes, nh, nw)`` and the coarse change ``(bands, nh, nw)``."""
        k, nh, nw = fractions.shape
        bands = change.shape[0]
        r = self.unmix_radius
        gram = _box_sum(fractions[:, None] * fractions[None], r)  # (k, k, nh, nw)
        rhs = _box_sum(fractions[None] * change[:, None], r)  # (bands, k, nh, nw)
        count = _box_sum(np.ones((nh, nw)), r)
        mean = _box_sum(change, r) / count  # (bands, nh, nw)
        size = 2 * r + 1
        spread = np.sqrt(np.maximum(_box_sum(change**2, r) / count - mean**2, 0.0))
        low = np.stack([minimum_filter(c, size=size, mode="nearest") for c in change]) - spread
        high = np.stack([maximum_filter(c, size=size, mode="nearest") for c in change]) + spread
        lam = self.ridge * count
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

    def spatial_prediction(self, coarse_blocks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Step 5: ``(bands, H, W)`` interpolation of the coarse pixels of ``C2``."""
        bands, nh, nw = coarse_blocks.shape
        s, (h, w) = self.block, shape
        centre_r = (np.arange(nh) * s + np.minimum(np.arange(nh) * s + s, h) - 1) / 2
        centre_c = (np.arange(nw) * s + np.minimum(np.arange(nw) * s + s, w) - 1) / 2
        if nh < 2 or nw < 2:  # a line of coarse pixels: no surface to fit
            return expand_blocks(coarse_blocks, s, shape).astype(np.float32)
        if self.spatial == "cubic":
            rows = np.interp(np.arange(h), centre_r, np.arange(nh))
            cols = np.interp(np.arange(w), centre_c, np.arange(nw))
            grid = np.stack(np.meshgrid(rows, cols, indexing="ij"))
            return np.stack(
                [map_coordinates(b, grid, order=3, mode="nearest") for b in coarse_blocks]
            ).astype(np.float32)
        # the spline is evaluated on a lattice of every `step`-th fine pixel (and the last one),
        # then linearly interpolated: the surface is smooth at the scale of a coarse pixel
        step = max(1, s // 4)
        lat_r = np.unique(np.append(np.arange(0, h, step), h - 1))
        lat_c = np.unique(np.append(np.arange(0, w, step), w - 1))
        lattice = np.empty((bands, len(lat_r), len(lat_c)))
        # up to TPS_CHUNK x TPS_CHUNK coarse pixels per spline, fitted with a margin around them
        for i0 in range(0, nh, TPS_CHUNK):
            i1 = min(nh, i0 + TPS_CHUNK)
            rows = (lat_r >= i0 * s) & (lat_r < (i1 * s if i1 < nh else h))
            for j0 in range(0, nw, TPS_CHUNK):
                j1 = min(nw, j0 + TPS_CHUNK)
                cols = (lat_c >= j0 * s) & (lat_c < (j1 * s if j1 < nw else w))
                fit_r = slice(max(0, i0 - TPS_MARGIN), min(nh, i1 + TPS_MARGIN))
                fit_c = slice(max(0, j0 - TPS_MARGIN), min(nw, j1 + TPS_MARGIN))
                at = np.ix_(np.flatnonzero(rows), np.flatnonzero(cols))
                lattice[:, at[0], at[1]] = _thin_plate(
                    centre_r[fit_r] / s,
                    centre_c[fit_c] / s,
                    coarse_blocks[:, fit_r, fit_c],
                    lat_r[rows] / s,
                    lat_c[cols] / s,
                )
        grid = np.stack(
            np.meshgrid(
                np.interp(np.arange(h), lat_r, np.arange(len(lat_r))),
                np.interp(np.arange(w), lat_c, np.arange(len(lat_c))),
                indexing="ij",
            )
        )
        return np.stack([map_coordinates(b, grid, order=1) for b in lattice]).astype(np.float32)

    def distribute_residual(
        self,
        labels: np.ndarray,
        residual: np.ndarray,
        f_sp: np.ndarray,
        f_tp: np.ndarray,
    ) -> np.ndarray:
        """Step 6: ``(bands, H, W)`` share ``r`` of each pixel in its coarse residual ``R``."""
        s = self.block
        h, w = labels.shape
        onehot = (labels[None] == np.arange(self.num_classes)[:, None, None]).astype(np.float64)
        counts = uniform_filter(np.ones((h, w)), size=s, mode="constant")
        same = np.stack([uniform_filter(o, size=s, mode="constant") for o in onehot])
        homogeneity = np.take_along_axis(same, labels[None], 0)[0] / counts
        r_fine = expand_blocks(residual, s, (h, w))
        e_ho = f_sp.astype(np.float64) - f_tp
        agree = np.sign(e_ho) == np.sign(r_fine)
        weight = np.abs(e_ho) * agree * homogeneity + np.abs(r_fine) * (1 - homogeneity) + 1e-6
        mean = expand_blocks(block_means(weight, s), s, (h, w))
        return r_fine * weight / mean

    def similar_filter(self, f1: np.ndarray, change: np.ndarray) -> np.ndarray:
        """Step 7: ``(bands, H, W)`` weighted mean of ``change`` over similar neighbours."""
        bands, h, w = f1.shape
        r = self.window // 2
        valid = np.ones((h, w), dtype=bool)
        threshold = similarity_thresholds(f1, valid, self.num_classes, self.window, "global")
        f_pad = pad(f1, r)
        change_pad = pad(change.astype(np.float32), r)
        inside = pad(np.ones((h, w), dtype=np.float32), r)
        numerator = np.zeros((bands, h, w), dtype=np.float32)
        denominator = np.zeros((h, w), dtype=np.float32)
        diff = np.empty((bands, h, w), dtype=np.float32)
        keep = np.empty((bands, h, w), dtype=bool)
        weight = np.empty((h, w), dtype=np.float32)
        for dy, dx, d in offsets(r):
            np.subtract(shifted(f_pad, r, dy, dx, (h, w)), f1, out=diff)
            np.abs(diff, out=diff)
            np.less_equal(diff, threshold, out=keep)
            similar = keep.all(axis=0)
            np.multiply(
                shifted(inside, r, dy, dx, (h, w)),
                np.float32(1.0 / (1.0 + d / (self.window / 2))),
                out=weight,
            )
            weight *= similar
            denominator += weight
            numerator += weight * shifted(change_pad, r, dy, dx, (h, w))
        return numerator / denominator  # the centre is always similar: denominator > 0

    # --- the method ----------------------------------------------------------------------------

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """F2 (float32 ``(bands, H, W)``) from the reference pair ``(c1, f1)`` and ``c2``."""
        c1, f1, c2 = as_image("c1", c1), as_image("f1", f1), as_image("c2", c2)
        _, h, w = check_same_shape({"c1": c1, "f1": f1, "c2": c2})
        s = self.block
        labels = self.classify(f1)
        onehot = (labels[None] == np.arange(self.num_classes)[:, None, None]).astype(np.float64)
        fractions = block_means(onehot, s)
        c1_blocks, c2_blocks = block_means(c1, s), block_means(c2, s)
        coarse_change = c2_blocks - c1_blocks
        class_change = self.class_change(fractions, coarse_change)  # (bands, k, nh, nw)
        rows, cols = np.arange(h)[:, None] // s, np.arange(w)[None] // s
        tp_change = class_change[:, labels, rows, cols]  # (bands, H, W): own class, own block
        f_tp = f1 + tp_change
        residual = coarse_change - block_means(tp_change, s)
        f_sp = self.spatial_prediction(c2_blocks, (h, w))
        change = tp_change + self.distribute_residual(labels, residual, f_sp, f_tp)
        return (f1 + self.similar_filter(f1, change)).astype(np.float32)
