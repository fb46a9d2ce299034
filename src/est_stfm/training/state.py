"""The resumable training state: one safetensors file, written atomically, read without pickle.

``OUT/train_state.safetensors`` holds the model's weights (``model.*``), the best weights so far
(``best.*``), the moving average of the weights when the run keeps one (``average.*``), the
optimiser's tensors (``opt.<param index>.<name>``) and torch's random state
(``rng.torch``); its safetensors metadata holds, as JSON, the optimiser's hyper-parameters and
the loop's counters (epoch, step, position in the epoch, best score, log rows, elapsed seconds,
the fit config). The file is written to a temporary name and renamed into place, so a run killed
at any moment (even ``kill -9``) leaves either the previous state or the new one, never a broken
file. It is removed when the run finishes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_target

STATE_FILE = "train_state.safetensors"
STATE_FORMAT = "est-stfm-train-state/1"


def _tensors(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in state.items()}


def save_train_state(
    out_dir: Path,
    model_state: dict[str, torch.Tensor],
    best_state: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    info: dict[str, Any],
    average_state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write the full training state to ``out_dir/train_state.safetensors`` atomically."""
    opt = optimizer.state_dict()
    tensors = {**_tensors("model", model_state), **_tensors("best", best_state)}
    if average_state is not None:
        tensors.update(_tensors("average", average_state))
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in opt["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    tensors["rng.torch"] = torch.get_rng_state()
    metadata = {
        "format": STATE_FORMAT,
        "info": json.dumps(info),
        "param_groups": json.dumps(opt["param_groups"]),
        "opt_scalars": json.dumps(scalars),
    }
    path = out_dir / STATE_FILE
    with atomic_target(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def _missing(path: Path) -> EstStfmError:
    return EstStfmError(
        f"nothing to resume: {path} not found (a finished run removes it; "
        "start a new run without --resume)"
    )


def _checked_metadata(path: Path, meta: dict[str, str] | None) -> dict[str, str]:
    """The file's safetensors metadata, checked to be a training state's."""
    meta = meta or {}
    if meta.get("format") != STATE_FORMAT:
        raise EstStfmError(f"{path} has format {meta.get('format')!r}, expected {STATE_FORMAT}")
    return meta


def load_train_info(path: Path) -> dict[str, Any]:
    """The ``info`` of a training state (fit config and loop counters), without its tensors."""
    if not path.is_file():
        raise _missing(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = _checked_metadata(path, fh.metadata())
    except (SafetensorError, OSError) as exc:
        raise EstStfmError(f"{path} is not a readable training state ({exc})") from None
    return json.loads(meta["info"])


def load_train_state(path: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """``({"model": ..., "best": ..., "average": ..., "opt": optimiser state dict, "rng": ...},
    info)``; ``average`` is empty when the run keeps no moving average."""
    if not path.is_file():
        raise _missing(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata()
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError) as exc:
        raise EstStfmError(f"{path} is not a readable training state ({exc})") from None
    meta = _checked_metadata(path, meta)
    parts: dict[str, dict[str, torch.Tensor]] = {"model": {}, "best": {}, "average": {}}
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        kind, _, rest = key.partition(".")
        if kind in parts:
            parts[kind][rest] = value
        elif kind == "opt":
            index, _, name = rest.partition(".")
            opt_state.setdefault(int(index), {})[name] = value
    for index, entry in json.loads(meta["opt_scalars"]).items():
        opt_state.setdefault(int(index), {}).update(entry)
    parts["opt"] = {"state": opt_state, "param_groups": json.loads(meta["param_groups"])}
    parts["rng"] = tensors["rng.torch"]
    return parts, json.loads(meta["info"])
