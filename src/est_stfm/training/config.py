"""Every training setting in one validated object, readable from and written to YAML.

``est-stfm fit --config fit.yaml`` reads the YAML keys below (command-line options override
them); the resolved config is saved next to the weights as ``fit_config.yaml`` (and inside
``model.json``), so a run can always be repeated. ``--resume`` continues with the settings saved
in the training state; settings given again must equal them. Example::

    model: est-stfm-small
    epochs: 30
    patch_size: 128
    batch_size: 4
    lr: 0.001
    consistency_weight: 1.0
    validation: auto
    seed: 0
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from est_stfm.errors import EstStfmError, condense
from est_stfm.io.atomic import atomic_write_text
from est_stfm.io.yaml import read_yaml
from est_stfm.training.samples import STACK_MEMORY
from est_stfm.training.state import STATE_FILE, load_train_info


class FitConfig(BaseModel):
    """Training settings (defaults follow SPEC 2.6 scaled to a CPU; see the README)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "est-stfm-any-tiny"
    """A preset name (``est-stfm models``)."""
    init: str | None = None
    """Start from these weights: a pretrained name (``est-stfm models``) or a model directory.
    Not given, a fit of the default model's preset starts from the shipped default weights
    (:func:`pretrained_start`)."""
    base: str = "change"
    """The prediction the network corrects: ``change`` (F1 + C2 - C1) or a classic method's
    output, alone or with the consistency step (``starfm``, ``fsdaf``, ``fsdaf+consistency``,
    ...; ``fsdaf`` and the suffix need the scene's ``coarse_factor``). The network's
    zero-initialised correction is added to it, so training starts exactly at that method."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Model config fields changed from the preset (ignored with ``init``)."""
    patch_size: int = Field(96, ge=8)
    batch_size: int = Field(4, ge=1)
    """Patches per optimiser step and per process (DDP multiplies it by the world size)."""
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    anchor_weight: float | None = Field(None, ge=0)
    """Starting from weights (``init``): the loss adds ``anchor_weight`` times the sum over
    parameters of (weight - starting weight)^2 (L2-SP), so a short fit on two or three dates
    refines the pretrained weights instead of overwriting them. None: :data:`ANCHOR_WEIGHT` with
    ``init``, 0 without."""
    ema_decay: float | None = Field(None, ge=0, lt=1)
    """Keep an exponential moving average of the weights (after each step: average = decay x
    average + (1 - decay) x weights, starting from the starting weights): validation scores,
    keeps and saves the average, not the last step's weights, so the epoch a fit keeps is not
    one lucky draw among noisy ones. 0: off. None: :data:`EMA_DECAY` with ``init``, 0 without."""
    warmup_steps: int = Field(20, ge=0)
    schedule: Literal["cosine", "plateau"] = "cosine"
    """``cosine``: warm-up, then cosine decay to 0 over the budget; ``plateau``: warm-up, then
    the learning rate halves after every 2 epochs without a better validation score."""
    ssim_weight: float = Field(1.0, ge=0)
    consistency_weight: float = Field(1.0, ge=0)
    """Weight of the coarse-change consistency loss (:func:`~est_stfm.training.losses.
    coarse_consistency`); 0 turns it off. Needs the scene's ``coarse_factor``."""
    minutes: float | None = Field(None, gt=0)
    epochs: int | None = Field(None, ge=1)
    patience: int = Field(10, ge=1)
    """Stop after this many epochs without a better validation score."""
    validation: Literal["auto", "dates", "spatial", "none"] = "auto"
    """``dates``: hold out the latest training date of each scene as a validation target (needs
    3 or more training dates); ``spatial``: blocks spread over the scene, held out of every
    training pair's loss and validated in both directions of each pair (scenes of 96 px or more
    a side); ``auto``: dates when possible, else spatial, else none. The score is RMSE / base
    RMSE - (SSIM - base SSIM) (:mod:`~est_stfm.training.validate`)."""
    validation_fraction: float = Field(0.15, ge=0, lt=0.5)
    """Share of the (central, at most 1024 px) window held out in blocks for spatial
    validation."""
    seed: int = 0
    tensorboard: bool = False
    """Also log train loss, validation score and learning rate to ``OUT/tensorboard``."""
    threads: int | None = Field(None, ge=1)
    """CPU threads per process (default: the cores available to this process)."""
    workers: int = Field(0, ge=0)
    """Processes that cut training patches beside the training one (0: it cuts them itself;
    on a GPU, 2-4 keep it busy)."""
    references: int | None = Field(3, ge=1)
    """Each training target is paired with at most this many references, the dates nearest it
    (None: every other date): a long series trains on its near pairs and its base runs grow
    linearly with the dates (17 dates: 51 pairs instead of 272). Up to 4 dates, all pairs."""
    stack_memory_mib: int = Field(STACK_MEMORY >> 20, ge=0)
    """A scene whose training dates' fine and coarse images take more than this (MiB, as
    float32) stays on disk: each patch's window is read from its files (memory bounded, a
    little slower per patch). 0: every scene is read window by window."""
    bands_per_sample: int | None = Field(None, ge=1)
    """Band-agnostic models: each training patch takes this many bands of its scene (drawn at
    random, repeated when the scene has fewer), so scenes with any band count train together."""
    holdout: list[dt.date] = Field(default_factory=list)
    """Dates never read (neither their fine nor their coarse image is trained on)."""

    @property
    def validated_refinement(self) -> bool:
        """A fit from weights (``init``) under ``validation: auto``: it trains only where it can
        validate, and keeps the weights untrained elsewhere
        (:func:`~est_stfm.training.fit.untestable`)."""
        return self.init is not None and self.validation == "auto"

    @field_validator("base")
    @classmethod
    def _known_base(cls, value: str) -> str:
        from est_stfm.methods.registry import is_classic_name

        if value != "change" and not is_classic_name(value):
            raise ValueError(
                f"unknown base {value!r}: use change or a classic method such as fsdaf or "
                "fsdaf+consistency (est-stfm models lists them)"
            )
        return value


