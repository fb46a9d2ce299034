"""Training samples: date pairs, the validation split, and random patches that never leak.

A sample is one ordered (reference date -> target date) pair of fine dates that both have a coarse
image, never a held-out date, and one random patch of the four images (C1, F1, C2 and the target
F2) plus the mask of pixels valid in all four, flipped and rotated at random. A large scene's
images stay on disk and each patch's window is read from the files (:func:`load_stack`); base
shifts are then kept in mapped ``.npy`` files.

Validation (per scene, :func:`split_scene`):

* ``dates``: the scene's latest training date becomes a validation *target*, and with
  :data:`MIN_DATES_FOR_BOTH_ENDS` or more training dates its earliest one too (a real target
  can lie before the dates a user has as well as after them): a validation target is never a
  training target nor a training reference; its fine image is predicted from the two nearest
  training dates as a real target would be, over the central window of at most
  :data:`VALIDATION_WINDOW` pixels a side (the whole image of smaller scenes). Needs 3 or more
  training dates (2 stay for training).
* ``spatial``: blocks spread over the image in both directions (``validation_fraction`` of the
  central window of at most :data:`VALIDATION_WINDOW` pixels, :data:`VALIDATION_BLOCKS` blocks a
  side, every ``1 / fraction``-th block on a skewed diagonal) are validated on, in both
  directions of every pair; their target pixels never enter a training loss (the inputs around
  and inside them, which a real prediction has too, may). Needs sides of at least
  :data:`MIN_SPATIAL_SIDE` pixels.
* ``none``: everything is trained on; the last weights are kept.

``auto`` picks dates, else spatial when the scene is large enough, else none. Patches are
drawn by :class:`PatchDataset`: sample ``i`` of epoch ``e`` comes from its own random generator
seeded with ``(seed, e, i)``, so a run is reproducible, a resumed run draws exactly the samples
the interrupted run would have drawn, and distributed ranks split the indices of an epoch
between them (``DistributedSampler``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from rasterio.windows import Window as RasterWindow

from est_stfm.errors import EstStfmError
from est_stfm.scene import Scene

MIN_VALIDATION_WIDTH = 16
"""Smallest side (pixels) of a validation block."""

MIN_SPATIAL_SIDE = 96
"""Smallest scene side (pixels) for spatial validation: six blocks of the smallest size."""

VALIDATION_BLOCKS = 8
"""Spatial validation cuts its window into about this many blocks a side."""

VALIDATION_WINDOW = 1024
"""Largest side (pixels) of the central window spatial validation predicts each epoch."""

MIN_DATES_FOR_DATE_VALIDATION = 3
"""Date validation holds the latest date out: 3 training dates leave 2 to train on."""

MIN_DATES_FOR_BOTH_ENDS = 5
"""From this many training dates on, date validation also holds the earliest one out (3 or more
stay to train on). One held-out date says little about another season: on protocol v3's iFSDAF
NDVI (16-day composites, 5 training dates per target), fits that beat the start on the latest
training date (December) by more than the margin ended 7-23 % worse on summer targets."""

Pair = tuple[int, dt.date, dt.date]
"""``(scene index, reference date, target date)``."""


@dataclass
class SceneStack:
    """Reflectance of one scene's training dates: fine, coarse and valid per date, held in
    memory, or read window by window from the scene's files (``scene`` set: see
    :func:`load_stack`). Read them through :meth:`images`."""

    name: str
    dates: list[dt.date]
    fine: dict[dt.date, np.ndarray]
    coarse: dict[dt.date, np.ndarray]
    valid: dict[dt.date, np.ndarray]
    coarse_factor: float | None = None
    shift: dict[tuple[dt.date, dt.date], np.ndarray] = field(default_factory=dict)
    """Per pair: base prediction minus F1 + C2 - C1 (absent: the naive base itself)."""
    scene: Scene | None = None
    """Set when the images are not in memory: each window is read from this scene's files."""

    @property
    def shape(self) -> tuple[int, int, int]:
        if self.scene is not None:
            return (self.scene.bands, *self.scene.shape)
        return self.fine[self.dates[0]].shape

    def images(
        self, day: dt.date, window: Window | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fine, coarse, valid)`` of ``day`` inside ``window`` (None: the whole scene)."""
        ys, xs = window or WHOLE
        if self.scene is None:
            return self.fine[day][:, ys, xs], self.coarse[day][:, ys, xs], self.valid[day][ys, xs]
        _, h, w = self.shape
        (y0, y1, _), (x0, x1, _) = ys.indices(h), xs.indices(w)
        box = RasterWindow(x0, y0, x1 - x0, y1 - y0)
        fine, fine_valid = self.scene.read_fine(day, box)
        coarse, coarse_valid = self.scene.read_coarse(day, box)
        return fine, coarse, fine_valid & coarse_valid


Window = tuple[slice, slice]
"""Rows and columns of a scene."""

WHOLE: Window = (slice(None), slice(None))


@dataclass
class Split:
    """Which pairs and pixels of one scene are trained on and which are validated on."""

    mode: str
    train_pairs: list[tuple[dt.date, dt.date]]
    val_pairs: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    val_window: Window = WHOLE
    """The part of the scene a validation pair predicts."""
    val_mask: np.ndarray | None = None
    """Spatial: the held-out pixels (scene-sized); never a training target. None: every pixel
    of the window is validated on."""
    val_dates: list[dt.date] = field(default_factory=list)
    """Date validation's held-out targets (never trained on); empty for the other modes."""


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


