"""FSDAF, the Flexible Spatiotemporal DAta Fusion method (Zhu et al. 2016).

Zhu, X., Helmer, E.H., Gao, F., Liu, D., Chen, J., Lefsky, M.A. (2016) "A flexible
spatiotemporal method for fusing satellite images with different resolutions", Remote Sensing
of Environment 172, 165-177.

Two variants (``variant``; registered as ``fsdaf`` and ``fsdaf-fast``):

* ``"faithful"`` (default) follows the authors' IDL code (FSDAF with ISODATA pre-classification,
  Xiaolin Zhu, updated 2019) where it details the paper; :class:`Fsdaf` lists its steps;
* ``"fast"`` is the approximation this package shipped first: k-means classes, a ridge
  unmixing over a moving window of every coarse pixel, the coarse factor rounded to an integer,
  and all similar pixels of the final filter instead of the 20 most similar.

Remaining deviations of the faithful variant from the authors' code, and why:

* ISODATA is our own (:mod:`est_stfm.methods.classic.isodata`) with the code's parameters, not
  ENVI's: fitted on a 50 000-pixel sample, its initial centres and split/merge schedule are
  not published by ENVI;
* the thin-plate spline (the code's ``MIN_CURVE_SURF, /TPS``) is scipy's, evaluated every
  ``factor / 4`` fine pixels and interpolated linearly between (it is smooth at that scale),
  and fitted on the whole image up to 40 x 40 coarse pixels, piecewise above (24 x 24 pieces
  with a margin of 6: the fit's cost is cubic in its size); the code fits it per block;
* the code's blocks (30 x 30 coarse pixels plus a margin of one) are kept for the class change,
  the other per-block statistics (data range, similarity thresholds) are per image, which is
  what the code computes on images up to 30 coarse pixels across;
* a fractional coarse factor is supported (the code needs an integer): the fine image's
  aggregates are area-weighted over each coarse pixel, the coarse images' values are the means
  over the fine pixels each coarse pixel contains (:mod:`est_stfm.methods.classic.coarse`);
* no clipping to the sensor's valid data range (``DN_min``, ``DN_max``: unknown here), and no
  background-pixel handling (est-stfm passes valid images);
* ties among the 20 most similar pixels go to the earlier offset in the window (IDL's ``sort``
  leaves their order unspecified), and their relative spectral distance divides by the centre's
  absolute value (the code's division by the value itself inverts the ranking for negative
  data such as NDVI; reflectance is unchanged).

Our own, vectorised implementation; the final filter, a ranking of every pixel's 1681
neighbours, is most of its cost (:mod:`est_stfm.methods.classic.similar`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import map_coordinates, uniform_filter

from est_stfm.errors import EstStfmError
from est_stfm.methods.base import PairwiseMethod
from est_stfm.methods.classic.coarse import CoarseGrid, block_means, expand_blocks
from est_stfm.methods.classic.common import as_image, check_factor, check_same_shape, check_window
from est_stfm.methods.classic.isodata import Isodata
from est_stfm.methods.classic.similar import most_similar_mean, similar_mean
from est_stfm.methods.classic.starfm import similarity_thresholds
from est_stfm.methods.classic.unmixing import (
    bounded_least_squares,
    kmeans,
    purest_unmixing,
    window_unmixing,
)

__all__ = ["Fsdaf", "block_means", "bounded_least_squares", "expand_blocks", "kmeans"]

SPATIAL = ("tps", "cubic")
VARIANTS = ("faithful", "fast")
TPS_CHUNK = 40
"""The thin-plate spline is fitted on at most this many coarse pixels squared (plus a margin of
:data:`TPS_MARGIN`) at a time: exact below that, a seamless piecewise fit above."""
TPS_MARGIN = 8
TPS_PIECES = (24, 6)
"""Chunk and margin of the faithful variant's piecewise fit above :data:`TPS_CHUNK` coarse
pixels: a quarter of the cost of 40 + 8 on large images (the fit is cubic in its size)."""
EXTREMES = (0.0001, 0.9999)
"""Quantiles of each band of F1 beyond which the authors' code clips it (noise)."""


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


