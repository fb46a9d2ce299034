"""The per-level checks every pyramid config (EST-STFM, SwinSTFM) makes of its widths and heads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def _names(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def check_levels(
    dims: Sequence[int],
    heads: Sequence[int],
    depths: Mapping[str, int | Sequence[int]],
    resize: str,
    even: bool = False,
) -> None:
    """Raise ``ValueError`` unless ``dims`` and ``heads`` describe a valid pyramid.

    ``depths`` names the block counts (per level, or one number): per-level ones must have one
    entry per level, and all must be >= 0. Each width must split evenly into its heads and
    double from level to level (``resize`` names what doubles it, for the message); ``even``
    also asks every width but the last to be even, for a resize that halves the pixels.
    """
    n = len(dims)
    if n == 0:
        raise ValueError("dims must name at least one level")
    per_level = {k: v for k, v in depths.items() if not isinstance(v, int)}
    if any(len(v) != n for v in (heads, *per_level.values())):
        names = _names(["dims", "heads", *per_level])
        lengths = _names([str(n), str(len(heads)), *(str(len(v)) for v in per_level.values())])
        raise ValueError(f"{names} must have equal lengths, got {lengths}")
    if any(d < 1 for d in dims) or any(h < 1 for h in heads):
        raise ValueError("dims and heads must be positive")
    counts = [c for v in depths.values() for c in ((v,) if isinstance(v, int) else v)]
    if any(c < 0 for c in counts):
        raise ValueError(f"{_names(list(depths))} must be >= 0")
    for lvl, (d, h) in enumerate(zip(dims, heads, strict=True)):
        if d % h:
            raise ValueError(f"dims[{lvl}]={d} is not divisible by heads[{lvl}]={h}")
    for lvl in range(n - 1):
        if dims[lvl + 1] != 2 * dims[lvl]:
            raise ValueError(
                f"dims[{lvl + 1}] must be 2 * dims[{lvl}] ({resize} doubles channels), "
                f"got {dims[lvl + 1]} after {dims[lvl]}"
            )
        if even and dims[lvl] % 2:
            raise ValueError(f"dims[{lvl}]={dims[lvl]} must be even to be downsampled")


def check_tsn(topk_ratios: Sequence[float], ffn_expansion: float) -> None:
    """Raise ``ValueError`` unless the TSN blocks' Top-K ratios and MFNN expansion are valid."""
    if not topk_ratios:
        raise ValueError("topk_ratios must hold at least one ratio")
    if any(not 0 < r <= 1 for r in topk_ratios):
        raise ValueError(f"topk_ratios must lie in (0, 1], got {tuple(topk_ratios)}")
    if ffn_expansion <= 0:
        raise ValueError(f"ffn_expansion must be > 0, got {ffn_expansion}")
