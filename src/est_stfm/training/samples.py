"""Training samples: date pairs, the validation split, and random patches that never leak.

A sample is one ordered (reference date -> target date) pair of fine dates that both have a coarse
image, never a held-out date, and one random patch of the four images (C1, F1, C2 and the target
F2) plus the mask of pixels valid in all four, flipped and rotated at random.

Validation (per scene, :func:`split_scene`):

* ``dates``: the scene's latest training date becomes a validation *target*: it is never a
  training target nor a training reference; its fine image is predicted from the two nearest
  other dates, over the whole image, as a real target would be. Needs 3 or more training dates
  (2 stay for training).
* ``spatial``: a strip on the right (``validation_fraction`` of the width) of every training pair
  is kept out of the training patches and scored instead.
* ``none``: everything is trained on; the last weights are kept.

``auto`` picks dates, else spatial when both parts are at least :data:`MIN_VALIDATION_WIDTH`
pixels wide, else none. Patches are drawn by :class:`PatchDataset`: sample ``i`` of epoch ``e``
comes from its own random generator seeded with ``(seed, e, i)``, so a run is reproducible, a
resumed run draws exactly the samples the interrupted run would have drawn, and distributed
ranks split the indices of an epoch between them (``DistributedSampler``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_target
from est_stfm.scene import Scene

MIN_VALIDATION_WIDTH = 16
"""Narrowest strip (pixels) worth validating on, and narrowest training part left beside it."""

MIN_DATES_FOR_DATE_VALIDATION = 3
"""Date validation holds one date out, so 3 training dates (6 ordered pairs) remain."""

Pair = tuple[int, dt.date, dt.date]
"""``(scene index, reference date, target date)``."""


@dataclass
class SceneStack:
    """Reflectance of one scene's training dates, held in memory: fine, coarse, valid per date."""

    name: str
    dates: list[dt.date]
    fine: dict[dt.date, np.ndarray]
    coarse: dict[dt.date, np.ndarray]
    valid: dict[dt.date, np.ndarray]
    coarse_factor: float | None = None
    shift: dict[tuple[dt.date, dt.date], np.ndarray] = field(default_factory=dict)
    """Per pair: base prediction minus F1 + C2 - C1 (absent: the naive base itself)."""

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.fine[self.dates[0]].shape


@dataclass
class Split:
    """Which pairs and columns of one scene are trained on and which are validated on."""

    mode: str
    train_pairs: list[tuple[dt.date, dt.date]]
    train_width: int
    val_pairs: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    val_cols: slice = field(default_factory=lambda: slice(0, 0))
    val_date: dt.date | None = None


def training_dates(scene: Scene, holdout: list[dt.date], minimum: int = 2) -> list[dt.date]:
    """Dates with a fine and a coarse image that are not held out; at least ``minimum`` (two
    make a training pair; a fit from weights accepts one and keeps the weights untrained).

    Held-out dates the scene does not have are ignored (with several scenes, each has its own
    dates; :func:`~est_stfm.training.fit.fit` checks that every one is in some scene)."""
    dates = [d for d in scene.pairs_dates() if d not in holdout]
    if len(dates) < minimum:
        raise EstStfmError(
            f"fit needs at least {'two dates' if minimum > 1 else 'one date'} with both a fine "
            f"and a coarse image outside the held-out dates; {scene.path} has {len(dates)}: "
            "add fine/coarse pairs or hold out less"
        )
    return dates


def load_stack(scene: Scene, dates: list[dt.date]) -> SceneStack:
    """Read every fine and coarse image of ``dates`` into memory."""
    fine, coarse, valid = {}, {}, {}
    for d in dates:
        f, fv = scene.read_fine(d)
        c, cv = scene.read_coarse(d)
        fine[d], coarse[d], valid[d] = f, c, fv & cv
    return SceneStack(str(scene.path), list(dates), fine, coarse, valid, scene.coarse_factor)


def add_base_shift(stack: SceneStack, base: str, cache: Path | None = None, key: str = "") -> None:
    """Precompute, for every ordered pair, how far the classic method ``base`` (``starfm``,
    ``fsdaf``, ``fsdaf+consistency``, ...) lies from F1 + C2 - C1, so a model's correction is
    added to that method's prediction instead. Uses only the reference pair and the target's
    coarse image.

    ``cache``: a folder where each pair's shift is kept as ``.npy`` (named by a hash of ``key``,
    the base and the dates), so a resumed run does not compute them again (a classic base
    takes seconds per pair: minutes for a pretraining set).
    """
    if base == "change":
        return
    from est_stfm.methods.registry import classic_by_name

    method = classic_by_name(base, stack.coarse_factor)
    for ref, tgt in ordered_pairs(stack.dates):
        digest = hashlib.sha256(f"{key}|{base}|{ref}|{tgt}".encode()).hexdigest()[:24]
        path = None if cache is None else cache / f"{digest}.npy"
        if path is not None and path.is_file():
            stack.shift[(ref, tgt)] = np.load(path)
            continue
        c1, f1, c2 = stack.coarse[ref], stack.fine[ref], stack.coarse[tgt]
        pred = np.asarray(method.predict(c1, f1, c2), dtype=np.float32)
        stack.shift[(ref, tgt)] = np.nan_to_num(pred - (f1 + c2 - c1))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_target(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, stack.shift[(ref, tgt)])


