"""Validation: the score that picks the weights a fit keeps, and the candidates before training.

The score of one validation pair is what the benchmark reports, taken against the model's own
base (the classic method it corrects, or F1 + C2 - C1): RMSE / base RMSE - (SSIM - base SSIM),
over the pair's validated pixels (SSIM per band with the band's truth range, averaged). A
scene's score is its worst held-out target's (date validation: the mean over the pairs that
predict one held-out date; spatial: the mean over all its pairs), so a gain on one date cannot
buy a loss on another; the fit's score is the mean over scenes. 1.0 is exactly the base; lower
is better. Before the first epoch the candidates are the starting weights and, for a model
whose output is a zero-initialised correction, its base itself, so a fit never ends worse on
validation than that base. A trained epoch replaces those starting candidates only when it
beats them by :data:`REFINE_MARGIN`: a smaller gain on the validation pixels is within what
one held-out date or block set says about another, and the start is the safer bet.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import torch

from est_stfm.evaluation.metrics import ssim_map
from est_stfm.models.apply import band_agnostic, fused
from est_stfm.training.samples import SceneStack, Split, pair_arrays, pair_shift

REFINE_MARGIN = 0.005
"""How much lower (in score units: 0.005 is half a percent of the base's RMSE) a trained
epoch's validation score must be than the best starting candidate's to replace it. Measured
on protocol v3's quick cases (one-minute fits from est-stfm-any-tiny-synth): without a margin,
iFSDAF NDVI kept an epoch 0.4 % better on its validation date and 0.5 % worse on the target."""


def improves(score: float, best: float | None, best_is_start: bool) -> bool:
    """Whether a trained epoch's validation ``score`` replaces the ``best`` so far (lower is
    better; None: nothing validated yet); a starting candidate must be beaten by
    :data:`REFINE_MARGIN`."""
    margin = REFINE_MARGIN if best_is_start else 0.0
    return best is None or score < best - margin


def base_state(model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """The weights that make ``model`` output exactly its base (its ``head`` zeroed), or None
    when the model has no such base."""
    return scaled_state(model, 0.0)


def _head_prefix(model: torch.nn.Module) -> str | None:
    """The state-dict prefix of the linear ``head`` whose output is a correction of the
    model's base, or None when the model has no such base."""
    head = getattr(model, "head", None)
    config = getattr(model, "config", None)
    corrects = band_agnostic(model) or getattr(config, "residual", None) == "change"
    if not corrects or not isinstance(head, torch.nn.Conv2d):
        return None
    return next(name for name, module in model.named_modules() if module is head)


def has_base(model: torch.nn.Module) -> bool:
    """True when ``model``'s output is a correction of a base (see :func:`base_state`)."""
    return _head_prefix(model) is not None


@dataclass
class _Item:
    """One validation pair: its arrays inside the validated window, and the base's scores."""

    arrays: tuple[np.ndarray, ...]
    """(C1, F1, C2, F2, valid, shift) inside the window."""
    scored: np.ndarray
    """The pixels scored (valid, and held out when the validation is spatial)."""
    base_rmse: float
    base_ssim: float
    target: tuple[int, dt.date | None]
    """(scene index, held-out date) the pair predicts; the date is None for spatial blocks."""


def _rmse(pred: np.ndarray, truth: np.ndarray, scored: np.ndarray) -> float:
    err = (pred - truth)[:, scored].astype(np.float64)
    return math.sqrt(float((err**2).mean()))


def _ssim(pred: np.ndarray, truth: np.ndarray, scored: np.ndarray) -> float:
    """Mean over bands of the local SSIM averaged over the scored pixels."""
    values = []
    for p, t in zip(pred, truth, strict=True):
        span = float(np.ptp(t[scored])) or 1.0
        values.append(float(ssim_map(p, t, scored, span)[scored].mean()))
    return float(np.mean(values))


def _item(
    stack: SceneStack,
    ref: dt.date,
    tgt: dt.date,
    split: Split,
    target: tuple[int, dt.date | None],
) -> _Item | None:
    """The validation pair ``ref -> tgt`` inside ``split``'s window (None: nothing scored)."""
    window, mask = split.val_window, split.val_mask
    c1, f1, c2, f2, valid = pair_arrays(stack, ref, tgt, window)
    shift = pair_shift(stack, ref, tgt, window)
    scored = valid if mask is None else valid & mask[window]
    if not scored.any():
        return None
    base = f1 + c2 - c1 + shift
    rmse = _rmse(base, f2, scored)
    if not (math.isfinite(rmse) and rmse > 0):
        return None
    ssim = _ssim(base, f2, scored)
    return _Item((c1, f1, c2, f2, valid, shift), scored, rmse, ssim, target)


