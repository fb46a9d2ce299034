"""Training samples: ordered date pairs, random patches, flips and rotations, valid masks.

A sample is one (reference date -> target date) pair of fine dates that both have a coarse image,
never a held-out date, and one random patch of the four images (C1, F1, C2 and the target F2)
plus the mask of pixels valid in all four. The scene's columns are split into a training part and
a validation strip on the right (a spatial hold-out), so validation never sees a training pixel.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np
import torch

from est_stfm.data import Scene
from est_stfm.errors import EstStfmError


@dataclass
class SceneStack:
    """Reflectance of the training dates, held in memory: fine, coarse and valid per date."""

    dates: list[dt.date]
    fine: dict[dt.date, np.ndarray]
    coarse: dict[dt.date, np.ndarray]
    valid: dict[dt.date, np.ndarray]

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.fine[self.dates[0]].shape


def training_dates(scene: Scene, holdout: list[dt.date]) -> list[dt.date]:
    """Dates with a fine and a coarse image that are not held out; at least two are needed."""
    unknown = [d for d in holdout if d not in scene.fine and d not in scene.coarse]
    if unknown:
        raise EstStfmError(f"held-out date {unknown[0]} is not in the scene {scene.path}")
    dates = [d for d in scene.pairs_dates() if d not in holdout]
    if len(dates) < 2:
        raise EstStfmError(
            f"fit needs at least two dates with both a fine and a coarse image outside the "
            f"held-out dates; {scene.path} has {len(dates)}: add fine/coarse pairs or hold out less"
        )
    return dates


def load_stack(scene: Scene, dates: list[dt.date]) -> SceneStack:
    """Read every fine and coarse image of ``dates`` into memory."""
    fine, coarse, valid = {}, {}, {}
    for d in dates:
        f, fv = scene.read_fine(d)
        c, cv = scene.read_coarse(d)
        fine[d], coarse[d], valid[d] = f, c, fv & cv
    return SceneStack(list(dates), fine, coarse, valid)


def ordered_pairs(dates: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Every ordered (reference, target) pair of distinct dates."""
    return [(r, t) for r, t in itertools.permutations(dates, 2)]


def pair_arrays(
    stack: SceneStack, ref: dt.date, tgt: dt.date, cols: slice = slice(None)
) -> tuple[np.ndarray, ...]:
    """(C1, F1, C2, F2, valid) of a pair, restricted to a column range."""
    valid = stack.valid[ref] & stack.valid[tgt]
    return (
        stack.coarse[ref][..., cols],
        stack.fine[ref][..., cols],
        stack.coarse[tgt][..., cols],
        stack.fine[tgt][..., cols],
        valid[:, cols],
    )


class PatchSampler:
    """Random training batches from the training columns ``[0, train_width)`` of a stack."""

    def __init__(
        self,
        stack: SceneStack,
        pairs: list[tuple[dt.date, dt.date]],
        patch_size: int,
        batch_size: int,
        train_width: int,
        seed: int,
    ) -> None:
        _, h, _ = stack.shape
        self.stack, self.pairs = stack, pairs
        self.ph, self.pw = min(patch_size, h), min(patch_size, train_width)
        self.batch_size, self.train_width = batch_size, train_width
        self.rng = np.random.default_rng(seed)

    def sample(self) -> tuple[torch.Tensor, ...]:
        """One batch: (C1, F1, C2, F2, valid) tensors, valid shaped (B, 1, p, p)."""
        _, h, _ = self.stack.shape
        items = []
        for _ in range(self.batch_size):
            ref, tgt = self.pairs[self.rng.integers(len(self.pairs))]
            y = int(self.rng.integers(0, h - self.ph + 1))
            x = int(self.rng.integers(0, self.train_width - self.pw + 1))
            arrays = pair_arrays(self.stack, ref, tgt, slice(x, x + self.pw))
            arrays = [a[..., y : y + self.ph, :] for a in arrays]
            arrays[-1] = arrays[-1][None].astype(np.float32)
            # quarter turns only for square patches (a rectangle would change shape)
            k = int(self.rng.integers(4)) if self.ph == self.pw else 2 * int(self.rng.integers(2))
            flip = bool(self.rng.integers(2))
            out = []
            for a in arrays:
                a = np.rot90(a, k, axes=(-2, -1))
                out.append(np.ascontiguousarray(a[..., ::-1] if flip else a))
            items.append(out)
        return tuple(torch.from_numpy(np.stack(group)) for group in zip(*items, strict=True))
