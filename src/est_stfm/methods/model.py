"""A trained network as a fusion method."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from est_stfm.methods.base import Method, PairwiseMethod
from est_stfm.models.apply import band_agnostic, fused


class ModelMethod(PairwiseMethod):
    """A trained network used as a fusion method (whole image in one forward pass, no grad).

    ``base``: for a model fitted with ``base: starfm|fsdaf``, that classic method; the network's
    correction is then added to its prediction instead of to F1 + C2 - C1. ``meta``: the saved
    model's ``model.json``. A band-agnostic network (``bands`` None) fuses any band count.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        name: str = "est-stfm",
        meta: dict[str, Any] | None = None,
        base: Method | None = None,
    ):
        self.model = model.eval().to(memory_format=torch.channels_last)  # faster on CPU
        self.name, self.meta, self.base = name, meta or {}, base
        self.halo = base.halo if base is not None else 0
        self.bands = None if band_agnostic(model) else int(model.config.bands)

    @torch.no_grad()
    def predict(self, c1: np.ndarray, f1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        batch = [
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None] for a in (c1, f1, c2)
        ]
        shift = None
        if self.base is not None:
            base = np.asarray(self.base.predict(c1, f1, c2), dtype=np.float32)
            shift = torch.from_numpy(np.nan_to_num(base - (f1 + c2 - c1)))[None]
        return fused(self.model, *batch, shift)[0].numpy()

    def with_model(self, model: torch.nn.Module, suffix: str) -> ModelMethod:
        """The same method around another network (e.g. an adapted copy), named ``name+suffix``."""
        return ModelMethod(model, name=f"{self.name}+{suffix}", meta=self.meta, base=self.base)
