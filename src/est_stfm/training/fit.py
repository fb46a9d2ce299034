"""The training loop: sample, optimise, validate, keep the best, checkpoint, resume, save.

* **Loss** (SPEC 2.6): Charbonnier + ``ssim_weight`` x (1 - SSIM) on valid pixels, plus
  ``consistency_weight`` x the coarse-change consistency (:func:`~est_stfm.training.losses.
  coarse_consistency`) where the scene's ``coarse_factor`` is known.
* **Schedule**: AdamW; a linear warm-up of ``warmup_steps``, then either cosine decay to zero over
  the run, where the run's progress is the larger of (elapsed time / ``minutes``) and
  (step / step budget of ``epochs``), or (``plateau``) halving after every 2 epochs without a
  better validation score. An epoch is as many steps as it takes to cover every training pair's
  area once in expectation.
* **Validation** (:func:`~est_stfm.training.samples.split_scene`): after each epoch, the mean over
  validation pairs of RMSE / RMSE of the naive F1 + C2 - C1 (1.0 = as good as naive). The
  weights with the best score are kept and restored at the end; the candidates include the
  starting weights and, for a model whose output is a zero-initialised correction, its base
  itself (F1 + C2 - C1, or the classic method named by ``base``), so a fit never ends worse on
  validation than that base. Training stops after ``patience`` epochs without improvement.
* **Checkpoints**: the full state (:mod:`~est_stfm.training.state`) is written atomically after
  every epoch and every ``CHECKPOINT_SECONDS`` within one; ``resume=True`` continues from it.
  Samples depend only on (seed, epoch, index), so with ``epochs`` as the budget a resumed run
  ends with exactly the weights of an uninterrupted one (with ``minutes`` the remaining time is
  honoured, so the step count may differ).
* **Distributed** (:mod:`~est_stfm.training.distributed`): under ``torchrun``, DDP; only rank 0
  writes. On a GPU the forward pass runs under bf16 autocast; the CPU stays fp32.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_write_text
from est_stfm.models import create_model
from est_stfm.models.checkpoint import load_model, save_model
from est_stfm.scene import Scene
from est_stfm.training.config import FitConfig, write_fit_config
from est_stfm.training.distributed import (
    Runtime,
    agree,
    gather_digests,
    start_runtime,
    stop_runtime,
)
from est_stfm.training.losses import coarse_consistency, fusion_loss
from est_stfm.training.samples import (
    PatchDataset,
    SceneStack,
    Split,
    add_base_shift,
    load_stack,
    pair_arrays,
    pair_shift,
    split_scene,
    steps_per_epoch,
    training_dates,
)
from est_stfm.training.state import STATE_FILE, load_train_state, save_train_state

CHECKPOINT_SECONDS = 300.0
"""Longest time between two saved training states within an epoch."""

LOG_FIELDS = ("epoch", "step", "train_loss", "val_score", "lr", "seconds")


def _threads(cfg: FitConfig, runtime: Runtime) -> int:
    if cfg.threads:
        return cfg.threads
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", runtime.world_size))))


def initial_model(cfg: FitConfig, bands: int) -> torch.nn.Module:
    """The model to train: ``cfg.init``'s weights (pretrained name or model directory), or the
    preset ``cfg.model`` freshly initialised from the seed."""
    if cfg.init is None:
        return create_model(cfg.model, bands=bands, **cfg.overrides)
    from est_stfm.models.pretrained import PRETRAINED, load_pretrained

    if cfg.init in PRETRAINED:
        model, _ = load_pretrained(cfg.init)
    elif Path(cfg.init).is_dir():
        model, _ = load_model(cfg.init)
    else:
        names = ", ".join(PRETRAINED) or "none shipped"
        raise EstStfmError(
            f"--init {cfg.init!r}: not a pretrained model ({names}) nor a model directory"
        )
    if model.config.bands != bands:
        raise EstStfmError(
            f"--init {cfg.init} has {model.config.bands} bands but the scene has {bands}: "
            "fine-tune only from weights with the same bands"
        )
    return model


def base_state(model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """The weights that make ``model`` output exactly F1 + C2 - C1 (its zeroed ``head``), or
    None when the model has no such base."""
    head = getattr(model, "head", None)
    config = getattr(model, "config", None)
    if getattr(config, "residual", None) != "change" or not isinstance(head, torch.nn.Conv2d):
        return None
    state = copy.deepcopy(model.state_dict())
    prefix = next(name for name, module in model.named_modules() if module is head)
    for key in (f"{prefix}.weight", f"{prefix}.bias"):
        if key in state:
            state[key].zero_()
    return state


class Validator:
    """Scores a model on the validation pairs of every scene (RMSE ratio to naive-change)."""

    def __init__(self, stacks: list[SceneStack], splits: list[Split], device: torch.device):
        self.items = [
            (stack, ref, tgt, split.val_cols)
            for stack, split in zip(stacks, splits, strict=True)
            for ref, tgt in split.val_pairs
        ]
        self.device = device
        self.naive = np.array([self._naive_rmse(*item) for item in self.items])

    @property
    def active(self) -> bool:
        return bool(self.items)

    @staticmethod
    def _naive_rmse(stack, ref, tgt, cols) -> float:
        c1, f1, c2, f2, valid = pair_arrays(stack, ref, tgt, cols)
        err = (f1 + c2 - c1 - f2)[:, valid].astype(np.float64)
        return math.sqrt(float((err**2).mean())) if err.size else math.nan

    @torch.no_grad()
    def score(self, model: torch.nn.Module) -> float | None:
        """Mean over pairs of RMSE / naive-change RMSE; None without validation pairs.

        A ratio per pair, not a pooled RMSE: pooled, a few pairs with large changes (a flood)
        dominate, and a model that helps them while hurting every calm pair would look better.
        """
        if not self.items:
            return None
        was_training = model.training
        model.eval()
        ratios = []
        for (stack, ref, tgt, cols), naive in zip(self.items, self.naive, strict=True):
            arrays = (*pair_arrays(stack, ref, tgt, cols), pair_shift(stack, ref, tgt, cols))
            c1, f1, c2, f2, valid, shift = (
                torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in arrays
            )
            pred = model(c1[None], f1[None], c2[None]).float()[0] + shift
            err = ((pred - f2) ** 2)[:, valid]
            if err.numel() and math.isfinite(naive) and naive > 0:
                ratios.append(math.sqrt(float(err.mean())) / naive)
        model.train(was_training)
        return float(np.mean(ratios)) if ratios else None


def _loss(
    model: torch.nn.Module, batch: Sequence[torch.Tensor], cfg: FitConfig, autocast
) -> torch.Tensor:
    c1, f1, c2, f2, valid, shift, factor = batch
    with autocast:
        pred = model(c1, f1, c2)
    pred = pred.float() + shift  # the correction on top of the chosen base
    loss = fusion_loss(pred, f2, valid, cfg.ssim_weight)
    if cfg.consistency_weight:
        for k in torch.unique(factor).tolist():
            if k > 0:
                sel = factor == k
                term = coarse_consistency(pred[sel], f1[sel], c1[sel], c2[sel], valid[sel], k)
                loss = loss + cfg.consistency_weight * term * (sel.sum() / len(factor))
    return loss


def _tensorboard(out_dir: Path):
    """A TensorBoard writer logging into ``out_dir/tensorboard``."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise EstStfmError(
            "tensorboard logging needs the tensorboard package: pip install tensorboard "
            "(or leave tensorboard off; train_log.csv has the same numbers)"
        ) from None
    return SummaryWriter(str(out_dir / "tensorboard"))