class Validator:
    """Scores a model on the validation pairs of every scene (see the module docstring)."""

    def __init__(self, stacks: list[SceneStack], splits: list[Split], device: torch.device):
        items = (
            _item(stack, ref, tgt, split, (i, tgt if split.mode == "dates" else None))
            for i, (stack, split) in enumerate(zip(stacks, splits, strict=True))
            for ref, tgt in split.val_pairs
        )
        self.items = [item for item in items if item is not None]
        self.device = device

    @property
    def active(self) -> bool:
        """True when there is anything to validate on."""
        return bool(self.items)

    @torch.no_grad()
    def score(self, model: torch.nn.Module) -> float | None:
        """RMSE / base RMSE - (SSIM - base SSIM) per pair, averaged per held-out target, the
        worst target per scene, averaged over scenes; None without validation pairs.

        A score per pair, not a pooled one: pooled, a few pairs with large changes (a flood)
        dominate, and a model that helps them while hurting every calm pair would look better.
        """
        if not self.items:
            return None
        was_training = model.training
        model.eval()
        scores = []
        for item in self.items:
            c1, f1, c2, f2, valid, shift = (
                torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in item.arrays
            )
            pred = fused(model, c1[None], f1[None], c2[None], shift[None], valid[None, None])[0]
            pred = pred.float().cpu().numpy()
            truth = item.arrays[3]
            rmse = _rmse(pred, truth, item.scored)
            ssim = _ssim(pred, truth, item.scored)
            scores.append(rmse / item.base_rmse - (ssim - item.base_ssim))
        model.train(was_training)
        return worst_target_score(scores, [item.target for item in self.items])


def worst_target_score(scores: list[float], targets: list[tuple[int, dt.date | None]]) -> float:
    """The mean over scenes of each scene's worst target, a target's score being the mean of
    its pairs' ``scores`` (see :meth:`Validator.score`)."""
    by_target: dict[tuple[int, dt.date | None], list[float]] = {}
    for score, target in zip(scores, targets, strict=True):
        by_target.setdefault(target, []).append(score)
    per_scene: dict[int, list[float]] = {}
    for (scene, _), values in by_target.items():
        per_scene.setdefault(scene, []).append(float(np.mean(values)))
    return float(np.mean([np.max(means) for means in per_scene.values()]))  # NaN stays NaN


START_STRENGTHS = (0.0, 0.25, 0.5, 0.75)
"""Besides the starting weights as given, a fit from weights validates them with their
correction scaled by these (0: the base alone), as the pair check does before a prediction."""


@dataclass
class StartingBest:
    """The best weights before any training step, and their scores."""

    weights: dict[str, torch.Tensor]
    score: float | None
    start_score: float | None
    """The starting weights' own score."""
    is_base: bool
    strength: float = 1.0
    """The strength the starting weights' correction is kept at (0: the base)."""


def scaled_state(model: torch.nn.Module, strength: float) -> dict[str, torch.Tensor] | None:
    """The weights of ``model`` with its correction scaled by ``strength`` (the last layer,
    ``head``, is linear: scaling its weight and bias scales the correction exactly); None when
    the model has no such base."""
    prefix = _head_prefix(model)
    if prefix is None:
        return None
    state = copy.deepcopy(model.state_dict())
    for key in (f"{prefix}.weight", f"{prefix}.bias"):
        if key in state:
            state[key].mul_(strength)
    return state


def starting_best(model: torch.nn.Module, validator: Validator, from_init: bool) -> StartingBest:
    """The best of the starting weights, their correction at :data:`START_STRENGTHS`, and the
    model's base.

    A fresh model starts exactly at its base, so the base is its best without a comparison;
    weights from ``--init`` must beat the base, and their own weaker versions, on validation
    (so a fit keeps at least what the pair check would have kept).
    """
    start_score = validator.score(model)
    best = StartingBest(copy.deepcopy(model.state_dict()), start_score, start_score, False)
    if not has_base(model):
        return best
    if not from_init:
        best.is_base, best.strength = True, 0.0
    elif validator.active:
        probe = copy.deepcopy(model)
        for strength in reversed(START_STRENGTHS):  # ties: the weaker
            state = scaled_state(model, strength)
            probe.load_state_dict(state)
            score = validator.score(probe)
            if score is not None and (best.score is None or score <= best.score):
                best.weights, best.score, best.strength = state, score, strength
                best.is_base = strength == 0.0
    return best
