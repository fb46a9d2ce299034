"""Classic fusion methods: no training, the same ``predict(c1, f1, c2)`` interface as models.

* ``naive-copy``, ``naive-change``: the baselines (:mod:`est_stfm.methods.classic.naive`);
* ``starfm``: STARFM, Gao et al. 2006 (:mod:`est_stfm.methods.classic.starfm`), one or two pairs;
* ``fsdaf``: FSDAF, Zhu et al. 2016 (:mod:`est_stfm.methods.classic.fsdaf`), needs the coarse pixel
  size in fine pixels (a scene's ``coarse_factor``);
* ``starfm-fast``, ``fsdaf-fast``: the earlier approximations of both (``variant="fast"``), kept
  for comparison; ``starfm`` and ``fsdaf`` follow the authors' reference code;
* ``estarfm``: ESTARFM, Zhu et al. 2010 (:mod:`est_stfm.methods.classic.estarfm`), needs two
  pairs (one before, one after the date);
* ``fit-fc``: Fit-FC, Wang & Atkinson 2018 (:mod:`est_stfm.methods.classic.fitfc`), needs the
  coarse pixel size in fine pixels;
* ``blend``: a per-pixel weighting of the others by their agreement with the coarse target
  (:mod:`est_stfm.methods.classic.blend`), needs the coarse pixel size in fine pixels.

:data:`CLASSIC_METHODS` maps each name to a factory taking the keyword ``coarse_factor``
(``float | None``); :func:`classic_method` builds one with a clear error when context is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from est_stfm.errors import EstStfmError
from est_stfm.methods.classic.blend import Blend
from est_stfm.methods.classic.estarfm import Estarfm
from est_stfm.methods.classic.fitfc import FitFc
from est_stfm.methods.classic.fsdaf import Fsdaf
from est_stfm.methods.classic.naive import NAIVE_METHODS, AddCoarseChange, CopyReference
from est_stfm.methods.classic.starfm import Starfm


def _fitfc(coarse_factor: float | None = None) -> FitFc:
    if coarse_factor is None:
        raise EstStfmError(
            "Fit-FC needs the coarse pixel size: add `coarse_factor: N` (coarse pixel size in "
            "fine pixels, e.g. 16 for 480 m / 30 m) to the scene file"
        )
    return FitFc(factor=coarse_factor)


def _blend(coarse_factor: float | None = None) -> Blend:
    if coarse_factor is None:
        raise EstStfmError(
            "blend needs the coarse pixel size: add `coarse_factor: N` (coarse pixel size in "
            "fine pixels, e.g. 16 for 480 m / 30 m) to the scene file"
        )
    return Blend(factor=coarse_factor)


def _fsdaf(coarse_factor: float | None = None, variant: str = "faithful") -> Fsdaf:
    if coarse_factor is None:
        raise EstStfmError(
            "FSDAF needs the coarse pixel size: add `coarse_factor: N` (coarse pixel size in "
            "fine pixels, e.g. 16 for 480 m / 30 m) to the scene file"
        )
    return Fsdaf(factor=coarse_factor, variant=variant)


CLASSIC_METHODS: dict[str, Callable[..., Any]] = {
    "naive-copy": lambda coarse_factor=None: NAIVE_METHODS["naive-copy"],
    "naive-change": lambda coarse_factor=None: NAIVE_METHODS["naive-change"],
    "starfm": lambda coarse_factor=None: Starfm(),
    "fsdaf": _fsdaf,
    "fit-fc": _fitfc,
    "estarfm": lambda coarse_factor=None: Estarfm(),
    "starfm-fast": lambda coarse_factor=None: Starfm(variant="fast"),
    "fsdaf-fast": lambda coarse_factor=None: _fsdaf(coarse_factor, variant="fast"),
    "blend": _blend,
}
"""Name -> factory ``(coarse_factor=None) -> method`` of every classic method."""

TWO_PAIR_METHODS = frozenset({"estarfm"})
"""Classic methods that need two reference pairs (one before and one after the target)."""


def classic_method(name: str, coarse_factor: float | None = None) -> Any:
    """The classic method ``name`` with its defaults; ``coarse_factor`` is the scene's coarse
    pixel size in fine pixels (needed by ``fsdaf`` and ``fit-fc``)."""
    if name not in CLASSIC_METHODS:
        raise EstStfmError(
            f"unknown classic method {name!r}: use one of {', '.join(CLASSIC_METHODS)}"
        )
    return CLASSIC_METHODS[name](coarse_factor=coarse_factor)


__all__ = [
    "CLASSIC_METHODS",
    "NAIVE_METHODS",
    "TWO_PAIR_METHODS",
    "AddCoarseChange",
    "Blend",
    "CopyReference",
    "Estarfm",
    "FitFc",
    "Fsdaf",
    "Starfm",
    "classic_method",
]