def _write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def fit(
    scene: Scene | Sequence[Scene],
    out_dir: str | Path,
    config: FitConfig | None = None,
    *,
    progress: bool = True,
    resume: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train on one scene or several and save the model (weights, metadata, config, log).

    With ``resume=True`` the run saved in ``out_dir`` continues with its saved config (``config``
    is ignored). ``on_step(step)`` is called after every optimiser step (tests use it).
    """
    out_dir = Path(out_dir)
    state_path = out_dir / STATE_FILE
    saved_parts, saved = load_train_state(state_path) if resume else (None, None)
    cfg = FitConfig.model_validate(saved["config"]) if saved else (config or FitConfig())
    if cfg.minutes is None and cfg.epochs is None:
        cfg = cfg.model_copy(update={"minutes": 10.0})
    scenes = [scene] if isinstance(scene, Scene) else list(scene)
    if not scenes:
        raise EstStfmError("fit needs at least one scene")
    for day in cfg.holdout:
        if not any(day in s.fine or day in s.coarse for s in scenes):
            raise EstStfmError(f"held-out date {day} is in none of the scenes")

    runtime = start_runtime()
    try:
        torch.set_num_threads(_threads(cfg, runtime))
        stacks = []
        for s in scenes:
            stacks.append(load_stack(s, training_dates(s, cfg.holdout)))
            add_base_shift(stacks[-1], cfg.base)
        bands = {stack.shape[0] for stack in stacks}
        if len(bands) > 1:
            raise EstStfmError(f"the scenes have different band counts {sorted(bands)}")
        n_bands = bands.pop()
        torch.manual_seed(cfg.seed)  # initialisation
        model = initial_model(cfg, n_bands).to(runtime.device)
        if cfg.base != "change" and base_state(model) is None:
            raise EstStfmError(
                f"base {cfg.base} needs a model whose output is a correction of F1 + C2 - C1 "
                "(residual: change), not this one"
            )
        if runtime.device.type == "cpu":
            # channels-last runs the depthwise and grouped convolutions about twice as fast
            model = model.to(memory_format=torch.channels_last)
        return _train(
            cfg, scenes, stacks, model, out_dir, runtime, saved_parts, saved, progress, on_step
        )
    finally:
        stop_runtime(runtime)


def _train(
    cfg: FitConfig,
    scenes: list[Scene],
    stacks: list[SceneStack],
    model: torch.nn.Module,
    out_dir: Path,
    runtime: Runtime,
    saved_parts: dict | None,
    saved: dict | None,
    progress: bool,
    on_step: Callable[[int], None] | None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    splits = [split_scene(s, cfg.validation, cfg.validation_fraction) for s in stacks]
    # the patch never exceeds the largest scene (smaller scenes are padded, marked invalid)
    sides = [min(s.shape[1], p.train_width) for s, p in zip(stacks, splits, strict=True)]
    patch = min(cfg.patch_size, max(sides))
    per_epoch = steps_per_epoch(splits, stacks, patch, cfg.batch_size * runtime.world_size)
    length = per_epoch * cfg.batch_size * runtime.world_size
    dataset = PatchDataset(stacks, splits, patch, length, cfg.seed)
    max_steps = cfg.epochs * per_epoch if cfg.epochs else None
    budget_s = cfg.minutes * 60 if cfg.minutes else None
    validator = Validator(stacks, splits, runtime.device)

    net: torch.nn.Module = model
    if runtime.distributed:
        ids = [runtime.device] if runtime.device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if runtime.device.type == "cuda"
        else nullcontext()
    )

    if saved_parts is not None and saved is not None:
        model.load_state_dict(saved_parts["model"])
        opt.load_state_dict(saved_parts["opt"])
        torch.set_rng_state(saved_parts["rng"])
        best_state = saved_parts["best"]
        loop = saved["loop"]
    else:
        start_val = validator.score(model)
        best_state, best_val = copy.deepcopy(model.state_dict()), start_val
        base = base_state(model)
        # a fresh model starts at its base; weights from --init are compared with the base
        base_wins = base is not None and cfg.init is None
        if base is not None and cfg.init is not None and validator.active:
            probe = copy.deepcopy(model)
            probe.load_state_dict(base)
            base_val = validator.score(probe)
            if base_val is not None and (best_val is None or base_val < best_val):
                best_state, best_val, base_wins = base, base_val, True
        loop = {
            "epoch": 0,
            "position": 0,
            "step": 0,
            "elapsed": 0.0,
            "epoch_losses": [],
            "best_val": best_val,
            "start_val": start_val,
            "best_epoch": 0,
            "best_is_base": base_wins,
            "stale": 0,
            "plateau_scale": 1.0,
            "log": [],
        }

    out_dir.mkdir(parents=True, exist_ok=True)
    board = _tensorboard(out_dir) if cfg.tensorboard and runtime.is_main else None

    def checkpoint() -> None:
        if runtime.is_main:
            info = {"config": cfg.model_dump(mode="json"), "loop": loop}
            save_train_state(out_dir, model.state_dict(), best_state, opt, info)

    if saved is None:
        checkpoint()
    start = time.monotonic() - loop["elapsed"]
    last_save = time.monotonic()
    bar = tqdm(
        total=100,
        disable=not (progress and runtime.is_main),
        desc="fit",
        leave=False,
        mininterval=1.0,
        bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
    )
    net.train()
    done = False
    while not done:
        epoch = loop["epoch"] + 1
        dataset.set_epoch(epoch)
        indices: list[int] = (
            list(DistributedSampler(dataset, runtime.world_size, runtime.rank, shuffle=False))
            if runtime.distributed
            else list(range(len(dataset)))
        )
        indices = indices[loop["position"] * cfg.batch_size :]
        batches = DataLoader(dataset, batch_size=cfg.batch_size, sampler=indices, drop_last=True)
        for batch in batches:
            frac = max(
                (time.monotonic() - start) / budget_s if budget_s else 0.0,
                loop["step"] / max_steps if max_steps else 0.0,
            )
            if agree(runtime, frac >= 1.0):
                done = True
                break
            step = loop["step"]
            warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
            decay = (
                0.5 * (1 + math.cos(math.pi * frac))
                if cfg.schedule == "cosine"
                else loop["plateau_scale"]
            )
            for group in opt.param_groups:
                group["lr"] = cfg.lr * warm * decay
            batch = [t.to(runtime.device) for t in batch]
            if runtime.device.type == "cpu":
                batch[:6] = [t.contiguous(memory_format=torch.channels_last) for t in batch[:6]]
            loss = _loss(net, batch, cfg, autocast)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loop["epoch_losses"].append(loss.item())
            loop["step"] += 1
            loop["position"] += 1
            loop["elapsed"] = time.monotonic() - start
            bar.update(int(100 * frac) - bar.n)
            bar.set_postfix(epoch=epoch, step=loop["step"], loss=f"{loss.item():.4f}")
            if on_step is not None:
                on_step(loop["step"])
            if agree(runtime, time.monotonic() - last_save > CHECKPOINT_SECONDS):
                checkpoint()
                last_save = time.monotonic()
        if not loop["epoch_losses"]:
            break  # the budget ran out before this epoch began
        val = validator.score(model)
        best_val = loop["best_val"]
        if val is not None and (best_val is None or val < best_val):
            best_state = copy.deepcopy(model.state_dict())
            loop.update(best_val=val, best_epoch=epoch, best_is_base=False, stale=0)
        elif val is None:
            best_state = copy.deepcopy(model.state_dict())
            loop.update(best_epoch=epoch)
        else:
            loop["stale"] += 1
            if loop["stale"] % 2 == 0:
                loop["plateau_scale"] *= 0.5
        loop["log"].append(
            {
                "epoch": epoch,
                "step": loop["step"],
                "train_loss": float(np.mean(loop["epoch_losses"])),
                "val_score": val,
                "lr": opt.param_groups[0]["lr"],
                "seconds": round(time.monotonic() - start, 2),
            }
        )
        loop.update(epoch=epoch, position=0, epoch_losses=[], elapsed=time.monotonic() - start)
        if runtime.is_main:
            _write_log(out_dir / "train_log.csv", loop["log"])
        if board is not None:
            for key in ("train_loss", "val_score", "lr"):
                if loop["log"][-1][key] is not None:
                    board.add_scalar(key, loop["log"][-1][key], loop["step"])
            board.flush()
        if loop["stale"] >= cfg.patience:
            done = True
        checkpoint()
        last_save = time.monotonic()
    bar.close()
    if board is not None:
        board.close()
    model.load_state_dict(best_state)
    model.eval()
    digests = gather_digests(runtime, model)
    seconds = loop["elapsed"]
    meta = _metadata(cfg, scenes, stacks, splits, loop, seconds, runtime, digests)
    if runtime.is_main:
        _write_log(out_dir / "train_log.csv", loop["log"])
        write_fit_config(out_dir / "fit_config.yaml", cfg)
        save_model(out_dir, model, meta)
        (out_dir / STATE_FILE).unlink(missing_ok=True)
    return model, meta


def _metadata(cfg, scenes, stacks, splits, loop, seconds, runtime, digests) -> dict[str, Any]:
    first = scenes[0]
    steps = loop["step"]
    return {
        "bands": stacks[0].shape[0],
        "scale": first.scale,
        "unit": first.unit,
        "band_descriptions": list(first.grid.descriptions),
        "scene": str(first.path) if len(scenes) == 1 else [str(s.path) for s in scenes],
        "training_dates": sorted({d.isoformat() for s in stacks for d in s.dates}),
        "holdout": [d.isoformat() for d in cfg.holdout],
        "fit": cfg.model_dump(mode="json"),
        "validation": [
            {
                "scene": stack.name,
                "mode": split.mode,
                "date": split.val_date.isoformat() if split.val_date else None,
                "coarse_factor": stack.coarse_factor,
            }
            for stack, split in zip(stacks, splits, strict=True)
        ],
        "metrics": {
            "validation_score_start": loop["start_val"],
            "validation_score_best": loop["best_val"],
            "best_epoch": loop["best_epoch"],
            "best_is_base": loop["best_is_base"],
            "epochs": loop["epoch"],
            "steps": steps,
            "seconds": round(seconds, 1),
            "samples_per_second": round(
                steps * cfg.batch_size * runtime.world_size / max(seconds, 1e-9), 2
            ),
        },
        "distributed": {"world_size": runtime.world_size, "rank_weight_sha256": digests},
    }
