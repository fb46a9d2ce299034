"""Pretrained weights shipped inside the package, by name, checked by SHA-256 before loading.

``est-stfm predict SCENE --model est-stfm-small-stf6`` predicts with no fit at all, and
``est-stfm fit SCENE --init est-stfm-small-stf6`` fine-tunes from them. Each entry says what the
weights are (preset, bands in order, value convention), what they were trained on, their
validation numbers, and where they are weak. Weights are read with safetensors (no pickle); a
file whose SHA-256 differs from the registry's is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from torch import nn

from est_stfm.errors import EstStfmError


@dataclass(frozen=True)
class PretrainedWeights:
    """One set of shipped weights and what a user must know before trusting them."""

    name: str
    preset: str
    bands: tuple[str, ...]
    """Band order the weights expect (the scene must have these bands in this order)."""
    values: str
    """The value convention of the inputs and outputs."""
    training_data: str
    weak: str
    """Where they are known to be weak."""
    sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """The model directory inside the installed package."""
        return Path(str(files("est_stfm") / "weights" / self.name))


PRETRAINED: dict[str, PretrainedWeights] = {}


def _register(weights: PretrainedWeights) -> None:
    PRETRAINED[weights.name] = weights


_register(
    PretrainedWeights(
        name="est-stfm-small-stf6",
        preset="est-stfm-small",
        bands=("blue", "green", "red", "nir", "swir1", "swir2"),
        values="reflectance 0-1 (after the scene's scale/offset), coarse on the fine grid",
        training_data=(
            "288 steps (batch 4, 96 px, 51 min on a shared 2-core CPU, seed 0) on 4 synthetic "
            "scenes (192 x 192, 6 dates, coarse factor 16) + CIA 2001-10-08/10-17 + Kranj "
            "2020-03-08/03-17; the benchmark targets CIA 2001-11-02 and Kranj 2020-04-02 held out"
        ),
        weak=(
            "short training on mostly synthetic data; trained only on 6-band Landsat-like "
            "reflectance with MODIS-like coarse images about 10-16x coarser; untested on other "
            "sensors, band orders, NDVI or temperature; always compare with naive-change"
        ),
        sha256="2b8cfe6ba71246ec2f0f2bb9319dc159ec22add14c8215f007dd1d3215c77cff",
        metrics={
            "validation_score": 0.811,
            "validation": "mean RMSE / naive-change RMSE over the held-out last date of each "
            "synthetic scene and CIA's right 15 % strip",
        },
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
    return [
        (w.name, w.preset, f"{len(w.bands)} bands ({', '.join(w.bands)}); {w.training_data}")
        for w in PRETRAINED.values()
    ]
