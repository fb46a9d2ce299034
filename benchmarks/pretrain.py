"""Train the shipped pretrained weights (``est-stfm-small-stf6``) and print what they saw.

Training data (6-band reflectance only, every date the benchmark uses as a target held out):

* 4 synthetic scenes (``est_stfm.datasets.synthetic``, 192 x 192 px, 6 dates, coarse factor 16,
  seeds 101-104, a flood in two of them);
* CIA (``../shared/data/cia_e2starfm_3dates``): 2001-10-08 and 2001-10-17 (2001-11-02, the
  benchmark target, held out);
* Kranj (``benchmarks/scenes/kranj_imagefusion_2020``, made by ``prepare_data.py``): 2020-03-08
  and 2020-03-17 (2020-04-02, the benchmark target, held out).

Usage::

    python benchmarks/pretrain.py --out runs/pretrain --minutes 45
    # then copy model.safetensors + model.json into src/est_stfm/weights/est-stfm-small-stf6/
    # and update the sha256 in src/est_stfm/models/pretrained.py (printed below)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from est_stfm.datasets import make_synthetic_scene
from est_stfm.scene import load_scene, save_scene
from est_stfm.scene.dates import parse_date
from est_stfm.training import FitConfig, fit

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
HOLDOUT = ["2001-11-02", "2020-04-02"]
SYNTHETIC_DATES = [
    "2001-04-22",
    "2001-05-24",
    "2001-06-25",
    "2001-07-27",
    "2001-08-28",
    "2001-09-29",
]


def scenes(work: Path) -> list[Path]:
    """Write the synthetic scenes and the real scene files; return their paths."""
    out = []
    for i, seed in enumerate((101, 102, 103, 104)):
        out.append(
            make_synthetic_scene(
                work / f"synthetic_{seed}",
                height=192,
                width=192,
                dates=SYNTHETIC_DATES,
                factor=16,
                seed=seed,
                flood_from=-2 if i % 2 else None,
            )
        )
    cia = SHARED / "cia_e2starfm_3dates" / "derived"
    days = ["20011008", "20011017", "20011102"]
    if cia.is_dir():
        out.append(
            save_scene(
                work / "cia" / "scene.yaml",
                {parse_date(d): cia / f"L_{d}_50m.tif" for d in days},
                {parse_date(d): cia / f"M_{d}_50m.tif" for d in days},
                coarse_factor=10,
            )
        )
    kranj = HERE / "scenes" / "kranj_imagefusion_2020" / "scene.yaml"
    if kranj.is_file():
        out.append(kranj)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    paths = scenes(args.out / "data")
    print("training scenes:", *map(str, paths), sep="\n  ")
    cfg = FitConfig(
        model="est-stfm-small",
        minutes=args.minutes,
        patch_size=96,
        batch_size=4,
        lr=1e-3,
        patience=1000,
        holdout=[parse_date(d) for d in HOLDOUT],
        threads=args.threads,
    )
    hidden = cfg.holdout  # the held-out images are never opened, not even by the scene checks
    loaded = [load_scene(p, hidden_fine=hidden, hidden_coarse=hidden) for p in paths]
    _, result = fit(loaded, args.out / "model", cfg)
    print(result.metrics)
    weights = args.out / "model" / "model.safetensors"
    print("sha256", hashlib.sha256(weights.read_bytes()).hexdigest(), weights.stat().st_size)
    return None


if __name__ == "__main__":
    sys.exit(main())
