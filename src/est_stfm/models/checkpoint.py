"""Saved models: safetensors weights + JSON metadata, written atomically, loaded without pickle.

A model directory holds ``model.safetensors`` (the tensors) and ``model.json`` (format tag,
package version, the model config that rebuilds the architecture, bands, scale, training dates,
metrics). Each file is written to a temporary name in the same directory and renamed into place,
so an interrupted save never leaves a half-written file, and ``model.json`` is written last.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_target, atomic_write_text
from est_stfm.models.factory import model_from_config

FORMAT = "est-stfm-model/1"
WEIGHTS = "model.safetensors"
METADATA = "model.json"


def save_model(model_dir: str | Path, model: torch.nn.Module, metadata: dict[str, Any]) -> Path:
    """Save weights and metadata of a registry-built model into ``model_dir``."""
    from est_stfm import __version__

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_target(model_dir / WEIGHTS) as tmp:
        save_file(state, str(tmp))
    meta = {
        "format": FORMAT,
        "version": __version__,
        "preset": getattr(model, "preset", None),
        "config": model.config.model_dump(mode="json"),
        **metadata,
    }
    atomic_write_text(model_dir / METADATA, json.dumps(meta, indent=2, default=str) + "\n")
    return model_dir


def load_model(model_dir: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a saved model (eval mode, CPU) and return it with its metadata."""
    model_dir = Path(model_dir)
    meta_path, weights_path = model_dir / METADATA, model_dir / WEIGHTS
    if not meta_path.is_file() or not weights_path.is_file():
        raise EstStfmError(
            f"no saved model in {model_dir} (expected {METADATA} and {WEIGHTS}; "
            "train one with `est-stfm fit SCENE.yaml --out DIR`)"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise EstStfmError(f"{meta_path} is not valid JSON ({exc.msg}): re-run fit") from None
    if meta.get("format") != FORMAT:
        raise EstStfmError(f"{meta_path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    model = model_from_config(meta["config"], preset=meta.get("preset") or "custom")
    try:
        state = load_file(str(weights_path))
    except SafetensorError as exc:
        raise EstStfmError(f"{weights_path} is not a readable safetensors file ({exc})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise EstStfmError(
            f"{weights_path} does not match its config ({len(missing)} missing, "
            f"{len(unexpected)} unexpected tensors): the directory is corrupted, re-run fit"
        )
    model.eval()
    return model, meta
