"""The benchmark protocol: a versioned YAML file of cases (what to predict) and methods (how).

A **case** names a scene, a target date whose fine image is the truth, an optional reference
date, the dates a method may train on and the metric settings; a **method** is a classic method
by name, or a model to ``fit`` with its settings (see ``benchmarks/protocol-v1.yaml``). Every case
is run with every method. Format version 2 lists **scenes** instead of cases: every pair date of
a scene becomes a target in turn (leave one date out, :mod:`est_stfm.benchmark.leave_one_out`).
This module reads and checks the file and works out each case's dates; it runs nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from est_stfm.errors import EstStfmError, condense
from est_stfm.io.yaml import read_yaml
from est_stfm.methods.classic import CLASSIC_METHODS
from est_stfm.methods.registry import is_classic_name
from est_stfm.models.pretrained import PRETRAINED
from est_stfm.scene import Scene
from est_stfm.scene.dates import DateLike, parse_date

SUPPORTED_VERSIONS = (1, 2)
"""Protocol versions this runner understands."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"
"""Case and method ids: they name folders and CSV cells."""

PairChoice = Literal["earlier", "later", "both"]
"""The reference pairs of a leave-one-date-out case: the nearest earlier pair, the nearest later
pair, or both."""


class CaseSpec(BaseModel):
    """One case: a scene, the target date (the truth) and how to score it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    scene: str = Field(min_length=1)
    target: dt.date
    reference: dt.date | None = None
    pairs: PairChoice | None = None
    """Version 2: which pairs predict the target (set by the leave-one-date-out expansion)."""
    group: str = ""
    """Cases of one group share their fitted models (same scene and held-out target)."""
    scene_id: str = ""
    """Version 2: the id of the protocol scene the case was expanded from."""
    quick: bool = False
    """True for the cases ``--quick`` runs."""
    train_dates: list[dt.date] | None = None
    data_range: float | Literal["truth"] = 1.0
    ergas_ratio: float = Field(gt=0, le=1)
    unit: str = "reflectance"
    coarse: Literal["real", "simulated"] = "real"
    description: str = ""

    @field_validator("target", "reference", mode="before")
    @classmethod
    def _one_date(cls, value: Any) -> Any:
        return None if value is None else parse_date(value)

    @field_validator("train_dates", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        if value is None or not isinstance(value, (list, tuple)):
            return value
        return [parse_date(v) for v in value]

    @model_validator(mode="after")
    def _check(self) -> CaseSpec:
        if self.reference == self.target:
            raise ValueError(f"reference {self.reference} must differ from the target")
        if isinstance(self.data_range, float) and self.data_range <= 0:
            raise ValueError("data_range must be positive (or `truth`: max - min of the truth)")
        if self.train_dates is not None and self.target in self.train_dates:
            raise ValueError(f"train_dates must not contain the target {self.target}")
        return self


def known_method(name: str) -> bool:
    """True for a classic method's name (``+consistency`` allowed) or shipped weights' name."""
    return is_classic_name(name) or name in PRETRAINED


class MethodSpec(BaseModel):
    """One method: a classic one by name, or a model trained with ``fit`` settings."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    method: str | None = None
    fit: dict[str, Any] | None = None
    min_train_dates: int = Field(2, ge=1)
    timeout_minutes: float | None = Field(None, gt=0)
    quick: bool = True
    """False: ``--quick`` leaves the method out."""
    cases: Literal["all", "quick"] = "all"
    """``quick``: the method runs on the quick cases only, even in a full run (costly methods)."""
    weights_by_scene: dict[str, str] | None = None
    """Model folders by scene id (relative to the protocol file): each scene is predicted by its
    own weights, e.g. weights pretrained without that scene. A scene without an entry, or whose
    folder is missing, is skipped with the reason."""

    @model_validator(mode="after")
    def _check(self) -> MethodSpec:
        if self.weights_by_scene is not None:
            if self.fit is not None or self.method is not None:
                raise ValueError("give weights_by_scene alone, without method or fit")
            return self
        if self.fit is None:
            name = self.method or self.id
            if not known_method(name):
                raise ValueError(
                    f"unknown method {name!r}: name one of {', '.join(CLASSIC_METHODS)} "
                    "(a classic one may end in +consistency), shipped weights (est-stfm models) "
                    "or give fit settings (e.g. fit: {model: est-stfm-tiny, minutes: 3})"
                )
            return self
        if self.method is not None:
            raise ValueError("give either method or fit, not both")
        if "holdout" in self.fit:
            raise ValueError("fit.holdout is set by the runner (the target and untrained dates)")
        from est_stfm.training import FitConfig  # imports torch: only for protocols that train

        try:
            FitConfig(**self.fit)
        except ValidationError as exc:
            problem = condense(exc, first_only=True)
            raise ValueError(
                f"fit.{problem}" if exc.errors()[0]["loc"] else f"fit: {problem}"
            ) from None
        return self

    @property
    def trainable(self) -> bool:
        """True when the method is fitted before it predicts."""
        return self.fit is not None

    def timeout_s(self) -> float | None:
        """Wall-clock limit of the fit process (the predict one has its own default)."""
        if self.timeout_minutes:
            return self.timeout_minutes * 60
        if self.fit and self.fit.get("minutes"):
            return float(self.fit["minutes"]) * 60 * 3 + 600
        return None


