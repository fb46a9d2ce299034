"""Test-time adaptation: a few optimiser steps on the target date's coarse image, no fine truth.

Before predicting a date, the model may be tuned for ``steps`` steps on random windows of the
scene with the coarse-change consistency loss alone (:func:`~est_stfm.training.losses.
coarse_consistency`): the predicted fine change, averaged over coarse-pixel-sized blocks, should
equal the coarse change between the reference and the target. Its inputs are exactly the
prediction's inputs (fine and coarse reference, coarse target), so nothing leaks. For a model on
the F1 + C2 - C1 base this removes any coarse-scale bias of the learned correction while leaving
its within-block detail free. The adapted copy is used for that prediction only; the saved model
is not changed.
"""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import torch
from rasterio.windows import Window

from est_stfm.errors import EstStfmError
from est_stfm.inference.references import DEFAULT_PAIRS, choose_references
from est_stfm.methods import Method, ModelMethod
from est_stfm.scene import Scene
from est_stfm.scene.dates import DateLike
from est_stfm.training.losses import coarse_consistency

ADAPT_LR = 1e-4
ADAPT_PATCH = 128


def adapt_model(
    model: torch.nn.Module,
    scene: Scene,
    date: dt.date,
    references: tuple[dt.date, ...],
    steps: int,
    *,
    base: Method | None = None,
    lr: float = ADAPT_LR,
    patch: int = ADAPT_PATCH,
    seed: int = 0,
) -> torch.nn.Module:
    """A copy of ``model`` tuned for ``steps`` steps to the coarse change towards ``date``.

    ``base``: the classic method a model fitted with ``base: starfm|fsdaf`` corrects; the loss
    is then taken on what the prediction really is, the network's output plus
    ``base - (F1 + C2 - C1)``.
    """
    factor = scene.coarse_factor
    if factor is None:
        raise EstStfmError(
            "test-time adaptation needs the coarse pixel size: add coarse_factor: N "
            f"(coarse pixel size in fine pixels) to {scene.path}"
        )
    tuned = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(tuned.parameters(), lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    h, w = scene.shape
    ph, pw = min(patch, h), min(patch, w)
    for _ in range(steps):
        ref = references[int(rng.integers(len(references)))]
        window = Window(int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1)), pw, ph)
        f1, v1 = scene.read_fine(ref, window)
        c1, cv1 = scene.read_coarse(ref, window)
        c2, cv2 = scene.read_coarse(date, window)
        valid = torch.from_numpy((v1 & cv1 & cv2)[None, None].astype(np.float32))
        c1t, f1t, c2t = (torch.from_numpy(np.ascontiguousarray(a))[None] for a in (c1, f1, c2))
        pred = tuned(c1t, f1t, c2t)
        if base is not None:
            shift = base.predict(c1, f1, c2) - (f1 + c2 - c1)
            pred = pred + torch.from_numpy(np.ascontiguousarray(shift, dtype=np.float32))[None]
        loss = coarse_consistency(pred, f1t, c1t, c2t, valid, factor)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return tuned.eval()


def adapt_method(
    method: Method,
    scene: Scene,
    date: DateLike,
    steps: int,
    reference: DateLike | None = None,
    pairs: str = DEFAULT_PAIRS,
) -> ModelMethod:
    """``method`` (a trained model) with its network adapted for ``steps`` steps to ``date``'s
    coarse change from the reference pair(s) :func:`choose_references` picks."""
    if steps < 1:
        raise EstStfmError(f"--adapt-steps {steps}: give 0 (off) or a positive number")
    if not isinstance(method, ModelMethod):
        raise EstStfmError(f"--adapt-steps needs a trained model, not {method.name}")
    day, refs = choose_references(scene, date, method, reference, pairs)
    tuned = adapt_model(method.model, scene, day, refs, steps, base=method.base)
    return method.with_model(tuned, f"adapt{steps}")
