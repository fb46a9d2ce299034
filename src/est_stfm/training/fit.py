"""The training loop: sample pairs and patches, optimise, validate, keep the best, save.

Schedule: AdamW with a short linear warm-up then cosine decay over the run, where the run's
progress is the larger of (elapsed time / time budget) and (step / step budget), so ``--minutes``
and ``--epochs`` both end with a fully decayed learning rate. An epoch is as many batches as it
takes to cover every training pair's area once in expectation. After each epoch the model is
scored (RMSE) on the validation strip of every training pair; the best weights are kept and
restored at the end, and training stops early after ``patience`` epochs without improvement.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from est_stfm.checkpoint import save_model
from est_stfm.data import Scene
from est_stfm.models import create_model
from est_stfm.training.losses import fusion_loss
from est_stfm.training.samples import (
    PatchSampler,
    SceneStack,
    load_stack,
    ordered_pairs,
    pair_arrays,
    training_dates,
)

MIN_VALIDATION_WIDTH = 16


class FitConfig(BaseModel):
    """Every training setting; saved next to the weights."""

    model_config = ConfigDict(extra="forbid")

    model: str = "est-stfm-small"
    overrides: dict[str, Any] = Field(default_factory=dict)
    patch_size: int = Field(96, ge=8)
    batch_size: int = Field(4, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_steps: int = Field(20, ge=0)
    ssim_weight: float = Field(1.0, ge=0)
    minutes: float | None = Field(None, gt=0)
    epochs: int | None = Field(None, ge=1)
    patience: int = Field(10, ge=1)
    validation_fraction: float = Field(0.15, ge=0, lt=0.5)
    seed: int = 0
    holdout: list[dt.date] = Field(default_factory=list)


@torch.no_grad()
def validation_rmses(model: torch.nn.Module, stack: SceneStack, pairs, cols: slice) -> np.ndarray:
    """Per-pair RMSE over the valid pixels of the validation columns."""
    model.eval()
    out = []
    for ref, tgt in pairs:
        arrays = pair_arrays(stack, ref, tgt, cols)
        c1, f1, c2, f2 = (torch.from_numpy(np.ascontiguousarray(a))[None] for a in arrays[:4])
        valid = torch.from_numpy(np.ascontiguousarray(arrays[4]))
        err = ((model(c1, f1, c2) - f2)[0] ** 2)[:, valid]
        out.append(math.sqrt(float(err.mean())) if err.numel() else math.nan)
    model.train()
    return np.array(out)


def naive_change_rmses(stack: SceneStack, pairs, cols: slice) -> np.ndarray:
    """Per-pair RMSE of the naive prediction F1 + (C2 - C1) on the validation columns."""
    out = []
    for ref, tgt in pairs:
        c1, f1, c2, f2, valid = pair_arrays(stack, ref, tgt, cols)
        err = (f1 + c2 - c1 - f2)[:, valid]
        out.append(math.sqrt(float((err.astype(np.float64) ** 2).mean())) if err.size else math.nan)
    return np.array(out)


def validation_score(rmses: np.ndarray, naive: np.ndarray) -> float:
    """Mean over pairs of RMSE / naive-change RMSE (1.0 = as good as the naive baseline).

    A ratio per pair, not a pooled RMSE: pooled, the few pairs with large changes (a flood)
    dominate, and a model that helps them while hurting every calm pair would look better.
    """
    ok = np.isfinite(rmses) & np.isfinite(naive) & (naive > 0)
    return float(np.mean(rmses[ok] / naive[ok])) if ok.any() else math.nan


def fit(
    scene: Scene,
    out_dir: str | Path,
    config: FitConfig | None = None,
    *,
    progress: bool = True,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train a model on ``scene`` and save it (weights, metadata, log) to ``out_dir``."""
    cfg = config or FitConfig()
    if cfg.minutes is None and cfg.epochs is None:
        cfg = cfg.model_copy(update={"minutes": 10.0})
    torch.manual_seed(cfg.seed)  # initialisation; the patch sampler has its own seeded rng
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    dates = training_dates(scene, cfg.holdout)
    pairs = ordered_pairs(dates)
    stack = load_stack(scene, dates)
    bands, h, w = stack.shape
    model = create_model(cfg.model, bands=bands, **cfg.overrides)
    # channels-last runs the depthwise and grouped convolutions about twice as fast on CPU
    model = model.to(memory_format=torch.channels_last)

    val_w = int(round(w * cfg.validation_fraction))
    if val_w < MIN_VALIDATION_WIDTH or w - val_w < MIN_VALIDATION_WIDTH:
        val_w = 0  # too narrow to split: train on everything, keep the last weights
    train_w = w - val_w
    val_cols = slice(train_w, w)
    sampler = PatchSampler(stack, pairs, cfg.patch_size, cfg.batch_size, train_w, cfg.seed)
    steps_per_epoch = max(
        1, round(len(pairs) * h * train_w / (sampler.ph * sampler.pw * cfg.batch_size))
    )
    max_steps = cfg.epochs * steps_per_epoch if cfg.epochs else None
    budget_s = cfg.minutes * 60 if cfg.minutes else None

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    naive = naive_change_rmses(stack, pairs, val_cols) if val_w else None

    def score() -> float | None:
        return (
            validation_score(validation_rmses(model, stack, pairs, val_cols), naive)
            if val_w
            else None
        )

    base_val = score()
    best_val, best_state, best_epoch, stale = base_val, copy.deepcopy(model.state_dict()), 0, 0
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_rows: list[dict[str, Any]] = []

    start = time.monotonic()
    step, epoch = 0, 0
    bar = tqdm(
        total=100,
        disable=not progress,
        desc="fit",
        leave=False,
        mininterval=1.0,
        bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
    )
    model.train()
    done = False
    while not done:
        epoch += 1
        losses = []
        for _ in range(steps_per_epoch):
            elapsed = time.monotonic() - start
            frac = max(
                elapsed / budget_s if budget_s else 0.0, step / max_steps if max_steps else 0.0
            )
            if frac >= 1.0:
                done = True
                break
            warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
            for group in opt.param_groups:
                group["lr"] = cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * frac))
            c1, f1, c2, f2, valid = (
                t.contiguous(memory_format=torch.channels_last) for t in sampler.sample()
            )
            loss = fusion_loss(model(c1, f1, c2), f2, valid, cfg.ssim_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            bar.update(int(100 * frac) - bar.n)
            bar.set_postfix(epoch=epoch, step=step, loss=f"{losses[-1]:.4f}", best_val=best_val)
        if not losses:
            epoch -= 1  # the budget ran out before this epoch began
            break
        val = score()
        if val is None or best_val is None or val < best_val:
            best_val, best_state, best_epoch, stale = (
                val,
                copy.deepcopy(model.state_dict()),
                epoch,
                0,
            )
        else:
            stale += 1
        log_rows.append(
            {
                "epoch": epoch,
                "step": step,
                "train_loss": float(np.mean(losses)),
                "val_score": val,
                "lr": opt.param_groups[0]["lr"],
                "seconds": round(time.monotonic() - start, 2),
            }
        )
        if stale >= cfg.patience:
            done = True
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    seconds = time.monotonic() - start

    with open(out_dir / "train_log.csv", "w", newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["epoch", "step", "train_loss", "val_score", "lr", "seconds"]
        )
        writer.writeheader()
        writer.writerows(log_rows)
    meta = {
        "bands": bands,
        "scale": scene.scale,
        "band_descriptions": list(scene.grid.descriptions),
        "scene": str(scene.path),
        "training_dates": [d.isoformat() for d in dates],
        "holdout": [d.isoformat() for d in cfg.holdout],
        "fit": cfg.model_dump(mode="json"),
        "metrics": {
            "validation_score_start": base_val,
            "validation_score_best": best_val,
            "best_epoch": best_epoch,
            "epochs": epoch,
            "steps": step,
            "seconds": round(seconds, 1),
            "samples_per_second": round(step * cfg.batch_size / max(seconds, 1e-9), 2),
        },
    }
    save_model(out_dir, model, meta)
    return model, meta
