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
from est_stfm.io.atomic import atomic_target
from est_stfm.io.jsonfile import write_json
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
    write_json(model_dir / METADATA, meta, default=str)
    return model_dir


def read_metadata(model_dir: str | Path) -> dict[str, Any]:
    """The checked ``model.json`` of a saved model: a JSON object with this package's format tag,
    a ``config`` object and, when present, a ``preset`` name and a ``fit`` object. Anything else
    is a one-line :class:`EstStfmError`."""
    model_dir = Path(model_dir)
    meta_path, weights_path = model_dir / METADATA, model_dir / WEIGHTS
    if not meta_path.is_file() or not weights_path.is_file():
        raise EstStfmError(
            f"no saved model in {model_dir} (expected {METADATA} and {WEIGHTS}; "
            "train one with `est-stfm fit SCENE.yaml --out DIR`)"
        )
    damaged = "the folder is damaged or was not written by `est-stfm fit` (re-run fit)"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise EstStfmError(f"{meta_path} is not a text file: {damaged}") from None
    except OSError as exc:
        raise EstStfmError(f"cannot read {meta_path} ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise EstStfmError(f"{meta_path} is not valid JSON ({exc.msg}): {damaged}") from None
    if not isinstance(meta, dict):
        raise EstStfmError(
            f"{meta_path} holds a JSON {type(meta).__name__}, not an object: {damaged}"
        )
    if meta.get("format") != FORMAT:
        raise EstStfmError(f"{meta_path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    shapes = {"config": (dict,), "preset": (str, type(None)), "fit": (dict, type(None))}
    for key, types in shapes.items():
        if not isinstance(meta.get(key), types):
            what = "a name" if key == "preset" else "an object"
            found = json.dumps(meta[key])[:40] if key in meta else "nothing"
            raise EstStfmError(f"{meta_path}: {key!r} should be {what}, found {found}: {damaged}")
    return meta


def load_model(model_dir: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a saved model (eval mode, CPU) and return it with its metadata."""
    meta = read_metadata(model_dir)
    model = model_from_config(meta["config"], preset=meta.get("preset") or "custom")
    weights_path = Path(model_dir) / WEIGHTS
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise EstStfmError(f"{weights_path} is not a readable safetensors file ({exc})") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError:  # load_state_dict's error for tensors of another shape
        raise EstStfmError(
            f"{weights_path} holds tensors of other shapes than the config in {METADATA} says: "
            "the folder is damaged, re-run fit"
        ) from None
    if missing or unexpected:
        raise EstStfmError(
            f"{weights_path} does not match its config ({len(missing)} missing, "
            f"{len(unexpected)} unexpected tensors): the directory is corrupted, re-run fit"
        )
    model.eval()
    return model, meta