STACK_MEMORY = 1 << 30
"""Default bytes of float32 fine and coarse images above which :func:`load_stack` leaves a
scene's images on disk (``FitConfig.stack_memory_mib``; 1 GiB: a 1000 x 1000 x 6 scene of 20
dates stays in memory, a CIA series of 17 dates of 2040 x 1720 x 6 does not)."""


def load_stack(scene: Scene, dates: list[dt.date], max_bytes: int = STACK_MEMORY) -> SceneStack:
    """Every fine and coarse image of ``dates``: read into memory when together they take at
    most ``max_bytes`` as float32, else left on disk (``SceneStack.scene``: each window is read
    when it is needed, so memory does not grow with the scene or the number of dates)."""
    h, w = scene.shape
    if 2 * len(dates) * scene.bands * h * w * 4 > max_bytes:
        return SceneStack(
            str(scene.path), list(dates), {}, {}, {}, scene.coarse_factor, scene=scene
        )
    fine, coarse, valid = {}, {}, {}
    for d in dates:
        f, fv = scene.read_fine(d)
        c, cv = scene.read_coarse(d)
        fine[d], coarse[d], valid[d] = f, c, fv & cv
    return SceneStack(str(scene.path), list(dates), fine, coarse, valid, scene.coarse_factor)


def pair_shift(stack: SceneStack, ref: dt.date, tgt: dt.date, window: Window = WHOLE):
    """The pair's base shift (zeros for the naive base) inside a window."""
    shift = stack.shift.get((ref, tgt))
    if shift is None:
        bands, h, w = stack.shape
        rows, cols = window[0].indices(h), window[1].indices(w)
        return np.zeros((bands, rows[1] - rows[0], cols[1] - cols[0]), dtype=np.float32)
    return np.asarray(shift[:, window[0], window[1]], dtype=np.float32)


def ordered_pairs(
    dates: list[dt.date], references: int | None = None
) -> list[tuple[dt.date, dt.date]]:
    """Ordered (reference, target) pairs of distinct dates: every one, or with ``references``
    each target paired with only that many references, the dates nearest it (ties: the
    earlier), as a prediction uses its nearest pairs; in the order of all pairs either way (so
    a limit of ``len(dates) - 1`` or more changes nothing). The limit keeps a long series
    linear: 17 dates make 272 pairs, 51 with 3 references."""
    pairs = list(itertools.permutations(dates, 2))
    if references is None or references >= len(dates) - 1:
        return pairs
    nearest = {
        t: set(
            sorted((d for d in dates if d != t), key=lambda d: (abs((d - t).days), d))[:references]
        )
        for t in dates
    }
    return [(r, t) for r, t in pairs if r in nearest[t]]


def central_window(height: int, width: int) -> Window:
    """The central window of at most :data:`VALIDATION_WINDOW` pixels a side that validation
    predicts (bounds its time and memory on large scenes)."""
    wh, ww = min(height, VALIDATION_WINDOW), min(width, VALIDATION_WINDOW)
    y0, x0 = (height - wh) // 2, (width - ww) // 2
    return slice(y0, y0 + wh), slice(x0, x0 + ww)


