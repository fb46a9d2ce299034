"""Wall time of a fit's base shifts (the classic base on every training pair), in one process
and in parallel processes.

    python benchmarks/base_shift_speed.py [--size 512] [--dates 3] [--base fsdaf+consistency]
        [--processes 1 2]

Writes a seeded synthetic ``--size`` x ``--size`` x 6 scene of ``--dates`` dates and computes
the base shift of every ordered pair (``add_base_shift``, what ``fit`` does before training
from weights that correct a classic base) into a fresh cache once per ``--processes`` value,
checks that every variant's shifts are identical, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from est_stfm.datasets import make_synthetic_scene
from est_stfm.scene import load_scene
from est_stfm.training.samples import load_stack
from est_stfm.training.shifts import add_base_shift


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--dates", type=int, default=3)
    ap.add_argument("--base", default="fsdaf+consistency")
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        days = [f"2001-{5 + i // 2:02d}-{8 + 16 * (i % 2):02d}" for i in range(args.dates)]
        path = make_synthetic_scene(Path(tmp), height=args.size, width=args.size, dates=days)
        scene = load_scene(path)
        print(
            f"| processes | pairs | seconds | speed-up |  ({args.size} x {args.size} x 6, "
            f"base {args.base})"
        )
        print("|---:|---:|---:|---:|")
        first, reference = None, None
        for n in args.processes:
            stack = load_stack(scene, scene.pairs_dates())
            start = time.perf_counter()
            add_base_shift(stack, args.base, Path(tmp) / f"cache{n}", key="k", processes=n)
            seconds = time.perf_counter() - start
            first = first or seconds
            if reference is None:
                reference = stack.shift
            same = all(np.array_equal(reference[p], s) for p, s in stack.shift.items())
            if not same:
                raise SystemExit(f"processes {n}: shifts differ from the first run")
            print(f"| {n} | {len(stack.shift)} | {seconds:.1f} | {first / seconds:.2f}x |")


if __name__ == "__main__":
    main()
