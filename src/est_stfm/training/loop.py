"""The epoch and step loop: sample, optimise, validate, keep the best, log, checkpoint.

* **Loss** (SPEC 2.6): Charbonnier + ``ssim_weight`` x (1 - SSIM) on valid pixels, plus
  ``consistency_weight`` x the coarse-change consistency (:func:`~est_stfm.training.losses.
  coarse_consistency`) where the scene's ``coarse_factor`` is known; band-agnostic networks in
  each band's normalised units; from ``init`` weights, plus the L2-SP pull toward them
  (``anchor_weight``).
* **Weight average** (``ema_decay``, on by default from ``init``): an exponential moving average
  of the weights follows the steps; it is what validation scores and what is kept and saved.
* **Schedule**: AdamW; a linear warm-up of ``warmup_steps``, then either cosine decay to zero over
  the run, where the run's progress is the larger of (elapsed time / ``minutes``) and
  (step / step budget of ``epochs``), or (``plateau``) halving after every 2 epochs without a
  better validation score. An epoch is as many steps as it takes to cover every training pair's
  area once in expectation.
* **Best weights** (:mod:`~est_stfm.training.validate`): after each epoch the validation score
  decides whether the weights (their average, when kept) become the best; training stops
  after ``patience`` epochs without improvement.
* **Checkpoints**: the full state (:mod:`~est_stfm.training.state`, with :class:`TrainState` as
  its counters) is written atomically after every epoch and every :data:`CHECKPOINT_SECONDS`
  within one. Samples depend only on (seed, epoch, index), so with ``epochs`` as the budget a
  resumed run ends with exactly the weights of an uninterrupted one.
* **Distributed** (:mod:`~est_stfm.training.distributed`): ranks agree on every stop and save,
  and only rank 0 writes. On a GPU the forward pass runs under bf16 autocast; the CPU stays fp32.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_write_text
from est_stfm.models.agnostic import band_stats
from est_stfm.models.apply import band_agnostic, fused
from est_stfm.training.config import ANCHOR_WEIGHT, EMA_DECAY, FitConfig
from est_stfm.training.distributed import Runtime, agree
from est_stfm.training.losses import coarse_consistency, fusion_loss
from est_stfm.training.samples import PatchDataset
from est_stfm.training.state import save_train_state
from est_stfm.training.validate import Validator, improves

CHECKPOINT_SECONDS = 300.0
"""Longest time between two saved training states within an epoch."""

LOG_FILE = "train_log.csv"
"""One row per finished epoch, in the output directory."""

Weights = dict[str, torch.Tensor]


@dataclass
class EpochLog:
    """One row of ``train_log.csv``."""

    epoch: int
    step: int
    train_loss: float
    """Mean loss of the epoch's steps."""
    val_score: float | None
    lr: float
    """The learning rate of the epoch's last step."""
    seconds: float
    """Training time since the run began, resumed runs included."""


LOG_FIELDS = tuple(f.name for f in dataclasses.fields(EpochLog))


