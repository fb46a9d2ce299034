"""Accuracy and speed of the faithful classic methods against their earlier approximations.

    python benchmarks/classic_fidelity.py [--scenes benchmarks/scenes] [--only NAME ...]
                                          [--methods starfm-fast starfm fsdaf-fast fsdaf]

For each prepared real scene (``benchmarks/prepare_data.py`` writes them, git-ignored): the latest
pair date is the target and the nearest earlier pair date the reference. The scene is loaded
with the target's fine image hidden (:func:`est_stfm.scene.load_scene` ``hidden_fine``), every
method predicts the target from the one reference pair in memory, and the truth, read
separately, scores it (:func:`est_stfm.evaluation.evaluate_arrays` with the ``data_range`` and
``ergas_ratio`` of the scene's ``dataset.yaml``). Prints RMSE, SSIM, wall and CPU seconds per
scene and method, then for each method run beside its ``-fast`` approximation the mean RMSE
ratio, the mean SSIM difference and the count of lower RMSE, faithful against fast. Run it with
``OMP_NUM_THREADS=1`` for comparable timings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml

from est_stfm.evaluation import evaluate_arrays
from est_stfm.inference.predict import fuse
from est_stfm.methods.classic import classic_method
from est_stfm.scene import load_scene

REPO = Path(__file__).resolve().parents[1]
METHODS = ("starfm-fast", "starfm", "fsdaf-fast", "fsdaf")


def case_dates(path: Path) -> tuple[str, str] | None:
    """``(target, reference)``: the latest pair date and the nearest earlier one (None: fewer
    than two pair dates)."""
    dates = load_scene(path).pairs_dates()
    return (dates[-1].isoformat(), dates[-2].isoformat()) if len(dates) >= 2 else None


def run_scene(path: Path, methods: list[str]) -> list[tuple[str, float, float, float, float]]:
    """``(method, rmse, ssim, wall s, cpu s)`` of every method on the scene at ``path``."""
    target, reference = case_dates(path)
    scene = load_scene(path, hidden_fine=[target])
    truth, valid = load_scene(path).read_fine(target)
    record = path.parent / "dataset.yaml"
    info = yaml.safe_load(record.read_text()) if record.exists() else {}
    rows = []
    for name in methods:
        method = classic_method(name, coarse_factor=scene.coarse_factor)
        wall, cpu = time.perf_counter(), time.process_time()
        fused = fuse(scene, target, method, reference=reference, pairs="1")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        report = evaluate_arrays(
            fused.image,
            truth,
            valid & fused.valid,
            data_range=float(info.get("data_range", 1.0)),
            ergas_ratio=float(info.get("ergas_ratio", 1 / (scene.coarse_factor or 16))),
        )
        rows.append((name, report.overall["RMSE"], report.overall["SSIM"], wall, cpu))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=Path, default=REPO / "benchmarks" / "scenes")
    parser.add_argument("--only", nargs="+", default=None, help="scene folder names")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    args = parser.parse_args()
    paths = sorted(args.scenes.glob("*/scene.yaml"))
    if args.only:
        paths = [p for p in paths if p.parent.name in args.only]
    if not paths:
        raise SystemExit(f"no scenes under {args.scenes}: run benchmarks/prepare_data.py first")
    print(f"{'scene':<34} {'method':<12} {'RMSE':>9} {'SSIM':>7} {'wall s':>7} {'cpu s':>7}")
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in args.methods}
    for path in paths:
        if case_dates(path) is None:
            print(f"{path.parent.name:<34} skipped: fewer than two pair dates")
            continue
        for name, rmse, ssim, wall, cpu in run_scene(path, args.methods):
            results[name].append((rmse, ssim))
            print(
                f"{path.parent.name:<34} {name:<12} {rmse:9.5f} {ssim:7.4f} {wall:7.2f} {cpu:7.2f}"
            )
    for name in args.methods:
        fast = f"{name}-fast"
        if fast not in results or not results[name]:
            continue
        ours, base = np.array(results[name]), np.array(results[fast])
        ratio = float(np.mean(ours[:, 0] / base[:, 0]))
        gain = float(np.mean(ours[:, 1] - base[:, 1]))
        wins = int(np.sum(ours[:, 0] < base[:, 0]))
        print(
            f"{name} vs {fast} over {len(ours)} scenes: mean RMSE ratio {ratio:.3f}, "
            f"mean SSIM difference {gain:+.4f}, lower RMSE on {wins}"
        )


if __name__ == "__main__":
    main()
