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

Usage (one command; run it again with the same arguments to resume after an interruption)::

    python benchmarks/pretrain_any.py --out runs/pretrain-any --minutes 45
    # then copy model.safetensors + model.json into
    # src/est_stfm/weights/est-stfm-any-tiny-synth/ and record the printed sha256 in
    # src/est_stfm/models/pretrained.py
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from est_stfm.datasets.pretraining import pretraining_scenes
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, fit
from est_stfm.training.state import STATE_FILE


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
    args = parser.parse_args()
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
    weights = model_dir / "model.safetensors"
    print("sha256", hashlib.sha256(weights.read_bytes()).hexdigest(), weights.stat().st_size)


if __name__ == "__main__":
    sys.exit(main())