@dataclass
class TrainState:
    """The loop's counters and history: everything besides tensors that a resumed run needs.

    Saved as JSON inside the training state; the field names are its keys.
    """

    epoch: int = 0
    """Epochs finished."""
    position: int = 0
    """Batches done in the epoch under way."""
    step: int = 0
    elapsed: float = 0.0
    """Training seconds so far, resumed runs included."""
    epoch_losses: list[float] = field(default_factory=list)
    """Losses of the epoch under way."""
    best_val: float | None = None
    """Validation score of the best weights."""
    start_val: float | None = None
    """Validation score of the starting weights."""
    best_epoch: int = 0
    best_is_base: bool = False
    start_strength: float = 1.0
    """The strength the starting weights' correction was kept at before training (0: base)."""
    stale: int = 0
    """Epochs since the best score last improved."""
    plateau_scale: float = 1.0
    """Learning-rate factor of the ``plateau`` schedule."""
    log: list[EpochLog] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON object saved in the training state."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        """The inverse of :meth:`to_json`."""
        return cls(**{**data, "log": [EpochLog(**row) for row in data["log"]]})


@dataclass
class LoopSetup:
    """What the loop trains, on what, for how long, and where it writes."""

    cfg: FitConfig
    runtime: Runtime
    model: torch.nn.Module
    """The weights that are validated, kept and saved."""
    net: torch.nn.Module
    """The module the steps run: ``model`` itself, or DistributedDataParallel around it."""
    optimizer: torch.optim.Optimizer
    dataset: PatchDataset
    validator: Validator
    steps_per_epoch: int
    out_dir: Path
    progress: bool = True
    on_step: Callable[[int], None] | None = None
    """Called with the step count after every optimiser step (tests use it)."""
    anchor: list[torch.Tensor] | None = None
    """The starting weights (``init``) the L2-SP term pulls toward, parameter by parameter."""
    average: torch.nn.Module | None = None
    """A copy of ``model`` holding the moving average of its weights (``ema_decay``); None: off."""

    @property
    def kept(self) -> torch.nn.Module:
        """The module whose weights are validated and kept: the average, else ``model``."""
        return self.average if self.average is not None else self.model

    @property
    def max_steps(self) -> int | None:
        """The step budget of ``epochs``; None when only time limits the run."""
        return self.cfg.epochs * self.steps_per_epoch if self.cfg.epochs else None

    @property
    def budget_s(self) -> float | None:
        """The time budget of ``minutes``, in seconds."""
        return self.cfg.minutes * 60 if self.cfg.minutes else None


def anchor_weight(cfg: FitConfig) -> float:
    """The L2-SP weight of a run (:attr:`FitConfig.anchor_weight`, resolved)."""
    if cfg.anchor_weight is not None:
        return cfg.anchor_weight
    return ANCHOR_WEIGHT if cfg.init else 0.0


def ema_decay(cfg: FitConfig) -> float:
    """The weight-average decay of a run (:attr:`FitConfig.ema_decay`, resolved; 0: off)."""
    if cfg.ema_decay is not None:
        return cfg.ema_decay
    return EMA_DECAY if cfg.init else 0.0


@torch.no_grad()
def update_average(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """One step of the moving average: ``average = decay * average + (1 - decay) * model``, for
    every floating-point entry of the state dict (parameters and buffers alike)."""
    mine = average.state_dict()
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            mine[key].lerp_(value, 1.0 - decay)


def learning_rate(cfg: FitConfig, step: int, progress: float, plateau_scale: float) -> float:
    """The learning rate of step ``step`` (0-based) when the run is ``progress`` (0-1) done."""
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    if cfg.schedule == "cosine":
        decay = 0.5 * (1 + math.cos(math.pi * progress))
    else:
        decay = plateau_scale
    return cfg.lr * warm * decay


def write_train_log(out_dir: Path, log: list[EpochLog]) -> None:
    """Write ``out_dir/train_log.csv`` (atomically)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS)
    writer.writeheader()
    writer.writerows(dataclasses.asdict(row) for row in log)
    atomic_write_text(out_dir / LOG_FILE, buf.getvalue())


def train(
    setup: LoopSetup, state: TrainState, best: Weights, *, resumed: bool
) -> tuple[TrainState, Weights]:
    """Run epochs from ``state`` until the budget or the patience runs out.

    Returns the final state and the best weights; ``state`` is advanced in place. A run that
    is not ``resumed`` first saves its starting state, so a kill at any point can resume.
    """
    run = _Run(setup, state, best)
    try:
        if not resumed:
            run.checkpoint()
        run.epochs()
    finally:
        run.close()
    return run.state, run.best