def held_out_blocks(height: int, width: int, fraction: float) -> tuple[Window, np.ndarray]:
    """Spatial validation's window and held-out mask (see the module docstring)."""
    window = central_window(height, width)
    y0, x0 = window[0].start, window[1].start
    wh, ww = window[0].stop - y0, window[1].stop - x0
    side = max(MIN_VALIDATION_WIDTH, round(min(wh, ww) / VALIDATION_BLOCKS))
    period = max(2, round(1 / fraction))
    mask = np.zeros((height, width), dtype=bool)
    for i in range(math.ceil(wh / side)):
        for j in range(math.ceil(ww / side)):
            if (3 * i + j) % period == 0:
                ys = slice(y0 + i * side, y0 + min(wh, (i + 1) * side))
                mask[ys, x0 + j * side : x0 + min(ww, (j + 1) * side)] = True
    return window, mask


def split_scene(
    stack: SceneStack, mode: str, fraction: float, references: int | None = None
) -> Split:
    """The validation split of one scene (see the module docstring); ``references`` limits
    each target's references as in :func:`ordered_pairs`."""
    _, h, w = stack.shape
    dates = stack.dates
    if mode in ("auto", "dates") and len(dates) >= MIN_DATES_FOR_DATE_VALIDATION:
        held = [dates[0], dates[-1]] if len(dates) >= MIN_DATES_FOR_BOTH_ENDS else [dates[-1]]
        train = [d for d in dates if d not in held]
        pairs = [
            (r, day) for day in held for r in sorted(train, key=lambda d: abs((d - day).days))[:2]
        ]
        window = central_window(h, w)
        return Split("dates", ordered_pairs(train, references), pairs, window, val_dates=held)
    if mode == "dates":
        raise EstStfmError(
            f"validation 'dates' needs {MIN_DATES_FOR_DATE_VALIDATION} or more training dates; "
            f"{stack.name} has {len(dates)}: use validation 'spatial' or 'auto'"
        )
    if mode in ("auto", "spatial") and min(h, w) >= MIN_SPATIAL_SIDE and fraction > 0:
        pairs = ordered_pairs(dates, references)
        window, mask = held_out_blocks(h, w, fraction)
        return Split("spatial", pairs, pairs, window, mask)
    if mode == "spatial":
        raise EstStfmError(
            f"{stack.name} is {h} x {w} px: spatial validation needs sides of at least "
            f"{MIN_SPATIAL_SIDE} px and a validation_fraction above 0; use validation 'none' "
            "or 'auto'"
        )
    return Split("none", ordered_pairs(dates, references))


def pair_arrays(
    stack: SceneStack, ref: dt.date, tgt: dt.date, window: Window = WHOLE
) -> tuple[np.ndarray, ...]:
    """(C1, F1, C2, F2, valid) of a pair inside a window."""
    f1, c1, v1 = stack.images(ref, window)
    f2, c2, v2 = stack.images(tgt, window)
    return c1, f1, c2, f2, v1 & v2


class PatchDataset(torch.utils.data.Dataset):
    """Random training patches from the training pairs and columns of several scenes.

    Item ``i`` is a pair drawn uniformly from all scenes' training pairs, a random
    ``patch_size`` square of that scene (spatial validation's blocks marked invalid;
    zero-padded, and marked invalid, where the scene is smaller), a random quarter turn and
    flip; returned as float32 arrays ``(C1, F1, C2, F2, valid, shift, coarse_factor)`` with
    valid shaped ``(1, p, p)``, shift the pair's base shift (see
    :mod:`~est_stfm.training.shifts`) and the scene's coarse factor a scalar (0 when unknown).
    ``bands_per_sample`` (band-agnostic models): every patch takes that many of its scene's
    bands, drawn at random (repeated when the scene has fewer), so scenes with different band
    counts share a batch.
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
        _, h, w = stack.shape
        ph, pw = min(self.patch, h), min(self.patch, w)
        y, x = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
        window = (slice(y, y + ph), slice(x, x + pw))
        arrays = [*pair_arrays(stack, ref, tgt, window), pair_shift(stack, ref, tgt, window)]
        if split.val_mask is not None:  # held-out target pixels are never a training target
            arrays[4] = arrays[4] & ~split.val_mask[window]
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
        len(split.train_pairs) * stack.shape[1] * stack.shape[2]
        for stack, split in zip(stacks, splits, strict=True)
    )
    return max(1, round(area / (patch * patch * batch)))