def spatial_surface(
    values: np.ndarray,
    centres: tuple[np.ndarray, np.ndarray],
    edges: tuple[np.ndarray, np.ndarray],
    shape: tuple[int, int],
    spatial: str = "tps",
    pieces: tuple[int, int] = (TPS_CHUNK, TPS_MARGIN),
) -> np.ndarray:
    """``(bands, H, W)`` surface through the coarse pixel ``values`` ``(bands, rows, cols)`` at
    their ``centres`` (fine coordinates): a thin-plate spline (``"tps"``) or a cubic B-spline
    (``"cubic"``); ``edges``: the fine coordinates of the coarse pixel boundaries; ``pieces``:
    the thin-plate spline's chunk and margin in coarse pixels (see :data:`TPS_CHUNK`)."""
    bands, nh, nw = values.shape
    chunk, margin = pieces
    (h, w), (centre_r, centre_c), (edge_r, edge_c) = shape, centres, edges
    unit = float(edge_r[1] - edge_r[0]) if nh > 1 else float(h)
    if nh < 2 or nw < 2:  # a line of coarse pixels: no surface to fit
        rows = np.searchsorted(edge_r, np.arange(h) + 0.5) - 1
        cols = np.searchsorted(edge_c, np.arange(w) + 0.5) - 1
        return values[:, rows[:, None], cols[None, :]].astype(np.float32)
    if spatial == "cubic":
        grid = np.stack(
            np.meshgrid(
                np.interp(np.arange(h), centre_r, np.arange(nh)),
                np.interp(np.arange(w), centre_c, np.arange(nw)),
                indexing="ij",
            )
        )
        return np.stack([map_coordinates(b, grid, order=3, mode="nearest") for b in values]).astype(
            np.float32
        )
    # the spline is evaluated on a lattice of every `step`-th fine pixel (and the last one),
    # then linearly interpolated: the surface is smooth at the scale of a coarse pixel
    step = max(1, int(unit) // 4)
    lat_r = np.unique(np.append(np.arange(0, h, step), h - 1))
    lat_c = np.unique(np.append(np.arange(0, w, step), w - 1))
    lattice = np.empty((bands, len(lat_r), len(lat_c)))
    # up to chunk x chunk coarse pixels per spline, fitted with a margin around them
    for i0 in range(0, nh, chunk):
        i1 = min(nh, i0 + chunk)
        rows = (lat_r >= edge_r[i0]) & (lat_r < (edge_r[i1] if i1 < nh else h))
        for j0 in range(0, nw, chunk):
            j1 = min(nw, j0 + chunk)
            cols = (lat_c >= edge_c[j0]) & (lat_c < (edge_c[j1] if j1 < nw else w))
            fit_r = slice(max(0, i0 - margin), min(nh, i1 + margin))
            fit_c = slice(max(0, j0 - margin), min(nw, j1 + margin))
            at = np.ix_(np.flatnonzero(rows), np.flatnonzero(cols))
            lattice[:, at[0], at[1]] = _thin_plate(
                centre_r[fit_r] / unit,
                centre_c[fit_c] / unit,
                values[:, fit_r, fit_c],
                lat_r[rows] / unit,
                lat_c[cols] / unit,
            )
    grid = np.stack(
        np.meshgrid(
            np.interp(np.arange(h), lat_r, np.arange(len(lat_r))),
            np.interp(np.arange(w), lat_c, np.arange(len(lat_c))),
            indexing="ij",
        )
    )
    return np.stack([map_coordinates(b, grid, order=1) for b in lattice]).astype(np.float32)


def homogeneity(labels: np.ndarray, classes: int, window: int) -> np.ndarray:
    """``(H, W)`` share of the ``window`` x ``window`` neighbourhood (clipped at the border)
    that is in the pixel's own class: FSDAF's homogeneity index."""
    h, w = labels.shape
    counts = uniform_filter(np.ones((h, w)), size=window, mode="constant")
    onehot = (labels[None] == np.arange(classes)[:, None, None]).astype(np.float64)
    same = np.stack([uniform_filter(o, size=window, mode="constant") for o in onehot])
    return np.take_along_axis(same, labels[None], 0)[0] / counts


class Fsdaf(PairwiseMethod):
    """FSDAF (Zhu et al. 2016, Remote Sensing of Environment 172): one reference pair.

    ``factor`` is the coarse pixel size in fine pixels (e.g. 16 for 480 m / 30 m; 14.7 works:
    see :mod:`est_stfm.methods.classic.coarse`; the fast variant rounds it to an integer
    ``block``). Coarse pixels tile the fine grid from its top-left corner; their values are the
    means of the coarse images as given on the fine grid. The faithful variant's steps:

    1. classify ``F1`` by ISODATA into 4 to 6 classes (``isodata``, the authors' settings);
    2. clip each band of ``F1`` at its 0.01 % and 99.99 % quantiles (noise), and take the class
       fractions ``f_c`` of each coarse pixel;
    3. the change ``dF_c`` of each class per block of ``block_size`` (30) coarse pixels from the
       ``num_pure`` (100) purest coarse pixels of each class, bounded least squares
       (:func:`~est_stfm.methods.classic.unmixing.purest_unmixing`);
    4. temporal prediction ``F_TP = F1 + dF_c`` and the coarse residual ``R = dC - mean(F_TP -
       F1)``;
    5. spatial prediction ``F_SP``: a thin-plate spline through ``C2`` at the coarse pixels'
       centres (``spatial="tps"``; ``"cubic"``: a cheaper cubic B-spline);
    6. residual distribution within each coarse pixel with the homogeneity index ``HI`` (share
       of the pixel's class in its ``window`` x ``window`` neighbourhood): ``W = |E| HI + |R|
       (1 - HI) + 1e-6``, ``E = F_SP - F_TP`` zeroed where its sign differs from ``R``'s,
       normalised to mean 1, weights above 10 set to 1 and renormalised; ``F_TP + W R`` clipped to
       the range of ``C2`` and ``F_TP``, minus ``F1``, is the change ``dF``;
    7. ``F2 = F1 + sum w dF`` over the ``similar`` (20) most similar pixels of the ``window``
       (41) neighbourhood (:func:`~est_stfm.methods.classic.similar.most_similar_mean`, with
       thresholds ``2 std(F1) / classes``).

    The fast variant: k-means (``num_classes``, ``seed``), :func:`~est_stfm.methods.classic.
    unmixing.window_unmixing` (``unmix_radius``, ``ridge``), ``HI`` over ``s`` x ``s``, ``r = R W
    / mean(W)`` without the weight cap or the clipping, and the mean over every similar pixel of
    a ``2 s + 1`` window weighted ``1 / (1 + d / (window / 2))``
    (:func:`~est_stfm.methods.classic.similar.similar_mean`).

    Run tile by tile, every tile is classified and unmixed on its own, so tiles differ from a
    whole-image run; ``halo`` gives each tile the context of its coarse pixels and of the final
    filter, and the tile overlaps are blended. ``C1 == C2`` gives back ``F1``; a uniform change
    ``C2 = C1 + a`` gives ``F1 + a``.
    """

    name = "fsdaf"

    def __init__(
        self,
        factor: float,
        num_classes: int = 5,
        *,
        variant: str = "faithful",
        window: int | None = None,
        similar: int = 20,
        num_pure: int = 100,
        block_size: int = 30,
        isodata: Isodata | None = None,
        unmix_radius: int = 3,
        ridge: float = 1e-3,
        spatial: str = "tps",
        seed: int = 0,
    ) -> None:
        check_factor("FSDAF", factor)
        for name, value, least in (
            ("num_classes", num_classes, 1),
            ("unmix_radius", unmix_radius, 0),
            ("similar", similar, 1),
            ("num_pure", num_pure, 1),
            ("block_size", block_size, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise EstStfmError(f"FSDAF {name} must be an integer >= {least}, got {value!r}")
        if spatial not in SPATIAL:
            raise EstStfmError(f"FSDAF spatial {spatial!r}: use one of {', '.join(SPATIAL)}")
        if variant not in VARIANTS:
            raise EstStfmError(f"FSDAF variant {variant!r}: use one of {', '.join(VARIANTS)}")
        if isinstance(ridge, bool) or not isinstance(ridge, (int, float)) or not ridge > 0:
            raise EstStfmError(f"FSDAF ridge must be a number > 0, got {ridge!r}")
        self.variant = variant
        self.name = "fsdaf" if variant == "faithful" else "fsdaf-fast"
        self.factor = float(factor)
        self.block = max(1, int(round(self.factor)))
        self.num_classes = int(num_classes)
        default = 41 if variant == "faithful" else 2 * self.block + 1
        self.window = check_window(default if window is None else window)
        self.similar = int(similar)
        self.num_pure = int(num_pure)
        self.block_size = int(block_size)
        self.isodata = Isodata(seed=seed) if isodata is None else isodata
        self.unmix_radius = int(unmix_radius)
        self.ridge = float(ridge)
        self.spatial = spatial
        self.seed = int(seed)

    @property
    def halo(self) -> int:
        """Context in fine pixels needed around a tile: the coarse pixels' and the filter's."""
        if self.variant == "faithful":
            return math.ceil(self.factor) + self.window // 2
        return (self.unmix_radius + 1) * self.block + self.window // 2

    def classify(self, f1: np.ndarray) -> np.ndarray:
        """Step 1: ``(H, W)`` class labels of ``F1`` (ISODATA, or k-means when fast)."""
        bands, h, w = f1.shape
        pixels = f1.reshape(bands, -1).T
        if self.variant == "faithful":
            return self.isodata.classify(pixels).labels.reshape(h, w)
        labels, _ = kmeans(pixels, self.num_classes, seed=self.seed)
        return labels.reshape(h, w)

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """F2 (float32 ``(bands, H, W)``) from the reference pair ``(c1, f1)`` and ``c2``."""
        c1, f1, c2 = as_image("c1", c1), as_image("f1", f1), as_image("c2", c2)
        check_same_shape({"c1": c1, "f1": f1, "c2": c2})
        if self.variant == "fast":
            return self._predict_fast(c1, f1, c2)
        return self._predict_faithful(c1, f1, c2)

    # --- the faithful variant --------------------------------------------------------------------

    def _predict_faithful(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        bands, h, w = f1.shape
        labels = self.classify(f1)
        classes = int(labels.max()) + 1
        low, high = np.quantile(f1.reshape(bands, -1), EXTREMES, axis=1)
        f1c = np.clip(f1, low[:, None, None], high[:, None, None]).astype(np.float64)
        grid = CoarseGrid(self.factor, (h, w))
        onehot = (labels[None] == np.arange(classes)[:, None, None]).astype(np.float64)
        fractions = grid.means(onehot)
        # a coarse image given on the fine grid holds each coarse pixel's value on the fine
        # pixels it owns (nearest resampling): their mean; the fine image's share of a coarse
        # pixel (fractions, residual) is area-weighted, as the coarse sensor sees it
        c2_coarse = grid.owner_means(c2)
        coarse_change = c2_coarse - grid.owner_means(c1)
        class_change = purest_unmixing(fractions, coarse_change, self.num_pure, self.block_size)
        rows, cols = grid.index
        tp_change = class_change[:, labels, rows[:, None], cols[None, :]]  # own class and block
        f_tp = f1c + tp_change
        residual = coarse_change - grid.means(tp_change)
        pieces = (TPS_CHUNK, 0) if max(grid.size) <= TPS_CHUNK else TPS_PIECES
        f_sp = spatial_surface(
            c2_coarse, grid.centres, grid.edges, (h, w), self.spatial, pieces
        ).astype(np.float64)
        hi = homogeneity(labels, classes, self.window)
        r_fine = grid.expand(residual)
        error = f_sp - f_tp
        error[((r_fine > 0) & (error < 0)) | ((r_fine <= 0) & (error > 0))] = 0.0
        weight = np.abs(error) * hi + np.abs(r_fine) * (1 - hi) + 1e-6
        weight /= grid.expand(grid.owner_means(weight))
        weight[weight > 10] = 1.0  # the mean of the normalised weights
        weight /= grid.expand(grid.owner_means(weight))
        low2 = np.minimum(c2.reshape(bands, -1).min(1), f_tp.reshape(bands, -1).min(1))
        high2 = np.maximum(c2.reshape(bands, -1).max(1), f_tp.reshape(bands, -1).max(1))
        fine2 = np.clip(f_tp + weight * r_fine, low2[:, None, None], high2[:, None, None])
        thresholds = f1.reshape(bands, -1).std(1) * 2.0 / classes
        change = (fine2 - f1c).astype(np.float32)
        out = f1 + most_similar_mean(f1, change, self.window // 2, self.similar, thresholds)
        return out.astype(np.float32)

    # --- the fast variant ------------------------------------------------------------------------

    def _predict_fast(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        _, h, w = f1.shape
        s = self.block
        labels = self.classify(f1)
        onehot = (labels[None] == np.arange(self.num_classes)[:, None, None]).astype(np.float64)
        fractions = block_means(onehot, s)
        c1_blocks, c2_blocks = block_means(c1, s), block_means(c2, s)
        coarse_change = c2_blocks - c1_blocks
        class_change = window_unmixing(fractions, coarse_change, self.unmix_radius, self.ridge)
        rows, cols = np.arange(h)[:, None] // s, np.arange(w)[None] // s
        tp_change = class_change[:, labels, rows, cols]  # (bands, H, W): own class, own block
        f_tp = f1 + tp_change
        residual = coarse_change - block_means(tp_change, s)
        nh, nw = c2_blocks.shape[1:]
        edge_r = np.minimum(np.arange(nh + 1) * s, h)
        edge_c = np.minimum(np.arange(nw + 1) * s, w)
        centres = ((edge_r[:-1] + edge_r[1:] - 1) / 2, (edge_c[:-1] + edge_c[1:] - 1) / 2)
        f_sp = spatial_surface(c2_blocks, centres, (edge_r, edge_c), (h, w), self.spatial)
        # residual distribution: HI over the s x s window, CW normalised over the coarse pixel
        hi = homogeneity(labels, self.num_classes, s)
        r_fine = expand_blocks(residual, s, (h, w))
        e_ho = f_sp.astype(np.float64) - f_tp
        agree = np.sign(e_ho) == np.sign(r_fine)
        weight = np.abs(e_ho) * agree * hi + np.abs(r_fine) * (1 - hi) + 1e-6
        mean = expand_blocks(block_means(weight, s), s, (h, w))
        change = tp_change + r_fine * weight / mean
        valid = np.ones((h, w), dtype=bool)
        threshold = similarity_thresholds(f1, valid, self.num_classes, self.window, "global")
        return (f1 + similar_mean(f1, change, self.window, threshold)).astype(np.float32)