ANCHOR_WEIGHT = 0.1
"""Default L2-SP weight of a fit that starts from trained weights (``anchor_weight``)."""

EMA_DECAY = 0.99
"""Default weight-average decay of a fit that starts from trained weights (``ema_decay``): an
average over about the last 100 steps (two epochs of a small scene). Why: on protocol v3's
iFSDAF NDVI, fits from est-stfm-any-tiny-synth scored 0.92-0.98 on validation from one epoch to
the next (the start: 0.933), so the best of ten epochs beat the start by the margin by chance."""

FINE_TUNE_LR = 2e-4
"""Peak learning rate of a fit that starts from trained weights (unless ``lr`` is given): a
fifth of a fresh fit's, so a few minutes refine the weights instead of overwriting them."""


def pretrained_start(cfg: FitConfig) -> FitConfig:
    """The settings with the start a user of the defaults expects.

    * No ``init`` given, the preset of the shipped default weights
      (:data:`~est_stfm.models.pretrained.DEFAULT_MODEL`) and no overrides: start from them.
    * Starting from weights: their preset as ``model`` and their ``base`` unless given (weights
      trained to correct FSDAF + consistency would be wrong on another base: a different one
      is an error), and :data:`FINE_TUNE_LR` unless ``lr`` is given.
    """
    from est_stfm.models.checkpoint import read_metadata
    from est_stfm.models.pretrained import DEFAULT_MODEL, PRETRAINED

    given = cfg.model_fields_set
    update: dict[str, Any] = {}
    default = PRETRAINED.get(DEFAULT_MODEL)
    if "init" not in given and default and cfg.model == default.preset and not cfg.overrides:
        update["init"] = DEFAULT_MODEL
    init = update.get("init", cfg.init)
    if init is None:
        return cfg
    where = PRETRAINED[init].directory if init in PRETRAINED else Path(init)
    try:
        meta = read_metadata(where)
    except EstStfmError:
        return cfg  # not a model folder: initial_model says so
    base = (meta.get("fit") or {}).get("base", "change")
    if "model" not in given and meta.get("preset"):
        update["model"] = meta["preset"]  # what is trained is the init's preset
    if "base" not in given:
        update["base"] = base
    elif cfg.base != base:
        raise EstStfmError(
            f"--init {init} corrects the base {base}; --base {cfg.base} would start it on "
            f"another: leave --base out (or give --base {base})"
        )
    if "lr" not in given:
        update["lr"] = FINE_TUNE_LR
    return cfg.model_copy(update=update)


