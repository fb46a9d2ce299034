"""Pretrained weights shipped inside the package, by name, checked by SHA-256 before loading.

``est-stfm predict SCENE --model est-stfm-small-stf6`` predicts with no fit at all, and
``est-stfm fit SCENE --init est-stfm-small-stf6`` fine-tunes from them. Each entry says what a
user must know that the weights' files cannot (value convention, where the training scenes came
from, where the weights are weak, the SHA-256); every fact their own ``model.json`` records
(preset, bands, training dates and length, held-out dates, validation score) is read from it, so
the description cannot drift from the weights. Weights are read with safetensors (no pickle); a
file whose SHA-256 differs from the registry's is refused.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any

from torch import nn

from est_stfm.errors import EstStfmError

DEFAULT_MODEL = "est-stfm-any-tiny-mixed"
"""What ``est-stfm predict`` uses without ``--model``: band-agnostic weights pretrained on
synthetic scenes and seven small real ones, correcting ``fsdaf+consistency`` (any band count
and unit)."""

VALIDATION_MODES = {"dates": "a held-out date", "spatial": "a spatial hold-out", "none": "none"}
"""How ``model.json``'s validation modes read in a description."""


@dataclass(frozen=True)
class TrainingRecord:
    """What the weights' ``model.json`` records about them and their training."""

    preset: str
    bands: tuple[str, ...]
    """Band order the weights expect (the scene must have these bands in this order)."""
    training_dates: tuple[str, ...]
    holdout: tuple[str, ...]
    """Dates never trained on (the benchmark targets)."""
    steps: int
    batch_size: int
    patch_size: int
    seconds: float
    seed: int
    validation_score: float | None
    """Best validation RMSE / naive-change RMSE (mean over the validated scenes)."""
    validation_modes: tuple[str, ...]
    """How each training scene was validated: ``dates``, ``spatial`` or ``none``."""

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> TrainingRecord:
        """The record of a ``model.json`` as :func:`~est_stfm.models.checkpoint.read_metadata`
        returns it; a one-line error if a field is missing."""
        try:
            fit, metrics = meta["fit"], meta["metrics"]
            return cls(
                preset=meta["preset"],
                bands=tuple(meta["band_descriptions"]),
                training_dates=tuple(meta["training_dates"]),
                holdout=tuple(meta.get("holdout") or ()),
                steps=metrics["steps"],
                batch_size=fit["batch_size"],
                patch_size=fit["patch_size"],
                seconds=metrics["seconds"],
                seed=fit["seed"],
                validation_score=metrics["validation_score_best"],
                validation_modes=tuple(v["mode"] for v in meta["validation"]),
            )
        except (KeyError, TypeError) as exc:
            raise EstStfmError(
                f"pretrained weights' model.json lacks {exc}: reinstall est-stfm"
            ) from None

    def summary(self) -> str:
        """One line: length of training, held-out dates, validation score."""
        modes = Counter(self.validation_modes)
        validated = ", ".join(
            f"{VALIDATION_MODES.get(m, m)} on {n} scene{'s' * (n > 1)}" for m, n in modes.items()
        )
        score = "n/a" if self.validation_score is None else f"{self.validation_score:.3f}"
        return (
            f"{self.steps} steps (batch {self.batch_size} x {self.patch_size} px, "
            f"{self.seconds / 60:.0f} min, seed {self.seed}), {len(self.training_dates)} "
            f"training dates, held out {', '.join(self.holdout) or 'none'}; validation "
            f"{score} x naive-change RMSE ({validated})"
        )


@dataclass(frozen=True)
class PretrainedWeights:
    """One set of shipped weights: what their files record and what a user must know besides."""

    name: str
    values: str
    """The value convention of the inputs and outputs."""
    training_data: str
    """Where the training scenes came from (``model.json`` holds only their paths)."""
    weak: str
    """Where they are known to be weak."""
    sha256: str
    any_bands: bool = False
    """Band-agnostic weights (``est-stfm-any``): any band count and unit, not only
    :attr:`bands`."""

    @property
    def directory(self) -> Path:
        """The model directory inside the installed package."""
        return Path(str(files("est_stfm") / "weights" / self.name))

    @cached_property
    def record(self) -> TrainingRecord:
        """The facts of the weights' own ``model.json`` (read once)."""
        from est_stfm.models.checkpoint import read_metadata

        return TrainingRecord.from_metadata(read_metadata(self.directory))

    @property
    def preset(self) -> str:
        """The architecture preset (from ``model.json``)."""
        return self.record.preset

    @property
    def bands(self) -> tuple[str, ...]:
        """Band order the weights expect (from ``model.json``)."""
        return self.record.bands

    def description(self) -> str:
        """The line ``est-stfm models`` prints after the preset."""
        bands = f"{len(self.bands)} bands ({', '.join(self.bands)})"
        if self.any_bands:
            bands = "any band count and unit"
        return f"{bands}; {self.record.summary()}; trained on {self.training_data}"


