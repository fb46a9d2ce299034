"""Pretrain the band-agnostic EST-STFM correction (``est-stfm-any-tiny``) on synthetic scenes only.

What the weights see: ``--scenes`` synthetic scenes from
:func:`est_stfm.datasets.pretraining.pretraining_scenes` (seeded by ``--seed``: 1-13 band
reflectance, NDVI and Kelvin scenes, 128-256 px, 3-6 dates, coarse factors 8-32, events, clouds,
coarse-sensor gain/bias/band leakage/misregistration/PSF/noise). **No real image**: every case
of the real-data benchmark (protocol v3) is a date these weights never saw.

The network learns a correction on top of the classic base ``--base`` (``fsdaf+consistency``
by default: the strongest single classic method of protocol v3), so the shipped method is
"FSDAF + consistency step + pretrained EST-STFM correction". Every patch takes
``bands_per_sample`` bands of its scene, so scenes of any band count share a batch.

Usage (one command; run it again with the same arguments to resume after an interruption: the
base's shifts are cached in OUT/model/base_cache, so a resumed run starts training at once)::

    python benchmarks/pretrain_any.py --out runs/pretrain-any --minutes 75
    python benchmarks/pretrain_any.py --out runs/pretrain-any --export \\
        src/est_stfm/weights/est-stfm-any-tiny-synth

``--export DIR`` writes the weights (the finished run's, or the latest checkpoint of a running
or interrupted one, said so in ``model.json``) as a model folder for any band count, and prints
the SHA-256 to record in :mod:`est_stfm.models.pretrained`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from est_stfm.datasets.pretraining import pretraining_scenes
from est_stfm.models import create_model
from est_stfm.models.checkpoint import METADATA, WEIGHTS, load_model, save_model
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, fit
from est_stfm.training.state import STATE_FILE, load_train_state


def _export(run: Path, out: Path) -> None:
    """Write ``run``'s weights as a model folder for any band count; print the SHA-256."""
    model_dir = run / "model"
    if (model_dir / WEIGHTS).is_file() and not (model_dir / STATE_FILE).is_file():
        model, meta = load_model(model_dir)
        meta["checkpoint"] = "the finished run"
    else:
        parts, info = load_train_state(model_dir / STATE_FILE)
        cfg = FitConfig.model_validate(info["config"])
        model = create_model(cfg.model)
        model.load_state_dict(parts["model"])
        loop = info["loop"]
        scenes = sorted(str(p) for p in (run / "data").glob("scene_*/scene.yaml"))
        meta = {
            "scene": scenes,
            "training_dates": [],
            "holdout": [],
            "fit": cfg.model_dump(mode="json"),
            "validation": [{"scene": s, "mode": "none", "dates": []} for s in scenes],
            "metrics": {
                "validation_score_start": None,
                "validation_score_best": None,
                "best_epoch": loop["epoch"],
                "best_is_base": False,
                "epochs": loop["epoch"],
                "steps": loop["step"],
                "seconds": round(loop["elapsed"], 1),
                "samples_per_second": round(loop["step"] * cfg.batch_size / loop["elapsed"], 2),
            },
            "checkpoint": (
                f"step {loop['step']} of a {cfg.minutes}-minute run (its latest saved state; "
                "the learning rate had not decayed to 0)"
            ),
        }
    dates = _synthetic_dates(run)
    keep = {k: v for k, v in meta.items() if k not in ("format", "version", "preset", "config")}
    keep.update(
        bands=None,
        scale=1.0,
        unit="any",
        band_descriptions=[],
        training_dates=dates,
        scene=[Path(s).parent.name for s in _as_list(keep.get("scene"))],
        validation=[
            {**v, "scene": Path(v["scene"]).parent.name} for v in keep.get("validation", [])
        ],
        training_data="synthetic scenes only (benchmarks/pretrain_any.py); no real image",
    )
    save_model(out, model, keep)
    weights = out / WEIGHTS
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    print(json.dumps({"export": str(out), "checkpoint": keep["checkpoint"]}))
    print("sha256", digest, weights.stat().st_size, "bytes;", (out / METADATA).name, "written")


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _synthetic_dates(run: Path) -> list[str]:
    """Every fine date of the synthetic scenes (all trained on)."""
    dates: set[str] = set()
    for path in (run / "data").glob("scene_*/scene.yaml"):
        dates.update(str(d) for d in load_scene(path).dates)
    return sorted(dates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--base", default="fsdaf+consistency")
    parser.add_argument("--model", default="est-stfm-any-tiny")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--patch", type=int, default=96, help="training patch side (px)")
    parser.add_argument("--batch", type=int, default=6, help="patches per step")
    parser.add_argument(
        "--validation",
        default="none",
        help="none (default: the last weights are kept; the real test is protocol v3, whose "
        "dates these weights never saw) or spatial (a strip of every synthetic pair: slow)",
    )
    parser.add_argument("--export", type=Path, help="write the weights as a model folder here")
    args = parser.parse_args()
    if args.export:
        _export(args.out, args.export)
        return
    data = args.out / "data"
    paths = sorted(data.glob("scene_*/scene.yaml"))
    if len(paths) != args.scenes:
        paths = pretraining_scenes(data, args.scenes, seed=args.seed)
    print(f"{len(paths)} synthetic training scenes in {data}")
    cfg = FitConfig(
        model=args.model,
        base=args.base,
        minutes=args.minutes,
        patch_size=args.patch,
        batch_size=args.batch,
        bands_per_sample=3,
        lr=1e-3,
        patience=1000,
        validation=args.validation,
        seed=args.seed,
        threads=args.threads,
    )
    model_dir = args.out / "model"
    resume = (model_dir / STATE_FILE).exists()
    _, result = fit([load_scene(p) for p in paths], model_dir, cfg, resume=resume)
    print(result.metrics)


if __name__ == "__main__":
    sys.exit(main())
