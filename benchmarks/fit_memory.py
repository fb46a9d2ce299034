"""Peak memory and wall time of `est-stfm fit` on a long series: images in memory or on disk.

    python benchmarks/fit_memory.py [--shape 2040x1720] [--dates 17] [--minutes 1] [--work DIR]

Writes a seeded 1024 x 1024 synthetic scene of ``--dates`` dates 16 days apart, mirrors every
fine and coarse image to ``--shape`` (default: a full CIA series, 17 dates of 2040 x 1720 x 6,
about 2.9 GB as float32), then runs `python -m est_stfm fit` in a fresh child process per
variant and reports its wall time and peak resident memory (ru_maxrss):

* ``in memory``: ``stack_memory_mib`` high enough to read every training date into memory (the
  behaviour before windowed reads);
* ``on disk``: the default (1024 MiB): the scene stays on disk and each patch is read from the
  files.

The model is ``est-stfm-tiny`` from scratch (its base is F1 + C2 - C1, no classic base runs:
with ``fsdaf+consistency`` each of the 51 training pairs would first need a whole-scene FSDAF
run); validation holds out the last date (predicted on the central 1024 px window).
Training throughput is read from each run's ``model.json``. Needs about 1.5 GB of disk.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import yaml
from predict_memory import measure, mirror_raster

from est_stfm.datasets import make_synthetic_scene
from est_stfm.scene import load_scene, save_scene

SOURCE = 1024
"""Side of the synthetic source scene that is mirrored to the benchmark's shape."""


def long_scene(work: Path, shape: tuple[int, int], count: int) -> Path:
    """A ``shape`` scene of ``count`` dates 16 days apart, mirrored from a synthetic one."""
    dates = [dt.date(2001, 3, 1) + dt.timedelta(days=16 * i) for i in range(count)]
    src = load_scene(make_synthetic_scene(work / "src", height=SOURCE, width=SOURCE, dates=dates))
    out = work / f"scene_{shape[0]}x{shape[1]}"
    out.mkdir(parents=True, exist_ok=True)
    fine, coarse = {}, {}
    for day in dates:
        fine[day], coarse[day] = out / f"fine_{day}.tif", out / f"coarse_{day}.tif"
        mirror_raster(src.fine[day], shape, fine[day])
        mirror_raster(src.coarse[day], shape, coarse[day])
    return save_scene(out / "scene.yaml", fine, coarse, scale=src.scale, coarse_factor=16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="2040x1720", help="HxW of every image")
    ap.add_argument("--dates", type=int, default=17)
    ap.add_argument("--minutes", type=float, default=1.0, help="training budget of each fit")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    args = ap.parse_args()
    h, _, w = args.shape.partition("x")
    shape = (int(h), int(w or h))
    work = args.work or Path(tempfile.mkdtemp(prefix="est-stfm-fitmem-"))
    scene = long_scene(work, shape, args.dates)
    gib = 2 * args.dates * 6 * shape[0] * shape[1] * 4 / 2**30
    print(f"{args.dates} dates of {shape[0]} x {shape[1]} x 6 ({gib:.2f} GiB as float32)")
    print("| images | wall time | peak RSS | training steps | samples/s |")
    print("|---|---:|---:|---:|---:|")
    for label, mib in (("in memory", 1 << 20), ("default (on disk above 1 GiB)", None)):
        out = work / ("fit_memory" if mib else "fit_default")
        config = work / f"{out.name}.yaml"
        config.write_text(yaml.safe_dump({} if mib is None else {"stack_memory_mib": mib}))
        cmd = [sys.executable, "-m", "est_stfm", "fit", str(scene), "--out", str(out)]
        cmd += ["--model", "est-stfm-tiny", "--minutes", str(args.minutes), "--quiet"]
        wall, rss = measure([*cmd, "--config", str(config)])
        metrics = json.loads((out / "model.json").read_text())["metrics"]
        print(
            f"| {label} | {wall:.0f} s | {rss:.0f} MiB | {metrics['steps']} "
            f"| {metrics['samples_per_second']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
