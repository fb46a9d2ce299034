"""``blend``: a per-pixel weighting of the classic methods by how well each agrees with C2.

Every candidate prediction (naive-change, STARFM, FSDAF, Fit-FC, and ESTARFM when two pairs are
given) is seen through the coarse sensor and compared with the radiometrically calibrated
coarse target, as the consistency step does (:func:`est_stfm.methods.consistency.
coarse_residual`, anchored on the reference pair). Where a candidate's coarse-scale change
disagrees with what the coarse sensor saw, it gets less weight. No training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import uniform_filter

from est_stfm.errors import EstStfmError
from est_stfm.methods.base import Pair
from est_stfm.methods.classic.common import check_factor, check_pairs
from est_stfm.methods.classic.estarfm import Estarfm
from est_stfm.methods.classic.fitfc import FitFc
from est_stfm.methods.classic.fsdaf import Fsdaf
from est_stfm.methods.classic.naive import AddCoarseChange
from est_stfm.methods.classic.starfm import Starfm
from est_stfm.methods.consistency import block_size, coarse_residual, fit_radiometry


class Blend:
    """Per-pixel weighted mean of the classic methods' predictions (one or two pairs).

    For each candidate ``i``, ``e_i`` is its squared coarse residual ``R_i`` (mean over bands),
    averaged over the ``(2 s + 1)`` square window (``s``: the coarse factor rounded): how far
    its change, seen by the coarse sensor, is from the calibrated coarse change ``(C2 - C1) /
    gain``. Weights are inverse squared errors with a floor, ``w_i = 1 / (e_i + floor * m)``,
    ``m`` the median over valid pixels of the candidates' mean ``e``: candidates within the
    noise of the coarse data share the weight about equally (an average of methods whose errors
    partly cancel), and one clearly off at the coarse scale is left out there. ``floor`` 0 is
    plain inverse squared error (the candidate that fits C2 best takes nearly all), a large one
    the plain mean.

    Candidates: ``naive-change``, ``starfm``, ``fsdaf``, ``fit-fc`` (their defaults), plus
    ``estarfm`` when exactly two pairs are given. ``factor``: the coarse pixel size in fine
    pixels (a scene's ``coarse_factor``). ``halo``: the largest candidate's plus the window's.
    """

    name = "blend"
    bands: int | None = None

    def __init__(self, factor: float, *, floor: float = 1.0) -> None:
        self.factor = check_factor("blend", factor)
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not floor >= 0:
            raise EstStfmError(f"blend floor must be a number >= 0, got {floor!r}")
        self.floor = float(floor)
        self.one_pair = [AddCoarseChange(), Starfm(), Fsdaf(self.factor), FitFc(self.factor)]
        self.two_pairs = Estarfm()

    @property
    def window(self) -> int:
        """Side of the square over which each candidate's error is averaged."""
        return 2 * block_size(self.factor) + 1

    @property
    def halo(self) -> int:
        """Context in fine pixels needed around a tile."""
        widest = max(m.halo for m in [*self.one_pair, self.two_pairs])
        return int(widest) + 2 * block_size(self.factor) + self.window // 2

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """The blend from one reference pair."""
        return self.predict_pairs([(c1, f1)], c2, [np.ones(np.shape(c2)[-2:], dtype=bool)])

    def candidates(
        self, pairs: Sequence[Pair], c2: np.ndarray, valid: Sequence[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Each candidate's prediction, by method name."""
        methods = [*self.one_pair, *([self.two_pairs] if len(pairs) == 2 else [])]
        return {m.name: np.asarray(m.predict_pairs(pairs, c2, valid)) for m in methods}

    def weights(
        self,
        preds: Sequence[np.ndarray],
        pairs: Sequence[Pair],
        c2: np.ndarray,
        valid: Sequence[np.ndarray],
    ) -> np.ndarray:
        """``(candidates, H, W)`` weights summing to 1 at every pixel."""
        radiometry = fit_radiometry(pairs, valid, self.factor)
        errors = []
        for pred in preds:
            residual, _ = coarse_residual(pred, pairs, c2, valid, self.factor, True, radiometry)
            errors.append(uniform_filter((residual**2).mean(0), size=self.window, mode="reflect"))
        error = np.stack(errors)
        inside = np.logical_or.reduce(valid)
        scale = float(np.median(error.mean(0)[inside])) if inside.any() else 0.0
        inverse = 1.0 / (error + self.floor * scale + 1e-12)
        return inverse / inverse.sum(0)

    def combine(
        self,
        preds: Sequence[np.ndarray],
        pairs: Sequence[Pair],
        c2: np.ndarray,
        valid: Sequence[np.ndarray],
    ) -> np.ndarray:
        """The per-pixel weighted mean of ``preds`` (:meth:`weights`), float32."""
        weights = self.weights(preds, pairs, c2, valid)
        return np.einsum("khw,kbhw->bhw", weights, np.stack(preds)).astype(np.float32)

    def predict_pairs(
        self, pairs: Sequence[Pair], c2: np.ndarray, valid: Sequence[np.ndarray]
    ) -> np.ndarray:
        """The blend from one or two reference pairs; ``valid``: one ``(H, W)`` mask per pair."""
        coarse, fine, target, masks = check_pairs(pairs, c2, valid)
        checked = list(zip(coarse, fine, strict=True))
        preds = list(self.candidates(checked, target, masks).values())
        return self.combine(preds, checked, target, masks)
