"""Time per date of a season fused in one run versus one ``est-stfm predict`` per date, on the
Kranj scene (real data: 3 Landsat pairs, 26 daily MODIS images), and the dask comparison.

    python benchmarks/season_speed.py [--model fsdaf] [--figure docs/kranj_season.png]

Needs ``benchmarks/scenes/kranj_imagefusion_2020`` (``python benchmarks/prepare_data.py``). Its
scene file lists MODIS on the pair dates only; this script writes
``benchmarks/scenes/kranj_season_2020/scene.yaml`` with the same fine images and every daily
MODIS image, then fuses every coarse date from the first to the last fine date:

1. one command: ``est-stfm predict SCENE --dates FIRST..LAST --out DIR --cube DIR.zarr
   --quicklook FIG`` (wall time of the whole command, per fused date);
2. one ``est-stfm predict --date D`` per fused date (wall time of each command, mean), and checks
   that each file equals the season's bit for bit;
3. ``fuse_xarray`` on the same series (rioxarray) with dask's synchronous scheduler and on a
   ``LocalCluster`` of 2 workers (threads, then processes): time and whether the bits agree.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from est_stfm.scene import load_scene, save_scene

REPO = Path(__file__).resolve().parents[1]
PREPARED = REPO / "benchmarks" / "scenes" / "kranj_imagefusion_2020" / "scene.yaml"
SEASON = REPO / "benchmarks" / "scenes" / "kranj_season_2020" / "scene.yaml"
MODIS = REPO.parent / "shared" / "data" / "kranj_imagefusion_2020" / "original" / "modis" / "filled"


def season_scene() -> Path:
    """The Kranj scene with every daily MODIS image (written next to the prepared one)."""
    if not PREPARED.exists():
        sys.exit(f"missing {PREPARED}: run python benchmarks/prepare_data.py first")
    prepared = load_scene(PREPARED)
    coarse = {}
    for path in sorted(MODIS.glob("2020*_kranj.tif")):
        coarse[dt.date(2020, 1, 1) + dt.timedelta(days=int(path.name[4:7]) - 1)] = path
    return save_scene(
        SEASON,
        fine=prepared.fine,
        coarse=coarse,
        scale=prepared.scale,
        coarse_factor=prepared.coarse_factor_given,
    )


def est_stfm(*args: object) -> float:
    """Run the command line in a fresh process; its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "est_stfm", *map(str, args)], check=True)
    return time.perf_counter() - start


def dask_comparison(scene_path: Path, model: str) -> None:
    """fuse_xarray: synchronous versus a 2-worker LocalCluster (threads, processes)."""
    import rioxarray
    import xarray as xr
    from dask.distributed import Client, LocalCluster

    from est_stfm import fuse_xarray

    scene = load_scene(scene_path)

    def series(images: dict) -> xr.DataArray:
        days = sorted(images)
        arrays = [rioxarray.open_rasterio(images[d], mask_and_scale=True) for d in days]
        time_ = xr.DataArray(np.array(days, "datetime64[ns]"), dims="time", name="time")
        return xr.concat(arrays, dim=time_)

    fused = fuse_xarray(
        series(scene.fine), series(scene.coarse), model, coarse_factor=scene.coarse_factor
    )
    start = time.perf_counter()
    plain = fused.compute(scheduler="synchronous").values
    print(f"fuse_xarray, synchronous: {time.perf_counter() - start:.2f} s for {len(plain)} dates")
    for processes in (False, True):
        start = time.perf_counter()
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None
            ) as cluster,
            Client(cluster),
        ):
            ready = time.perf_counter()
            got = fused.compute().values
            done = time.perf_counter()
        kind = "processes" if processes else "threads"
        same = np.array_equal(got, plain, equal_nan=True)
        print(
            f"fuse_xarray, LocalCluster 2 workers ({kind}): start {ready - start:.1f} s, "
            f"compute {done - ready:.2f} s, bit for bit equal to synchronous: {same}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fsdaf")
    parser.add_argument("--figure", type=Path, default=None, help="also keep the quick-look here")
    args = parser.parse_args()
    scene_path = season_scene()
    scene = load_scene(scene_path)
    first, last = min(scene.fine), max(d for d in scene.fine if d in scene.coarse)
    span = f"{first}..{last}"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "season"
        figure = args.figure or Path(tmp) / "season.png"
        whole = est_stfm(
            "predict", scene_path, "--dates", span, "--model", args.model, "--out", out,
            "--cube", Path(tmp) / "season.zarr", "--quicklook", figure, "--quiet",
        )  # fmt: skip
        fused = sorted(out.glob("*.tif"))
        seconds = []
        for path in fused:
            single = Path(tmp) / f"single_{path.name}"
            seconds.append(
                est_stfm(
                    "predict",
                    scene_path,
                    "--date",
                    path.stem,
                    "--model",
                    args.model,
                    "--out",
                    single,
                    "--quiet",
                )  # fmt: skip
            )
            assert single.read_bytes() == path.read_bytes(), f"{path.name} differs"
        season_only = est_stfm(
            "predict", scene_path, "--dates", span, "--model", args.model,
            "--out", Path(tmp) / "again", "--quiet",
        )  # fmt: skip
    print(f"Kranj {span}: {len(fused)} fused dates ({args.model}), all bit for bit equal")
    print(
        f"one command (GeoTIFFs + cube + quick-look): {whole:.1f} s "
        f"= {whole / len(fused):.2f} s/date"
    )
    print(
        f"one command (GeoTIFFs only): {season_only:.1f} s = {season_only / len(fused):.2f} s/date"
    )
    print(f"separate commands: {sum(seconds):.1f} s = {np.mean(seconds):.2f} s/date")
    dask_comparison(scene_path, args.model)


if __name__ == "__main__":
    main()
