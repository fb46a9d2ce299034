"""ISODATA clustering (Ball & Hall 1965; Tou & Gonzalez 1974), as FSDAF classifies its fine image.

Zhu et al. (2016) classify the fine reference image with ENVI's ISODATA; the authors' IDL code
asks for 4 to 6 classes, 20 iterations, a 5 % change threshold, at least 200 pixels per class,
and split and merge thresholds of 5 % of the data's maximum (0.05 for reflectance in 0-1).
ISODATA is k-means with two extra moves between assignment rounds: a class too spread out along
some feature is *split* in two (its centre moved by +- one standard deviation along that
feature), and classes whose centres are too close are *merged*, so the number of classes adapts
to the image within ``[min_classes, max_classes]``.

Our own implementation of the published algorithm with the authors' settings. Where it differs
from ENVI's, and why:

* it fits on a random sample of at most ``sample`` pixels (fixed ``seed``: deterministic) and then
  labels every pixel with its nearest centre (ENVI iterates over every pixel; a sample of 50 000
  moves the centres by sampling noise only, and keeps the classification fast);
* the initial centres are evenly spaced on the diagonal of the data from ``mean - std`` to
  ``mean + std`` (ENVI: "evenly distributed in the data space"; its exact rule is not published);
* which move a round makes follows Tou & Gonzalez (split on odd rounds, merge on even ones, split
  when below ``min_classes`` and merge when above ``max_classes``): ENVI does not publish its
  schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from est_stfm.errors import EstStfmError

CHUNK = 1 << 18
"""Pixels labelled at a time (bounds the distance matrix's memory)."""


@dataclass(frozen=True)
class Clusters:
    """ISODATA's result: a label per pixel (``0 .. k-1``) and the ``(k, features)`` centres, in
    the input's unit, ordered by the sum of their features."""

    labels: np.ndarray
    centres: np.ndarray

    @property
    def count(self) -> int:
        """Number of classes found."""
        return len(self.centres)


def nearest(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre of each column of ``x`` ``(features, N)`` and the squared
    distance to it (a loop over centres and features: no BLAS call, fast for few of both)."""
    dist = np.empty((len(centres), x.shape[1]))
    for k, centre in enumerate(centres):
        dist[k] = 0.0
        for f, value in enumerate(centre):
            dist[k] += (x[f] - value) ** 2
    labels = dist.argmin(0)
    return labels, np.take_along_axis(dist, labels[None], 0)[0]


def means(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(k, features)`` mean of the columns of ``x`` with each label present, in label order."""
    present, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse)
    return np.stack([np.bincount(inverse, weights=row) / counts for row in x], axis=1)


@dataclass(frozen=True)
class Isodata:
    """ISODATA settings; :meth:`classify` runs it.

    Defaults are the FSDAF authors' (see the module docstring). ``min_classes``/``max_classes``:
    the range of the class count, ``max_classes`` initial centres; ``iterations``: at most this
    many assignment rounds; ``change_threshold``: stop once fewer than this share of pixels change
    class in a round; ``min_pixels``: a class with fewer pixels is dissolved (counted on the whole
    image; scaled to the sample); ``split_std``: a class whose standard deviation along some
    feature exceeds this (data unit) may be split, its centre moved by ``split_mult`` standard
    deviations either way; ``merge_distance``: classes whose centres are closer than this (data
    unit) may be merged; ``max_merge_pairs``: at most this many merges per round; ``sample``:
    pixels the clustering is fitted on; ``seed``: the sample's seed.
    """

    min_classes: int = 4
    max_classes: int = 6
    iterations: int = 20
    change_threshold: float = 0.05
    min_pixels: int = 200
    split_std: float = 0.05
    split_mult: float = 1.0
    merge_distance: float = 0.05
    max_merge_pairs: int = 2
    sample: int = 50_000
    seed: int = 0

    def __post_init__(self) -> None:
        counts = ("min_classes", "max_classes", "iterations", "min_pixels", "max_merge_pairs")
        for name in (*counts, "sample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise EstStfmError(f"ISODATA {name} must be an integer >= 1, got {value!r}")
        if self.max_classes < self.min_classes:
            raise EstStfmError(
                f"ISODATA max_classes ({self.max_classes}) must be >= min_classes "
                f"({self.min_classes})"
            )
        for name in ("change_threshold", "split_std", "split_mult", "merge_distance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise EstStfmError(f"ISODATA {name} must be a number >= 0, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise EstStfmError(f"ISODATA seed must be an integer, got {self.seed!r}")
        if self.seed < 0:
            raise EstStfmError(f"ISODATA seed must be >= 0, got {self.seed}")

    # --- the moves ------------------------------------------------------------------------------

    def _initial(self, x: np.ndarray) -> np.ndarray:
        """``max_classes`` centres evenly spaced on the diagonal ``mean +- std``."""
        steps = np.linspace(-1.0, 1.0, self.max_classes) if self.max_classes > 1 else np.zeros(1)
        return x.mean(1)[None] + steps[:, None] * x.std(1)[None]

    @staticmethod
    def _dissolve(x: np.ndarray, centres: np.ndarray, min_count: float) -> np.ndarray:
        """Centres of the classes with at least ``min_count`` pixels (the largest is always
        kept), re-estimated as the means of the pixels nearest to them."""
        counts = np.bincount(nearest(x, centres)[0], minlength=len(centres))
        keep = counts >= min_count
        keep[counts.argmax()] = True
        return means(x, nearest(x, centres[keep])[0])

    def _split(self, x: np.ndarray, centres: np.ndarray, min_count: float) -> np.ndarray:
        """Spread-out classes in two, ``centre +- split_mult std`` along their widest feature,
        widest first, while the count stays <= ``max_classes``. A class splits when its widest
        standard deviation exceeds ``split_std`` and, as in Tou & Gonzalez, it has more than
        ``2 (min_count + 1)`` pixels and a mean distance to its centre above the overall mean;
        below ``min_classes`` any class with a spread splits."""
        labels, dist = nearest(x, centres)
        dist = np.sqrt(dist)
        force = len(centres) < self.min_classes
        stds = [x[:, labels == c].std(1) for c in range(len(centres))]
        out = list(centres)
        for c in np.argsort([-s.max() for s in stds], kind="stable"):
            if len(out) >= self.max_classes:
                break
            std, members = stds[c], labels == c
            widest = int(std.argmax())
            wanted = (
                std[widest] > self.split_std
                and members.sum() > 2 * (min_count + 1)
                and dist[members].mean() > dist.mean()
            )
            if (wanted or force) and std[widest] > 0:
                step = np.zeros(x.shape[0])
                step[widest] = self.split_mult * std[widest]
                out[c] = centres[c] - step
                out.append(centres[c] + step)
        return np.stack(out)

    def _merge(self, x: np.ndarray, centres: np.ndarray, limit: float) -> np.ndarray:
        """Up to ``max_merge_pairs`` pairs of classes closer than ``limit`` (closest first, each
        class once) merged into their size-weighted mean, never below ``min_classes``."""
        k = len(centres)
        counts = np.bincount(nearest(x, centres)[0], minlength=k).astype(np.float64)
        gaps = np.sqrt(((centres[:, None] - centres[None]) ** 2).sum(-1))
        rows, cols = np.triu_indices(k, 1)
        used: set[int] = set()
        drop: list[int] = []
        out = centres.copy()
        for i in np.argsort(gaps[rows, cols], kind="stable"):
            a, b = int(rows[i]), int(cols[i])
            if gaps[a, b] >= limit or len(drop) >= self.max_merge_pairs:
                break
            if a in used or b in used or k - len(drop) <= self.min_classes:
                continue
            total = max(counts[a] + counts[b], 1.0)
            out[a] = (centres[a] * counts[a] + centres[b] * counts[b]) / total
            used.update((a, b))
            drop.append(b)
        return np.delete(out, drop, axis=0)

    # --- the algorithm ----------------------------------------------------------------------------

    def fit(self, x: np.ndarray, min_count: float) -> np.ndarray:
        """The ``(k, features)`` centres of ``x`` ``(features, N)``; ``min_count``: the smallest
        class size."""
        centres = self._initial(x)
        labels = nearest(x, centres)[0]
        for iteration in range(1, self.iterations + 1):
            centres = self._dissolve(x, centres, min_count)
            count = len(centres)
            if count > self.max_classes or (iteration % 2 == 0 and count > self.min_classes):
                limit = np.inf if count > self.max_classes else self.merge_distance
                centres = self._merge(x, centres, limit)
            elif count < self.max_classes:
                centres = self._split(x, centres, min_count)
            centres = means(x, nearest(x, centres)[0])
            new = nearest(x, centres)[0]
            changed = float(np.mean(new != labels)) if len(centres) == count else 1.0
            labels = new
            if changed < self.change_threshold and iteration % 2 == 0:  # after a merge round
                break
        return centres

    def classify(self, pixels: np.ndarray) -> Clusters:
        """Cluster ``pixels`` ``(N, features)``: every pixel labelled with its nearest centre."""
        data = np.asarray(pixels, dtype=np.float64)
        if data.ndim != 2 or len(data) == 0:
            raise EstStfmError(
                f"ISODATA needs a non-empty (pixels, features) array, got {data.shape}"
            )
        n = len(data)
        rng = np.random.default_rng(self.seed)
        subset = (
            data[np.sort(rng.choice(n, self.sample, replace=False))] if n > self.sample else data
        )
        centres = self.fit(np.ascontiguousarray(subset.T), self.min_pixels * len(subset) / n)
        centres = centres[np.argsort(centres.sum(1), kind="stable")]
        labels = np.empty(n, dtype=np.int64)
        for start in range(0, n, CHUNK):
            chunk = np.ascontiguousarray(data[start : start + CHUNK].T)
            labels[start : start + CHUNK] = nearest(chunk, centres)[0]
        present = np.unique(labels)  # a centre may lose every pixel to its neighbours
        return Clusters(labels=np.searchsorted(present, labels), centres=centres[present])
