"""The fusion-method contract: reflectance arrays in, the fine image at the target date out.

Every name ``--model`` accepts becomes a :class:`Method` (see :mod:`est_stfm.methods.registry`).
Arrays are reflectance shaped ``(bands, H, W)`` on the fine grid; ``c1, f1`` are a reference
pair's coarse and fine images and ``c2`` the coarse image at the target date.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from scipy.ndimage import uniform_filter

TWO_PAIR_WINDOW = 31  # pixels: the neighbourhood over which each pair's coarse change is measured

Pair = tuple[np.ndarray, np.ndarray]
"""A reference pair ``(coarse, fine)``."""


class Method(Protocol):
    """A fusion method.

    ``halo``: context in fine pixels it needs around a tile (tiled prediction reads at least that
    much). ``bands``: the band count it requires, ``None`` for any. ``predict_pairs`` fuses one or
    more reference pairs, with one ``(H, W)`` valid mask per pair (False: that pair's pixel is
    cloudy or nodata).
    """

    name: str
    halo: int
    bands: int | None

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray: ...

    def predict_pairs(
        self, pairs: Sequence[Pair], c2: np.ndarray, valid: Sequence[np.ndarray]
    ) -> np.ndarray: ...


class PairwiseMethod:
    """A method defined on one pair; several pairs are blended per pixel by :func:`blend_pairs`."""

    name = "method"
    halo = 0
    bands: int | None = None

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_pairs(
        self, pairs: Sequence[Pair], c2: np.ndarray, valid: Sequence[np.ndarray]
    ) -> np.ndarray:
        """One pair: :meth:`predict`; more: each pair's prediction, blended."""
        preds = [self.predict(c1, f1, c2).astype(np.float32) for c1, f1 in pairs]
        return blend_predictions(preds, pairs, c2, valid)


def blend_predictions(
    preds: Sequence[np.ndarray], pairs: Sequence[Pair], c2: np.ndarray, valid: Sequence[np.ndarray]
) -> np.ndarray:
    """One prediction per pair in ``pairs``: the only one, or all blended by
    :func:`blend_pairs`."""
    if len(preds) == 1:
        return preds[0]
    return blend_pairs(preds, c2, [c1 for c1, _ in pairs], valid)


def pair_weights(c2: np.ndarray, coarse_refs: list[np.ndarray], window: int) -> list[np.ndarray]:
    """Per-pixel weights of each reference pair, inversely proportional to how much the coarse
    image changed between that pair's date and the target (mean absolute change over bands and
    a ``window`` x ``window`` neighbourhood, reflected at the border), as the classic two-pair
    methods weight them."""
    inv = [
        1.0 / (uniform_filter(np.abs(c2 - c).mean(0), size=window, mode="reflect") + 1e-6)
        for c in coarse_refs
    ]
    total = sum(inv)
    return [w / total for w in inv]


def blend_pairs(
    preds: Sequence[np.ndarray],
    c2: np.ndarray,
    coarse_refs: list[np.ndarray],
    valid: Sequence[np.ndarray],
) -> np.ndarray:
    """Per-pixel weighted mean of each pair's prediction (:func:`pair_weights`); a pair invalid
    at a pixel (a cloud in its fine image) gives its weight to the others."""
    weights = pair_weights(c2, coarse_refs, TWO_PAIR_WINDOW)
    weights = [w * v for w, v in zip(weights, valid, strict=True)]
    total = np.maximum(sum(weights), 1e-12)
    image = sum(p * (w / total) for p, w in zip(preds, weights, strict=True))
    return np.asarray(image, dtype=np.float32)
