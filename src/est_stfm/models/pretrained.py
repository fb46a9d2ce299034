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


def load_pretrained(name: str) -> tuple[nn.Module, dict[str, Any]]:
    """The model ``name`` (eval mode, CPU) and its metadata, after checking the file's SHA-256."""
    from est_stfm.checkpoint import WEIGHTS, load_model

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
