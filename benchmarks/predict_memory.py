"""Peak memory and wall time of `est-stfm predict` on synthetic scenes of growing size.

    python benchmarks/predict_memory.py [--sizes 1024 2720x3200 8192] [--work DIR] [--methods ...]

For each size (``N`` or ``HxW``) it writes a 6-band int16 scene (fine reference, coarse
reference, coarse target) by tiling a seeded 1024 x 1024 synthetic scene window by window (never
the whole image in memory), then runs `python -m est_stfm predict` in a fresh child process per
(size, method) and reports the child's peak resident memory (ru_maxrss) and wall time.
`est-stfm-tiny` is an untrained model: weights do not change the time or memory of a forward
pass; any other name is passed to ``--model`` as is (``fsdaf+consistency``,
``est-stfm-any-tiny-mixed``: the scene file says ``coarse_factor: 16``). Prints a Markdown
table; needs about 2.5 GB of disk for the 8192 scene.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from est_stfm.datasets import make_synthetic_scene
from est_stfm.models import create_model
from est_stfm.models.checkpoint import save_model
from est_stfm.scene import load_scene, save_scene

BLOCK = 1024

_MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "rc = subprocess.run(sys.argv[1:]).returncode; w = time.perf_counter() - t; "
    "print(rc, w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def mirror_raster(path: Path, shape: tuple[int, int], out: Path) -> None:
    """Write ``out``: a ``(height, width)`` tiled GeoTIFF made of mirrored copies of the
    1024 x 1024 raster ``path``, written window by window (never whole in memory)."""
    height, width = shape
    with rasterio.open(path) as ds:
        block = ds.read()
        profile = ds.profile
    profile.update(
        width=width,
        height=height,
        BIGTIFF="IF_SAFER",
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        transform=from_origin(500000, 6000000, 30, 30),
    )
    with rasterio.open(out, "w", **profile) as dst:
        for r in range(0, height, BLOCK):
            for c in range(0, width, BLOCK):
                piece = block
                if (r // BLOCK) % 2:
                    piece = piece[:, ::-1]
                if (c // BLOCK) % 2:
                    piece = piece[:, :, ::-1]
                h, w = min(BLOCK, height - r), min(BLOCK, width - c)
                dst.write(np.ascontiguousarray(piece[:, :h, :w]), window=Window(c, r, w, h))


def _tile_scene(src_yaml: Path, shape: tuple[int, int], out: Path) -> Path:
    """A ``(height, width)`` scene made of mirrored copies of the 1024 x 1024 source scene."""
    src = load_scene(src_yaml)
    ref, tgt = src.pairs_dates()[2], src.pairs_dates()[3]
    files = {
        "fine_ref.tif": src.fine[ref],
        "coarse_ref.tif": src.coarse[ref],
        "coarse_tgt.tif": src.coarse[tgt],
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        mirror_raster(path, shape, out / name)
    return save_scene(
        out / "scene.yaml",
        fine={ref: out / "fine_ref.tif"},
        coarse={ref: out / "coarse_ref.tif", tgt: out / "coarse_tgt.tif"},
        scale=src.scale,
        coarse_factor=16,
    )


def _shape(text: str) -> tuple[int, int]:
    """``"N"`` or ``"HxW"`` as ``(height, width)``."""
    h, _, w = text.partition("x")
    return int(h), int(w or h)


def _tiles(n: int) -> int:
    """Tiles along a side of ``n`` pixels (512 px tiles, 64 px overlap)."""
    return len(range(0, n - 512, 448)) + 1 if n > 512 else 1


def measure(cmd: list[str]) -> tuple[float, float]:
    """``(wall seconds, peak resident MiB)`` of ``cmd`` run in a fresh child process."""
    res = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True)
    rc, wall, rss_kib = res.stdout.split()[-3:]
    if rc != "0":
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr}")
    return float(wall), int(rss_kib) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=_shape, nargs="+", default=[(1024, 1024), (8192, 8192)])
    ap.add_argument("--methods", nargs="+", default=["naive-change", "est-stfm-tiny"])
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="est-stfm-mem-"))
    dates = ["2001-05-08", "2001-05-24", "2001-06-09", "2001-06-25"]
    src = make_synthetic_scene(work / "src", height=BLOCK, width=BLOCK, dates=dates, seed=0)
    model_dir = work / "est-stfm-tiny"
    save_model(model_dir, create_model("est-stfm-tiny"), {"bands": 6, "note": "untrained"})
    print("| scene | method | tiles (512 px, overlap 64) | wall time | peak RSS |")
    print("|---|---|---:|---:|---:|")
    for shape in args.sizes:
        size = f"{shape[0]}x{shape[1]}"
        scene = _tile_scene(src, shape, work / f"scene_{size}")
        date = load_scene(scene).pairs_dates()[0].isoformat()
        target = [d for d in load_scene(scene).coarse if d.isoformat() != date][0].isoformat()
        for method in args.methods:
            model = str(model_dir) if method == "est-stfm-tiny" else method
            out = work / f"pred_{size}_{method}.tif"
            wall, rss = measure(
                [
                    sys.executable,
                    "-m",
                    "est_stfm",
                    "predict",
                    str(scene),
                    "--date",
                    target,
                    "--model",
                    model,
                    "--out",
                    str(out),
                    "--quiet",
                ]
            )
            n = _tiles(shape[0]) * _tiles(shape[1])
            print(
                f"| {shape[0]} x {shape[1]} x 6 | {method} | {n} | {wall:.1f} s | {rss:.0f} MiB |",
                flush=True,
            )
            out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