def _tensorboard(out_dir: Path) -> Any:
    """A TensorBoard writer logging into ``out_dir/tensorboard``."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise EstStfmError(
            "tensorboard logging needs the tensorboard package: pip install tensorboard "
            "(or leave tensorboard off; train_log.csv has the same numbers)"
        ) from None
    return SummaryWriter(str(out_dir / "tensorboard"))


def _batch_loss(
    net: torch.nn.Module,
    batch: Sequence[torch.Tensor],
    cfg: FitConfig,
    autocast: AbstractContextManager[Any],
) -> torch.Tensor:
    """The training loss of one batch ``(C1, F1, C2, F2, valid, shift, coarse factor)``.

    For a band-agnostic network every term is taken in each sample's and band's own units (the
    location and scale of :func:`~est_stfm.models.agnostic.band_stats`, as the network sees
    them), so a Kelvin band (errors of whole kelvins) weighs as much as a reflectance band
    (errors of hundredths) in a batch that mixes them.
    """
    c1, f1, c2, f2, valid, shift, factor = batch
    with autocast:
        pred = fused(net, c1, f1, c2, shift, valid)  # on top of the chosen base
    if band_agnostic(net):
        loc, scale = band_stats(f1, c1, valid)
        pred, c1, f1, c2, f2 = ((t - loc) / scale for t in (pred, c1, f1, c2, f2))
    loss = fusion_loss(pred, f2, valid, cfg.ssim_weight)
    if cfg.consistency_weight:
        for k in torch.unique(factor).tolist():
            if k > 0:
                sel = factor == k
                term = coarse_consistency(pred[sel], f1[sel], c1[sel], c2[sel], valid[sel], k)
                loss = loss + cfg.consistency_weight * term * (sel.sum() / len(factor))
    return loss


class _Run:
    """One call of :func:`train`: the state it advances and what it writes on the way."""

    def __init__(self, setup: LoopSetup, state: TrainState, best: Weights) -> None:
        self.setup, self.cfg, self.runtime = setup, setup.cfg, setup.runtime
        self.state, self.best = state, best
        setup.out_dir.mkdir(parents=True, exist_ok=True)
        self.board = (
            _tensorboard(setup.out_dir) if self.cfg.tensorboard and self.runtime.is_main else None
        )
        cuda = self.runtime.device.type == "cuda"
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
        self.bar = tqdm(
            total=100,
            disable=not (setup.progress and self.runtime.is_main),
            desc="fit",
            leave=False,
            mininterval=1.0,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
        )
        self.start = self.last_save = time.monotonic()

    def checkpoint(self) -> None:
        """Save the full training state (rank 0 only)."""
        if self.runtime.is_main:
            setup = self.setup
            info = {"config": self.cfg.model_dump(mode="json"), "loop": self.state.to_json()}
            average = None if setup.average is None else setup.average.state_dict()
            save_train_state(
                setup.out_dir,
                setup.model.state_dict(),
                self.best,
                setup.optimizer,
                info,
                average_state=average,
            )

    def close(self) -> None:
        """Close the progress bar and the TensorBoard writer."""
        self.bar.close()
        if self.board is not None:
            self.board.close()

    def epochs(self) -> None:
        """Train epoch after epoch until a limit is reached."""
        self.start = time.monotonic() - self.state.elapsed
        self.last_save = time.monotonic()
        self.setup.net.train()
        done = False
        while not done:
            epoch = self.state.epoch + 1
            out_of_budget = self._steps(epoch)
            if not self.state.epoch_losses:
                break  # the budget ran out before this epoch began
            self._end_epoch(epoch)
            done = out_of_budget or self.state.stale >= self.cfg.patience
            self.checkpoint()
            self.last_save = time.monotonic()

    def _progress(self) -> float:
        """How much of the run is done (1: the time or step budget is spent)."""
        budget_s, max_steps = self.setup.budget_s, self.setup.max_steps
        return max(
            (time.monotonic() - self.start) / budget_s if budget_s else 0.0,
            self.state.step / max_steps if max_steps else 0.0,
        )

    def _batches(self, epoch: int) -> DataLoader:
        """This rank's remaining batches of ``epoch``."""
        dataset, runtime = self.setup.dataset, self.runtime
        dataset.set_epoch(epoch)
        indices: list[int] = (
            list(DistributedSampler(dataset, runtime.world_size, runtime.rank, shuffle=False))
            if runtime.distributed
            else list(range(len(dataset)))
        )
        indices = indices[self.state.position * self.cfg.batch_size :]
        return DataLoader(
            dataset,
            batch_size=self.cfg.batch_size,
            sampler=indices,
            drop_last=True,
            num_workers=self.cfg.workers,
            pin_memory=runtime.device.type == "cuda",
        )

    def _steps(self, epoch: int) -> bool:
        """Run the steps of ``epoch``; True when the budget ran out within it."""
        for batch in self._batches(epoch):
            progress = self._progress()
            if agree(self.runtime, progress >= 1.0):
                return True
            self._step(batch, progress, epoch)
            if agree(self.runtime, time.monotonic() - self.last_save > CHECKPOINT_SECONDS):
                self.checkpoint()
                self.last_save = time.monotonic()
        return False

    def _step(self, batch: list[torch.Tensor], progress: float, epoch: int) -> None:
        """One optimiser step on ``batch``."""
        state, opt, device = self.state, self.setup.optimizer, self.runtime.device
        lr = learning_rate(self.cfg, state.step, progress, state.plateau_scale)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = [t.to(device) for t in batch]
        if device.type == "cpu":
            batch[:6] = [t.contiguous(memory_format=torch.channels_last) for t in batch[:6]]
        loss = _batch_loss(self.setup.net, batch, self.cfg, self.autocast)
        if self.setup.anchor is not None:
            weight = anchor_weight(self.cfg)
            pairs = zip(self.setup.model.parameters(), self.setup.anchor, strict=True)
            pull = sum(((p - p0) ** 2).sum() for p, p0 in pairs)
            loss = loss + weight * pull
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if self.setup.average is not None:
            update_average(self.setup.average, self.setup.model, ema_decay(self.cfg))
        state.epoch_losses.append(loss.item())
        state.step += 1
        state.position += 1
        state.elapsed = time.monotonic() - self.start
        self.bar.update(int(100 * progress) - self.bar.n)
        self.bar.set_postfix(epoch=epoch, step=state.step, loss=f"{loss.item():.4f}")
        if self.setup.on_step is not None:
            self.setup.on_step(state.step)

    def _keep_best(self, score: float | None, epoch: int) -> None:
        """Make the current weights (their average, when kept) the best if ``score`` beats the
        best (or nothing validates)."""
        state, model = self.state, self.setup.kept
        if score is not None and improves(score, state.best_val, state.best_epoch == 0):
            self.best = copy.deepcopy(model.state_dict())
            state.best_val, state.best_epoch = score, epoch
            state.best_is_base, state.stale = False, 0
        elif score is None:
            self.best = copy.deepcopy(model.state_dict())
            state.best_epoch, state.best_is_base = epoch, False
        else:
            state.stale += 1
            if state.stale % 2 == 0:
                state.plateau_scale *= 0.5

    def _end_epoch(self, epoch: int) -> None:
        """Validate, keep the best weights, and log the finished ``epoch``."""
        state = self.state
        score = self.setup.validator.score(self.setup.kept)
        self._keep_best(score, epoch)
        row = EpochLog(
            epoch=epoch,
            step=state.step,
            train_loss=float(np.mean(state.epoch_losses)),
            val_score=score,
            lr=self.setup.optimizer.param_groups[0]["lr"],
            seconds=round(time.monotonic() - self.start, 2),
        )
        state.log.append(row)
        state.epoch, state.position, state.epoch_losses = epoch, 0, []
        state.elapsed = time.monotonic() - self.start
        if self.runtime.is_main:
            write_train_log(self.setup.out_dir, state.log)
        if self.board is not None:
            for key in ("train_loss", "val_score", "lr"):
                value = getattr(row, key)
                if value is not None:
                    self.board.add_scalar(key, value, state.step)
            self.board.flush()
