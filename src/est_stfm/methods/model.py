"""A trained network as a fusion method."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from est_stfm.methods.base import Method, Pair, PairwiseMethod, blend_predictions
from est_stfm.models.apply import band_agnostic, fused


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
        self, pairs: Sequence[Pair], c2: np.ndarray, valid: Sequence[np.ndarray]
    ) -> np.ndarray:
        """Each pair's network on the base of all pairs, blended per pixel."""
        base = None if self.base is None else self.base.predict_pairs(pairs, c2, valid)
        preds = [
            self.correct(c1, f1, c2, base, v) for (c1, f1), v in zip(pairs, valid, strict=True)
        ]
        return blend_predictions(preds, pairs, c2, valid)

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