def pair_shift(stack: SceneStack, ref: dt.date, tgt: dt.date, cols: slice = slice(None)):
    """The pair's base shift (zeros for the naive base), restricted to a column range."""
    shift = stack.shift.get((ref, tgt))
    if shift is None:
        _, h, w = stack.shape
        return np.zeros((stack.shape[0], h, len(range(w)[cols])), dtype=np.float32)
    return shift[..., cols]


def ordered_pairs(dates: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Every ordered (reference, target) pair of distinct dates."""
    return list(itertools.permutations(dates, 2))


def split_scene(stack: SceneStack, mode: str, fraction: float) -> Split:
    """The validation split of one scene (see the module docstring)."""
    _, _, w = stack.shape
    dates = stack.dates
    if mode in ("auto", "dates") and len(dates) >= MIN_DATES_FOR_DATE_VALIDATION:
        val_date, train = dates[-1], dates[:-1]
        refs = sorted(train, key=lambda d: abs((d - val_date).days))[:2]
        return Split(
            "dates", ordered_pairs(train), w, [(r, val_date) for r in refs], slice(0, w), val_date
        )
    if mode == "dates":
        raise EstStfmError(
            f"validation 'dates' needs {MIN_DATES_FOR_DATE_VALIDATION} or more training dates; "
            f"{stack.name} has {len(dates)}: use validation 'spatial' or 'auto'"
        )
    val_w = int(round(w * fraction))
    if (
        mode in ("auto", "spatial")
        and val_w >= MIN_VALIDATION_WIDTH
        and w - val_w >= MIN_VALIDATION_WIDTH
    ):
        pairs = ordered_pairs(dates)
        return Split("spatial", pairs, w - val_w, pairs, slice(w - val_w, w))
    if mode == "spatial":
        raise EstStfmError(
            f"{stack.name} is {w} px wide: too narrow for a validation strip of "
            f"{MIN_VALIDATION_WIDTH} px beside a training part; use validation 'none' or 'auto'"
        )
    return Split("none", ordered_pairs(dates), w)


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


class PatchDataset(torch.utils.data.Dataset):
    """Random training patches from the training pairs and columns of several scenes.

    Item ``i`` is a pair drawn uniformly from all scenes' training pairs, a random
    ``patch_size`` square inside that scene's training columns (zero-padded, and marked invalid,
    where the scene is smaller), a random quarter turn and flip; returned as float32 arrays
    ``(C1, F1, C2, F2, valid, shift, coarse_factor)`` with valid shaped ``(1, p, p)``, shift
    the pair's base shift (:func:`add_base_shift`) and the scene's coarse factor a scalar (0
    when unknown). ``bands_per_sample`` (band-agnostic models): every patch takes that many of its
    scene's bands, drawn at random (repeated when the scene has fewer), so scenes with different
    band counts share a batch.
    """

    def __init__(
        self,
        stacks: list[SceneStack],
        splits: list[Split],
        patch_size: int,
        length: int,
        seed: int,
        bands_per_sample: int | None = None,
    ) -> None:
        self.stacks, self.splits = stacks, splits
        self.pairs: list[Pair] = [
            (s, ref, tgt) for s, split in enumerate(splits) for ref, tgt in split.train_pairs
        ]
        self.patch, self.length, self.seed = patch_size, length, seed
        self.bands_per_sample = bands_per_sample
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the samples of ``epoch`` (each epoch has its own)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        s, ref, tgt = self.pairs[int(rng.integers(len(self.pairs)))]
        stack, split = self.stacks[s], self.splits[s]
        _, h, _ = stack.shape
        ph, pw = min(self.patch, h), min(self.patch, split.train_width)
        y = int(rng.integers(0, h - ph + 1))
        x = int(rng.integers(0, split.train_width - pw + 1))
        cols = slice(x, x + pw)
        arrays = [
            a[..., y : y + ph, :]
            for a in (*pair_arrays(stack, ref, tgt, cols), pair_shift(stack, ref, tgt, cols))
        ]
        arrays[4] = arrays[4][None]
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        if self.bands_per_sample:
            pick = band_choice(rng, stack.shape[0], self.bands_per_sample)
            arrays = [a if i == 4 else a[pick] for i, a in enumerate(arrays)]
        out = []
        for a in arrays:
            full = np.zeros((a.shape[0], self.patch, self.patch), dtype=np.float32)
            full[:, :ph, :pw] = a
            full = np.rot90(full, k, axes=(-2, -1))
            out.append(np.ascontiguousarray(full[..., ::-1] if flip else full))
        return (*out, np.float32(stack.coarse_factor or 0.0))


def band_choice(rng: np.random.Generator, bands: int, wanted: int) -> np.ndarray:
    """``wanted`` band indices of ``bands``: distinct when there are enough, else every band once
    and the rest drawn again, in random order."""
    order = rng.permutation(bands)
    if bands >= wanted:
        return order[:wanted]
    return rng.permutation(np.concatenate([order, rng.integers(0, bands, wanted - bands)]))


def steps_per_epoch(splits: list[Split], stacks: list[SceneStack], patch: int, batch: int) -> int:
    """Optimiser steps (of ``batch`` patches in all) to cover every training pair's area once."""
    area = sum(
        len(split.train_pairs) * stack.shape[1] * split.train_width
        for stack, split in zip(stacks, splits, strict=True)
    )
    return max(1, round(area / (patch * patch * batch)))
