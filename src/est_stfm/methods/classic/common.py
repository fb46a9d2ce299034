"""Helpers shared by the classic methods: input checks and moving-window sums by array shifts."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from est_stfm.errors import EstStfmError


def as_image(name: str, array: np.ndarray) -> np.ndarray:
    """``array`` as a C-contiguous float32 ``(bands, H, W)`` image; an error for anything else."""
    image = np.asarray(array)
    if image.ndim != 3:
        raise EstStfmError(
            f"{name} must be a (bands, height, width) array, got shape {image.shape}: "
            "add a band axis to single-band images"
        )
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise EstStfmError(f"{name} must hold real numbers, got dtype {image.dtype}")
    image = np.ascontiguousarray(image, dtype=np.float32)
    if not np.isfinite(image).all():
        raise EstStfmError(
            f"{name} holds NaN or infinite values: fill them (or mark them invalid) first"
        )
    return image


def check_same_shape(images: dict[str, np.ndarray]) -> tuple[int, int, int]:
    """The common shape of ``images``; an error naming the first one that differs."""
    items = list(images.items())
    first_name, first = items[0]
    for name, image in items[1:]:
        if image.shape != first.shape:
            raise EstStfmError(
                f"{name} is shaped {image.shape} but {first_name} is {first.shape}: resample "
                "every image onto the fine grid first"
            )
    return first.shape  # type: ignore[return-value]


def as_mask(name: str, mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """A ``(H, W)`` bool validity mask (all True when ``mask`` is None)."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    out = np.asarray(mask)
    if out.shape != shape:
        raise EstStfmError(f"{name} is shaped {out.shape}, expected {shape}: one flag per pixel")
    return out.astype(bool, copy=False)


def check_factor(method: str, factor: float) -> float:
    """The coarse pixel size in fine pixels as a float >= 1; ``method`` names it in the error."""
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.integer, np.floating)):
        raise EstStfmError(
            f"{method} factor must be a number (coarse pixel size in fine pixels), got {factor!r}"
        )
    if not math.isfinite(factor) or factor < 1:
        raise EstStfmError(
            f"{method} factor must be >= 1 (coarse pixel size in fine pixels), got {factor!r}"
        )
    return float(factor)


def check_pairs(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    c2: np.ndarray,
    valid: Sequence[np.ndarray | None] | None,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Checked float32 ``(coarse refs, fine refs, target)`` of the same shape and one bool mask
    per pair (all True where ``valid`` is None); a one-line error for anything else."""
    target = as_image("c2", c2)
    images: dict[str, np.ndarray] = {"c2": target}
    for k, pair in enumerate(pairs):
        if len(pair) != 2:
            raise EstStfmError(f"pair {k} must be (c_ref, f_ref), got {len(pair)} items")
        images[f"c_ref of pair {k}"] = as_image(f"c_ref of pair {k}", pair[0])
        images[f"f_ref of pair {k}"] = as_image(f"f_ref of pair {k}", pair[1])
    _, h, w = check_same_shape(images)
    n = len(pairs)
    if valid is not None and len(valid) != n:
        raise EstStfmError(f"give one valid mask per pair: {len(valid)} for {n} pairs")
    masks = [
        as_mask(f"valid mask of pair {k}", None if valid is None else valid[k], (h, w))
        for k in range(n)
    ]
    coarse = [images[f"c_ref of pair {k}"] for k in range(n)]
    fine = [images[f"f_ref of pair {k}"] for k in range(n)]
    return coarse, fine, target, masks


def check_window(window: int) -> int:
    """A moving-window size: an odd integer >= 1."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise EstStfmError(f"window must be an odd integer, got {window!r}")
    if window < 1 or window % 2 == 0:
        raise EstStfmError(f"window must be an odd integer >= 1, got {window}: e.g. 31")
    return int(window)


def pad(array: np.ndarray, radius: int, value: float = 0.0) -> np.ndarray:
    """``array`` padded by ``radius`` on both sides of its last two axes with ``value``."""
    widths = [(0, 0)] * (array.ndim - 2) + [(radius, radius), (radius, radius)]
    return np.pad(array, widths, mode="constant", constant_values=value)


def offsets(radius: int) -> Iterator[tuple[int, int, float]]:
    """Every ``(dy, dx, d)`` of a square window of half-size ``radius``: the offset of a
    neighbour from the centre and its Euclidean distance in pixels."""
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            yield dy, dx, float(np.hypot(dy, dx))


def shifted(padded: np.ndarray, radius: int, dy: int, dx: int, shape: tuple[int, int]):
    """The view of a padded array whose pixel ``(i, j)`` is the original pixel
    ``(i + dy, j + dx)`` (the pad value outside the image)."""
    h, w = shape
    return padded[..., radius + dy : radius + dy + h, radius + dx : radius + dx + w]
