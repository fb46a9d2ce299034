"""Validation: the score that picks the weights a fit keeps, and the candidates before training.

The score is the mean over validation pairs of RMSE / RMSE of the naive F1 + C2 - C1 (1.0 = as
good as naive). Before the first epoch the candidates are the starting weights and, for a model
whose output is a zero-initialised correction, its base itself, so a fit never ends worse on
validation than that base.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import torch

from est_stfm.models.apply import band_agnostic, fused
from est_stfm.training.samples import SceneStack, Split, pair_arrays, pair_shift


def base_state(model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """The weights that make ``model`` output exactly its base (its ``head`` zeroed), or None
    when the model has no such base."""
    head = getattr(model, "head", None)
    config = getattr(model, "config", None)
    corrects = band_agnostic(model) or getattr(config, "residual", None) == "change"
    if not corrects or not isinstance(head, torch.nn.Conv2d):
        return None
    state = copy.deepcopy(model.state_dict())
    prefix = next(name for name, module in model.named_modules() if module is head)
    for key in (f"{prefix}.weight", f"{prefix}.bias"):
        if key in state:
            state[key].zero_()
    return state


def _naive_rmse(stack: SceneStack, ref: dt.date, tgt: dt.date, cols: slice) -> float:
    c1, f1, c2, f2, valid = pair_arrays(stack, ref, tgt, cols)
    err = (f1 + c2 - c1 - f2)[:, valid].astype(np.float64)
    return math.sqrt(float((err**2).mean())) if err.size else math.nan


class Validator:
    """Scores a model on the validation pairs of every scene (RMSE ratio to naive-change)."""

    def __init__(self, stacks: list[SceneStack], splits: list[Split], device: torch.device):
        self.items = [
            (stack, ref, tgt, split.val_cols)
            for stack, split in zip(stacks, splits, strict=True)
            for ref, tgt in split.val_pairs
        ]
        self.device = device
        self.naive = np.array([_naive_rmse(*item) for item in self.items])

    @property
    def active(self) -> bool:
        """True when there is anything to validate on."""
        return bool(self.items)

    @torch.no_grad()
    def score(self, model: torch.nn.Module) -> float | None:
        """Mean over pairs of RMSE / naive-change RMSE; None without validation pairs.

        A ratio per pair, not a pooled RMSE: pooled, a few pairs with large changes (a flood)
        dominate, and a model that helps them while hurting every calm pair would look better.
        """
        if not self.items:
            return None
        was_training = model.training
        model.eval()
        ratios = []
        for (stack, ref, tgt, cols), naive in zip(self.items, self.naive, strict=True):
            arrays = (*pair_arrays(stack, ref, tgt, cols), pair_shift(stack, ref, tgt, cols))
            c1, f1, c2, f2, valid, shift = (
                torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in arrays
            )
            pred = fused(model, c1[None], f1[None], c2[None], shift[None], valid[None, None])[0]
            err = ((pred - f2) ** 2)[:, valid]
            if err.numel() and math.isfinite(naive) and naive > 0:
                ratios.append(math.sqrt(float(err.mean())) / naive)
        model.train(was_training)
        return float(np.mean(ratios)) if ratios else None


@dataclass
class StartingBest:
    """The best weights before any training step, and their scores."""

    weights: dict[str, torch.Tensor]
    score: float | None
    start_score: float | None
    """The starting weights' own score."""
    is_base: bool


def starting_best(model: torch.nn.Module, validator: Validator, from_init: bool) -> StartingBest:
    """The better of the starting weights and the model's base.

    A fresh model starts exactly at its base, so the base is its best without a comparison;
    weights from ``--init`` must beat the base on validation to stay the best.
    """
    start_score = validator.score(model)
    best = StartingBest(copy.deepcopy(model.state_dict()), start_score, start_score, False)
    base = base_state(model)
    if base is None:
        return best
    if not from_init:
        best.is_base = True
    elif validator.active:
        probe = copy.deepcopy(model)
        probe.load_state_dict(base)
        base_score = validator.score(probe)
        if base_score is not None and (best.score is None or base_score < best.score):
            best.weights, best.score, best.is_base = base, base_score, True
    return best