class SceneSpec(BaseModel):
    """Version 2: a scene whose every pair date is a target in turn, and how to score it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    scene: str = Field(min_length=1)
    data_range: float | Literal["truth"] = 1.0
    """Range of the data for PSNR and SSIM; ``truth``: max - min of each target's truth."""
    ergas_ratio: float = Field(gt=0, le=1)
    unit: str = "reflectance"
    coarse: Literal["real", "simulated"] = "real"
    description: str = ""
    targets: list[dt.date] | None = None
    """Only these pair dates are targets (default: every pair date)."""

    @field_validator("targets", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        if value is None or not isinstance(value, (list, tuple)):
            return value
        return [parse_date(v) for v in value]


class Protocol(BaseModel):
    """A versioned benchmark protocol: every case is run with every method.

    Version 1 lists ``cases``; version 2 lists ``scenes``, each expanded into leave-one-date-out
    cases with the reference choices in ``pairs``."""

    model_config = ConfigDict(extra="forbid")

    version: int
    name: str = ""
    description: str = ""
    cases: list[CaseSpec] = Field(default_factory=list)
    scenes: list[SceneSpec] = Field(default_factory=list)
    pairs: list[PairChoice] = Field(default_factory=lambda: ["earlier", "later", "both"])
    baseline: str = "naive-change"
    """Version 2: the method every other one is compared with in the aggregate table."""
    methods: list[MethodSpec] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value not in SUPPORTED_VERSIONS:
            known = ", ".join(map(str, SUPPORTED_VERSIONS))
            raise ValueError(f"version {value} is not supported by this est-stfm (known: {known})")
        return value

    @model_validator(mode="after")
    def _unique(self) -> Protocol:
        if self.version == 1 and (not self.cases or self.scenes):
            raise ValueError("version 1 lists cases (at least one) and no scenes")
        if self.version >= 2 and (not self.scenes or self.cases):
            raise ValueError(f"version {self.version} lists scenes (at least one) and no cases")
        for kind, ids in (
            ("case", [c.id for c in self.cases]),
            ("scene", [s.id for s in self.scenes]),
            ("method", [m.id for m in self.methods]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{kind} id {dupes[0]!r} appears more than once")
        return self


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate a protocol file; every problem is a one-line :class:`EstStfmError`."""
    path = Path(path)
    data = read_yaml(path, "protocol")
    if not isinstance(data, dict):
        raise EstStfmError(f"protocol {path}: expected a mapping with version, cases and methods")
    try:
        protocol = Protocol(**{str(k): v for k, v in data.items()})
    except ValidationError as exc:
        raise EstStfmError(f"protocol {path}: {condense(exc, first_only=True)}") from None
    for method in protocol.methods:
        if method.weights_by_scene:
            method.weights_by_scene = {
                sid: str((path.parent / folder).resolve())
                for sid, folder in method.weights_by_scene.items()
            }
    return protocol


@dataclass(frozen=True)
class CasePlan:
    """A case resolved on its scene: the dates a method trains on, holds out and starts from."""

    case: CaseSpec
    scene: Scene
    train: list[dt.date]
    holdout: list[dt.date]
    references: tuple[dt.date, ...]
    """The reference pair date(s) the prediction starts from: one, or one before and one after."""

    @property
    def reference(self) -> dt.date:
        """The first (or only) reference date."""
        return self.references[0]


def case_dates(case: CaseSpec, scene: Scene) -> tuple[list[dt.date], list[dt.date]]:
    """``(training dates, holdout dates)`` of a case on its scene.

    Training dates: the listed ``train_dates``, else every date with a fine and a coarse image
    except the target. Holdout: every other pair date, the target always included.
    """
    pairs = scene.pairs_dates()
    if case.target not in scene.fine or case.target not in scene.coarse:
        raise EstStfmError(
            f"case {case.id}: target {case.target} needs a fine (truth) and a coarse image in "
            f"{scene.path} (dates with both: {', '.join(map(str, pairs)) or 'none'})"
        )
    if case.train_dates is None:
        train = [d for d in pairs if d != case.target]
    else:
        missing = [d for d in case.train_dates if d not in pairs]
        if missing:
            raise EstStfmError(
                f"case {case.id}: training date {missing[0]} has no fine and coarse pair in "
                f"{scene.path}"
            )
        train = sorted(set(case.train_dates))
    holdout = [d for d in pairs if d not in train]
    return train, holdout


def chosen_pairs(case: CaseSpec, scene: Scene) -> tuple[dt.date, ...]:
    """The reference date(s) of a case: ``pairs`` (earlier, later or both nearest pairs), else
    the given ``reference``, else the nearest pair."""
    if case.pairs is None:
        reference = case.reference or scene.nearest_reference(case.target)
        if reference not in scene.pairs_dates():
            raise EstStfmError(f"case {case.id}: reference {reference} is not a pair date")
        return (reference,)
    before = [d for d in scene.pairs_dates() if d < case.target]
    after = [d for d in scene.pairs_dates() if d > case.target]
    wanted = {
        "earlier": before[-1:],
        "later": after[:1],
        "both": before[-1:] + after[:1] if before and after else [],
    }[case.pairs]
    if not wanted:
        raise EstStfmError(f"case {case.id}: no {case.pairs} reference pair for {case.target}")
    return tuple(wanted)


def plan_case(case: CaseSpec, scene: Scene) -> CasePlan:
    """The case's dates on ``scene``, its reference pair(s) checked."""
    train, holdout = case_dates(case, scene)
    return CasePlan(case, scene, train, holdout, chosen_pairs(case, scene))


def check_training_dates(
    saved: Iterable[DateLike], allowed: Sequence[dt.date], target: dt.date
) -> None:
    """Raise :class:`EstStfmError` unless every saved training date is allowed, not the target."""
    dates = [parse_date(d) for d in saved]
    if target in dates:
        raise EstStfmError(f"holdout violated: the model was trained on the target {target}")
    extra = [d for d in dates if d not in allowed]
    if extra:
        raise EstStfmError(f"holdout violated: the model was trained on {extra[0]}, not allowed")
