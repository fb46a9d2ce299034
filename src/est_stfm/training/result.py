"""What a fit produced, as typed objects: :class:`FitResult` and the parts of it.

:meth:`FitResult.to_json` is the training metadata saved in ``model.json`` (beside the format,
version and model config that :func:`~est_stfm.models.checkpoint.save_model` adds);
:meth:`FitResult.read` reads it back from a model directory, so callers use attributes, never
string keys.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from est_stfm.errors import EstStfmError, condense
from est_stfm.models.checkpoint import FORMAT, METADATA
from est_stfm.training.config import FitConfig


@dataclass(frozen=True)
class FitMetrics:
    """How the fit went: validation scores (:mod:`~est_stfm.training.validate`), length and
    speed."""

    validation_score_start: float | None
    """The starting weights' score; None without validation pairs."""
    validation_score_best: float | None
    """The kept weights' score; None without validation pairs."""
    best_epoch: int
    """The epoch whose weights were kept (0: the starting weights or the base)."""
    best_is_base: bool
    """The kept weights are the model's base (its correction head at zero)."""
    epochs: int
    steps: int
    seconds: float
    samples_per_second: float
    """Training patches per second, all processes together."""
    start_strength: float = 1.0
    """When a fresh fit kept its starting candidates (``best_epoch`` 0): the strength of the
    correction validation preferred (0: the base). A fit from weights (``init``) that kept
    them saves them as given and leaves the strength to predict's pair check
    (:attr:`FitResult.kept_start`). 1.0 otherwise."""


@dataclass(frozen=True)
class ValidationSplit:
    """How one scene was validated (see :func:`~est_stfm.training.samples.split_scene`)."""

    scene: str
    mode: str
    """``dates``, ``spatial`` or ``none``."""
    dates: list[dt.date]
    """The held-out validation dates (mode ``dates``; empty otherwise)."""
    coarse_factor: float | None

    def to_json(self) -> dict[str, Any]:
        """The entry of ``model.json``'s ``validation`` list."""
        return {
            "scene": self.scene,
            "mode": self.mode,
            "dates": [d.isoformat() for d in self.dates],
            "coarse_factor": self.coarse_factor,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValidationSplit:
        """The inverse of :meth:`to_json` (also reads the single ``date`` of older files)."""
        days = data.get("dates") or ([data["date"]] if data.get("date") else [])
        dates = [dt.date.fromisoformat(d) for d in days]
        return cls(data["scene"], data["mode"], dates, data.get("coarse_factor"))


@dataclass(frozen=True)
class FitResult:
    """The data, settings, validation and metrics of one fit (``model.json`` without the model)."""

    bands: int
    scale: float
    """The fine images' encoding scale (predictions are written with it)."""
    unit: str
    band_descriptions: list[str | None]
    scenes: list[str]
    """The scene files trained on."""
    training_dates: list[dt.date]
    """Every date any image was read for, sorted (never a held-out date)."""
    config: FitConfig
    validation: list[ValidationSplit]
    metrics: FitMetrics
    world_size: int
    """Processes that trained together (DDP); 1 without torchrun."""
    rank_weight_sha256: list[str]
    """Each process's final weights digest, in rank order (all equal after a correct run)."""

    @property
    def holdout(self) -> list[dt.date]:
        """The dates never read."""
        return list(self.config.holdout)

    @property
    def kept_untrained(self) -> bool:
        """The fit kept its starting weights untrained: no training date could be held out to
        validate it (:func:`~est_stfm.training.fit.untestable`)."""
        no_date = "dates" not in self.validation_modes
        return self.config.validated_refinement and self.metrics.steps == 0 and no_date

    @property
    def kept_start(self) -> bool:
        """A fit from weights (``init``) kept them: no epoch beat them (by
        :data:`~est_stfm.training.validate.REFINE_MARGIN`) on validation, or nothing could
        validate. The weights are saved as given and ``model.json`` says ``"pair_check":
        true``, so predict checks their correction on the scene's pairs nearest the target, as
        it does for the weights themselves: such a fit predicts exactly what its start would."""
        return self.config.init is not None and self.metrics.best_epoch == 0

    @property
    def validation_modes(self) -> list[str]:
        """The distinct validation modes of the scenes, sorted."""
        return sorted({split.mode for split in self.validation})

    def to_json(self) -> dict[str, Any]:
        """The training metadata of ``model.json``, key for key in the saved order."""
        return {
            "bands": self.bands,
            "scale": self.scale,
            "unit": self.unit,
            "band_descriptions": list(self.band_descriptions),
            "scene": self.scenes[0] if len(self.scenes) == 1 else list(self.scenes),
            "training_dates": [d.isoformat() for d in self.training_dates],
            "holdout": [d.isoformat() for d in self.holdout],
            "fit": self.config.model_dump(mode="json"),
            "validation": [split.to_json() for split in self.validation],
            "metrics": dataclasses.asdict(self.metrics),
            "distributed": {
                "world_size": self.world_size,
                "rank_weight_sha256": list(self.rank_weight_sha256),
            },
            "pair_check": self.kept_start,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FitResult:
        """The inverse of :meth:`to_json` (other keys of ``model.json`` are ignored)."""
        scene = data["scene"]
        distributed = data["distributed"]
        return cls(
            bands=data["bands"],
            scale=data["scale"],
            unit=data["unit"],
            band_descriptions=list(data["band_descriptions"]),
            scenes=[scene] if isinstance(scene, str) else list(scene),
            training_dates=[dt.date.fromisoformat(d) for d in data["training_dates"]],
            config=FitConfig.model_validate(data["fit"]),
            validation=[ValidationSplit.from_json(v) for v in data["validation"]],
            metrics=FitMetrics(**data["metrics"]),
            world_size=distributed["world_size"],
            rank_weight_sha256=list(distributed["rank_weight_sha256"]),
        )

    @classmethod
    def read(cls, model_dir: str | Path) -> FitResult:
        """The result of the fit that saved ``model_dir`` (one-line errors)."""
        path = Path(model_dir) / METADATA
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EstStfmError(f"no saved model in {model_dir}: {METADATA} not found") from None
        except (OSError, ValueError) as exc:
            raise EstStfmError(f"{path} is not readable JSON ({exc}): re-run fit") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise EstStfmError(f"{path} is not an {FORMAT} file")
        try:
            return cls.from_json(data)
        except pydantic.ValidationError as exc:
            raise EstStfmError(f"{path}: invalid fit setting {condense(exc)}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise EstStfmError(
                f"{path} does not describe a fitted model (bad or missing {exc}): re-run fit"
            ) from None
