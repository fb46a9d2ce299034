"""The two naive baselines every fusion method must beat.

* ``naive-copy``: the fine reference, unchanged (F2 = F1): assumes nothing changed.
* ``naive-change``: the fine reference plus the coarse change (F2 = F1 + C2 - C1): the
  linear, scale-free assumption behind STARFM with a single, uniform neighbourhood.
"""

from __future__ import annotations

import numpy as np

from est_stfm.methods.base import PairwiseMethod


class CopyReference(PairwiseMethod):
    """F2 = F1."""

    name = "naive-copy"

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        return f1.copy()


class AddCoarseChange(PairwiseMethod):
    """F2 = F1 + (C2 - C1)."""

    name = "naive-change"

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        return f1 + (c2 - c1)


NAIVE_METHODS = {m.name: m for m in (CopyReference(), AddCoarseChange())}