def make_fit_config(values: dict[str, Any]) -> FitConfig:
    """Validate ``values`` into a :class:`FitConfig`, with a one-line error."""
    try:
        return FitConfig.model_validate(values)
    except pydantic.ValidationError as exc:
        raise EstStfmError(f"invalid fit setting {condense(exc)}") from None


def read_fit_config(path: str | Path) -> dict[str, Any]:
    """The settings written in a fit config YAML file (not yet validated)."""
    data = read_yaml(path, "fit config")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EstStfmError(f"{path} must be a mapping of fit settings, e.g. 'epochs: 30'")
    unknown = [k for k in data if k not in FitConfig.model_fields]
    if unknown:
        known = ", ".join(FitConfig.model_fields)
        raise EstStfmError(f"{path}: unknown fit setting {unknown[0]!r}; known: {known}")
    return data


def write_fit_config(path: str | Path, cfg: FitConfig) -> None:
    """Save the resolved config as YAML (atomically)."""
    text = "# resolved est-stfm fit settings\n" + yaml.safe_dump(
        cfg.model_dump(mode="json"), sort_keys=False
    )
    atomic_write_text(path, text)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` (values parsed as YAML) as a dict of model config overrides."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EstStfmError(
                f"--set {item!r} must look like KEY=VALUE, e.g. --set attention=dense"
            )
        out[key.strip()] = yaml.safe_load(value)
    return out


def saved_fit_config(out: str | Path) -> FitConfig:
    """The settings of the interrupted run in the output folder ``out`` (its training state)."""
    path = Path(out) / STATE_FILE
    info = load_train_info(path)
    try:
        return FitConfig.model_validate(info["config"])
    except (KeyError, TypeError, pydantic.ValidationError):
        raise EstStfmError(
            f"{path} holds no valid fit settings: start a new run without --resume"
        ) from None


def _shown(value: Any) -> str:
    """A setting's value as a message shows it."""
    if value is None:
        return "not set"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)


def _comparable(key: str, value: Any) -> Any:
    """The value of setting ``key`` as compared: held-out dates in any order are the same."""
    return sorted(set(value)) if key == "holdout" else value


def _check_unchanged(saved: FitConfig, values: dict[str, Any], out: str | Path) -> None:
    """Settings given for a resumed run must equal the saved ones; else one line naming each."""
    wanted = make_fit_config({**saved.model_dump(), **values})
    shown_saved, shown_wanted = saved.model_dump(mode="json"), wanted.model_dump(mode="json")
    differ = [
        f"{key} saved {_shown(shown_saved[key])}, given {_shown(shown_wanted[key])}"
        for key in values
        if _comparable(key, getattr(wanted, key)) != _comparable(key, getattr(saved, key))
    ]
    if differ:
        raise EstStfmError(
            f"--resume continues the run saved in {out} with its own settings, but "
            f"{'; '.join(differ)}: give the saved values (or none), or start a new run in "
            "another --out folder"
        )


def resolve_fit_config(
    given: dict[str, Any], config: str | Path | None, resume: bool, out: str | Path
) -> FitConfig:
    """The settings of a fit: the options a user gave (``None`` values: not given) over a config
    file. With ``resume``, the settings saved in ``out``: given settings must equal them."""
    given = {k: v for k, v in given.items() if v is not None}
    values = {**(read_fit_config(config) if config else {}), **given}
    if not resume:
        return make_fit_config(values)
    saved = saved_fit_config(out)
    _check_unchanged(saved, values, out)
    return saved
