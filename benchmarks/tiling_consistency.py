"""How far a tiled prediction is from a whole-image one, and from the truth.

The channel attention normalises over the pixels of its input, so a network's tile is not
bit-identical to a whole-image pass. This prints, for a trained network (the shipped pretrained
weights by default) on a synthetic scene, the RMS difference between the tiled and the whole-image
predictions and the RMSE of each against the held-out truth.

    python benchmarks/tiling_consistency.py [--model est-stfm-small-stf6] [--tile 128]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from est_stfm.datasets import make_synthetic_scene
from est_stfm.evaluation import read_reflectance
from est_stfm.inference.predict import fuse, predict_to_file
from est_stfm.methods import resolve_method
from est_stfm.scene import load_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="est-stfm-small-stf6")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--overlap", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scene = load_scene(make_synthetic_scene(Path(tmp), height=args.size, width=args.size))
        dates = scene.pairs_dates()
        target, reference = dates[len(dates) // 2], dates[len(dates) // 2 - 1]
        method = resolve_method(args.model, scene)
        whole = fuse(scene, target, method, reference)
        out = Path(tmp) / "tiled.tif"
        predict_to_file(scene, target, method, out, reference, tile=args.tile, overlap=args.overlap)
        tiled, _ = read_reflectance(out)
        truth, valid = scene.read_fine(target)
    ok = valid & whole.valid

    def rms(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sqrt(np.mean((a[:, ok] - b[:, ok]) ** 2)))

    print(f"{args.model} on a {args.size} px synthetic scene, {target} from {reference}")
    print(f"tiles {args.tile} px, overlap {args.overlap} px")
    print(f"RMS tiled - whole: {rms(tiled, whole.image):.5f} (file quantised to 1e-4)")
    print(f"RMSE whole vs truth: {rms(whole.image, truth):.5f}")
    print(f"RMSE tiled vs truth: {rms(tiled, truth):.5f}")


if __name__ == "__main__":
    main()
