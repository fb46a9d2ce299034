"""Check pretrained weights on the scene's own pairs before trusting them (no training).

Weights pretrained elsewhere (synthetic scenes) may correct a classic base in the wrong
direction on a real scene. Before predicting, :func:`checked` scores them where the truth is
known without touching the target: each of the (at most :data:`CHECK_DATES`) pair dates nearest
the target is predicted from its own nearest other pair date, over the central
:data:`CHECK_WINDOW` pixels, by the base alone and by the base plus the network's correction
scaled by each of :data:`STRENGTHS`. The strength with the lowest mean RMSE ratio to the base
is kept (ties: the weaker); with fewer than two usable pair dates nothing can be checked and the
correction is switched off (strength 0: the base alone), the cautious choice. The target's
images and hidden dates are never read.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
from rasterio.windows import Window

from est_stfm.methods.base import Method
from est_stfm.methods.model import ModelMethod
from est_stfm.scene import Scene

STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Correction strengths tried (0: the base alone, 1: the network as trained)."""

CHECK_DATES = 2
"""How many pair dates (the nearest to the target) are predicted for the check."""

CHECK_WINDOW = 512
"""Side of the central window the check predicts (bounds its cost on large scenes)."""


@dataclass
class Check:
    """What the check found: the strength kept, and each strength's mean RMSE / base RMSE."""

    strength: float
    pairs: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    """(reference, checked date) pairs predicted."""
    ratios: dict[float, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the log."""
        if not self.pairs:
            return "check: fewer than 2 usable pair dates; correction off (the base alone)"
        scores = ", ".join(f"{s:g}: {r:.3f}" for s, r in self.ratios.items())
        checked = ", ".join(f"{r}->{t}" for r, t in self.pairs)
        return f"check on {checked}: RMSE / base by strength {scores}; kept {self.strength:g}"


def _usable(scene: Scene, exclude: set[dt.date]) -> list[dt.date]:
    """Pair dates whose fine and coarse images may be read."""
    hidden = {day for _, day in scene.hidden}
    return [d for d in scene.pairs_dates() if d not in exclude and d not in hidden]


def _window(scene: Scene) -> Window:
    h, w = scene.shape
    side_h, side_w = min(h, CHECK_WINDOW), min(w, CHECK_WINDOW)
    return Window((w - side_w) // 2, (h - side_h) // 2, side_w, side_h)


def check_strength(method: ModelMethod, scene: Scene, target: dt.date | None) -> Check:
    """Choose the correction strength of ``method`` on ``scene``'s pairs (see the module)."""
    dates = _usable(scene, {target} if target else set())
    if len(dates) < 2 or method.base is None:
        return Check(0.0 if method.base is not None else 1.0)
    if target is not None:
        dates_by_distance = sorted(dates, key=lambda d: (abs((d - target).days), d))
    else:
        dates_by_distance = dates
    window = _window(scene)
    errors = {s: [] for s in STRENGTHS}
    pairs = []
    for day in dates_by_distance[:CHECK_DATES]:
        ref = min((d for d in dates if d != day), key=lambda d: (abs((d - day).days), d))
        (f1, v1), (c1, cv1) = scene.read_fine(ref, window), scene.read_coarse(ref, window)
        (c2, cv2), (f2, v2) = scene.read_coarse(day, window), scene.read_fine(day, window)
        valid = v1 & cv1 & cv2
        ok = valid & v2
        if not ok.any():
            continue
        base = np.asarray(method.base.predict_pairs([(c1, f1)], c2, [valid]), dtype=np.float32)
        full = method.with_strength(1.0).correct(c1, f1, c2, base, valid)
        truth = f2[:, ok].astype(np.float64)
        base_rmse = math.sqrt(float(np.mean((base[:, ok] - truth) ** 2)))
        if base_rmse == 0:
            continue
        for s in STRENGTHS:
            pred = base[:, ok] + s * (full[:, ok] - base[:, ok])
            errors[s].append(math.sqrt(float(np.mean((pred - truth) ** 2))) / base_rmse)
        pairs.append((ref, day))
    if not pairs:
        return Check(0.0)
    ratios = {s: float(np.mean(e)) for s, e in errors.items()}
    best = min(STRENGTHS, key=lambda s: (round(ratios[s], 6), s))
    return Check(best, pairs, ratios)


def checked(method: Method, scene: Scene, target: dt.date | None, log=None) -> Method:
    """``method`` with its correction strength chosen on ``scene`` when it asks for a check
    (shipped pretrained weights); any other method unchanged. ``log`` gets the summary line."""
    if not isinstance(method, ModelMethod) or not method.check:
        return method
    result = check_strength(method, scene, target)
    if log is not None:
        log(result.summary())
    out = method.with_strength(result.strength)
    out.name = f"{method.name} x{result.strength:g} (pair check)"
    return out
