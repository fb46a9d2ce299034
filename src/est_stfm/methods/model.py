"""A trained network as a fusion method."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from est_stfm.methods.base import Method, Pair, PairwiseMethod, blend_predictions
from est_stfm.models.apply import band_agnostic, fused

NETWORK_CONTEXT = 16
"""Pixels of context a network is given around the pixels it must predict (a tile's core)."""


def _grown(core: tuple[slice, slice], shape: tuple[int, ...]) -> tuple[slice, slice]:
    """``core`` (two slices with explicit bounds) grown by :data:`NETWORK_CONTEXT` on every
    side, clipped to ``shape`` (H, W)."""
    grown = [
        slice(max(0, s.start - NETWORK_CONTEXT), min(n, s.stop + NETWORK_CONTEXT))
        for s, n in zip(core, shape, strict=True)
    ]
    return grown[0], grown[1]


class ModelMethod(PairwiseMethod):
    """A trained network used as a fusion method (whole image in one forward pass, no grad).

    ``base``: for a model fitted with ``base: starfm|fsdaf|fsdaf+consistency|...``, that classic
    method; the network's correction is then added to its prediction instead of to
    F1 + C2 - C1. With several pairs the base predicts from all of them at once (as the method
    alone would), each pair's network corrects that one base, and the corrections are blended:
    a network that corrects nothing returns exactly the base method's prediction. ``meta``: the
    saved model's ``model.json``. A band-agnostic network (``bands`` None) fuses any band count
    and is told which pixels of the reference pair are valid.

    ``strength`` scales the network's correction (1: as trained, 0: the base alone);
    ``check``: before predicting, choose the strength on the scene's own reference pairs
    (:mod:`est_stfm.inference.check`; on for shipped pretrained weights).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        name: str = "est-stfm",
        meta: dict[str, Any] | None = None,
        base: Method | None = None,
        *,
        strength: float = 1.0,
        check: bool = False,
    ):
        self.model = model.eval().to(memory_format=torch.channels_last)  # faster on CPU
        self.name, self.meta, self.base = name, meta or {}, base
        self.strength, self.check = float(strength), check
        self.halo = base.halo if base is not None else 0
        self.bands = None if band_agnostic(model) else int(model.config.bands)

    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        base = None if self.base is None else self.base.predict(c1, f1, c2)
        return self.correct(c1, f1, c2, base, None)

    def predict_pairs(
        self,
        pairs: Sequence[Pair],
        c2: np.ndarray,
        valid: Sequence[np.ndarray],
        core: tuple[slice, slice] | None = None,
    ) -> np.ndarray:
        """Each pair's network on the base of all pairs, blended per pixel.

        ``core``: only these rows and columns must be right (a tile inside the halo its base
        needs): the base still runs on the whole arrays, the network only on the core and
        :data:`NETWORK_CONTEXT` pixels around it; outside that, the base (or F1 + C2 - C1) is
        returned. A base with a wide halo (FSDAF + consistency: 140 px) then no longer makes
        the network's tiles 2-3 times larger than the tiles kept."""
        base = None if self.base is None else self.base.predict_pairs(pairs, c2, valid)
        rows, cols = (slice(None), slice(None)) if core is None else _grown(core, c2.shape[1:])
        sub_pairs = [(c1[:, rows, cols], f1[:, rows, cols]) for c1, f1 in pairs]
        sub_valid = [v[rows, cols] for v in valid]
        sub_c2, sub_base = c2[:, rows, cols], None if base is None else base[:, rows, cols]
        preds = [
            self.correct(c1, f1, sub_c2, sub_base, v)
            for (c1, f1), v in zip(sub_pairs, sub_valid, strict=True)
        ]
        sub = blend_predictions(preds, sub_pairs, sub_c2, sub_valid)
        if core is None:
            return sub
        c1, f1 = pairs[0]
        out = np.array(f1 + c2 - c1 if base is None else base, dtype=np.float32)
        out[:, rows, cols] = sub
        return out

    @torch.no_grad()
    def correct(
        self,
        c1: np.ndarray,
        f1: np.ndarray,
        c2: np.ndarray,
        base: np.ndarray | None,
        valid: np.ndarray | None,
    ) -> np.ndarray:
        """The network's prediction from one pair, on top of ``base`` (None: F1 + C2 - C1),
        its correction scaled by ``strength``."""
        batch = [
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None] for a in (c1, f1, c2)
        ]
        shift = mask = None
        if base is not None:
            base = np.asarray(base, dtype=np.float32)
            shift = torch.from_numpy(np.nan_to_num(base - (f1 + c2 - c1)))[None]
        if valid is not None:
            mask = torch.from_numpy(np.ascontiguousarray(valid, dtype=bool))[None, None]
        out = fused(self.model, *batch, shift, mask)[0].numpy()
        if self.strength == 1.0:
            return out
        start = f1 + c2 - c1 if base is None else base
        return (start + self.strength * (out - start)).astype(np.float32)

    def with_model(self, model: torch.nn.Module, suffix: str) -> ModelMethod:
        """The same method around another network (e.g. an adapted copy), named ``name+suffix``."""
        return ModelMethod(
            model,
            name=f"{self.name}+{suffix}",
            meta=self.meta,
            base=self.base,
            strength=self.strength,
            check=self.check,
        )

    def with_strength(self, strength: float) -> ModelMethod:
        """The same network with its correction scaled by ``strength`` (no further check)."""
        return ModelMethod(
            self.model, name=self.name, meta=self.meta, base=self.base, strength=strength
        )