PRETRAINED: dict[str, PretrainedWeights] = {}


def _register(weights: PretrainedWeights) -> None:
    PRETRAINED[weights.name] = weights


_register(
    PretrainedWeights(
        name="est-stfm-small-stf6",
        values="reflectance 0-1 (after the scene's scale/offset), coarse on the fine grid",
        training_data=(
            "4 synthetic scenes (192 x 192, 6 dates, coarse factor 16), CIA and Kranj on a "
            "shared 2-core CPU"
        ),
        weak=(
            "short training on mostly synthetic data; trained only on 6-band Landsat-like "
            "reflectance with MODIS-like coarse images about 10-16x coarser; untested on other "
            "sensors, band orders, NDVI or temperature; always compare with naive-change"
        ),
        sha256="2b8cfe6ba71246ec2f0f2bb9319dc159ec22add14c8215f007dd1d3215c77cff",
    )
)


_register(
    PretrainedWeights(
        name="est-stfm-any-tiny-synth",
        values=(
            "any unit and band count (each band normalised by its own F1/C1 median and mean "
            "absolute deviation), coarse on the fine grid; corrects fsdaf+consistency, so the "
            "scene needs coarse_factor"
        ),
        training_data=(
            "24 synthetic scenes only (benchmarks/pretrain_any.py, seed 2026: 1-13 band "
            "reflectance, NDVI and Kelvin, coarse factors 8-32, events, clouds, sensor "
            "differences); no real image, so every real date is unseen"
        ),
        weak=(
            "an hour of pretraining on one CPU core on synthetic scenes only: on real scenes its "
            "full correction is mostly harmful (it pulls fsdaf+consistency back toward "
            "naive-change), so predict checks it on the scene's own pairs and usually keeps "
            "the base alone (protocol v3 in the README); FSDAF's cost on large scenes"
        ),
        sha256="858d344c3f768da9a5aaa41f0a42019071f2d58ec455daa17a98df8fb0ec1eb0",
        any_bands=True,
    )
)


_register(
    PretrainedWeights(
        name="est-stfm-any-tiny-mixed",
        values=(
            "any unit and band count (each band normalised by its own F1/C1 median and mean "
            "absolute deviation), coarse on the fine grid; corrects fsdaf+consistency, so the "
            "scene needs coarse_factor"
        ),
        training_data=(
            "est-stfm-any-tiny-synth, then 42 more minutes on one CPU core "
            "(benchmarks/pretrain_real.py): half the patches from its 24 synthetic scenes, half "
            "from every pair date of the seven real protocol-v3 scenes (CIA, LGC, Kranj, "
            "realset1, Yanco LST, iFSDAF NDVI, eo-learn S2; data licences vary, see "
            "../shared/data); its protocol-v3 score is that of the same recipe run without "
            "each scene (row est-stfm-any-tiny-mixed-heldout)"
        ),
        weak=(
            "short CPU pretraining on seven small real scenes: on a scene it never saw, its "
            "full correction still hurts about half the time (CIA, LGC, realset1, Yanco LST "
            "in the held-out-scene benchmark), so predict checks it on the scene's own pairs "
            "and often keeps the base alone; with one pair date nothing can be checked and the "
            "base alone is used; FSDAF's cost on large scenes"
        ),
        sha256="cc9892de159fb631fa34ac9903b7b0519cd259caad12e9a0afb1087b4604bd70",
        any_bands=True,
    )
)


def load_pretrained(name: str) -> tuple[nn.Module, dict[str, Any]]:
    """The model ``name`` (eval mode, CPU) and its metadata, after checking the file's SHA-256."""
    from est_stfm.models.checkpoint import WEIGHTS, load_model

    entry = PRETRAINED.get(name)
    if entry is None:
        known = ", ".join(PRETRAINED) or "none"
        raise EstStfmError(f"no pretrained weights named {name!r} (shipped: {known})")
    path = entry.directory / WEIGHTS
    if not path.is_file():
        raise EstStfmError(f"pretrained weights {name} are missing from the install ({path})")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry.sha256:
        raise EstStfmError(
            f"pretrained weights {path} have SHA-256 {digest[:12]}..., expected "
            f"{entry.sha256[:12]}...: the file is damaged; reinstall est-stfm"
        )
    model, meta = load_model(entry.directory)
    return model, {**meta, "pretrained": entry.name}


def describe_pretrained() -> list[tuple[str, str, str]]:
    """(name, preset, one-line summary) for every shipped set of weights."""
    return [(w.name, w.preset, w.description()) for w in PRETRAINED.values()]
