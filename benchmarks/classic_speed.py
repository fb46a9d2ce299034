"""Wall time and accuracy of the classic methods (STARFM 1 and 2 pairs, ESTARFM, FSDAF, Fit-FC,
the -fast approximations, blend, the consistency step) on synthetic scenes, in process.

    python benchmarks/classic_speed.py [--sizes 400 1000] [--bands 3] [--factor 16]

For each size, a SYNTHETIC scene (:mod:`est_stfm.datasets.synthetic`, 3 dates, the first ``bands``
bands) is simulated in memory; the middle date is predicted from the first (one pair) or from
the first and the last (two pairs). Prints the wall time of each method and its RMSE against
the truth next to the naive baselines. A size is skipped when the timings of the previous size,
scaled by the pixel count, predict more than ``--budget`` seconds (default 60) for it.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from est_stfm.datasets.synthetic import synthetic_series
from est_stfm.methods.classic import (
    AddCoarseChange,
    CopyReference,
    Estarfm,
    FitFc,
    Fsdaf,
    Starfm,
    classic_method,
)
from est_stfm.methods.consistency import Consistent

DATES = ("2001-05-08", "2001-06-25", "2001-08-12")


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))


def run(size: int, bands: int, factor: int) -> list[tuple[str, float, float]]:
    """``(method, seconds, rmse)`` rows for one ``size`` x ``size`` scene."""
    series = synthetic_series(height=size, width=size, factor=factor, dates=DATES, seed=0)
    f1, f2, f3 = series.fine[:, :bands]
    c1, c2, c3 = series.coarse[:, :bands]
    jobs = {
        "naive-copy": lambda: CopyReference().predict(c1, f1, c2),
        "naive-change": lambda: AddCoarseChange().predict(c1, f1, c2),
        "starfm (1 pair)": lambda: Starfm().predict(c1, f1, c2),
        "starfm (2 pairs)": lambda: Starfm().predict_pairs([(c1, f1), (c3, f3)], c2),
        "estarfm (2 pairs)": lambda: Estarfm().predict_pairs([(c1, f1), (c3, f3)], c2),
        "fsdaf": lambda: Fsdaf(factor).predict(c1, f1, c2),
        "fit-fc": lambda: FitFc(factor).predict(c1, f1, c2),
        "starfm-fast (1 pair)": lambda: classic_method("starfm-fast").predict(c1, f1, c2),
        "fsdaf-fast": lambda: classic_method("fsdaf-fast", factor).predict(c1, f1, c2),
        "blend (1 pair)": lambda: classic_method("blend", factor).predict(c1, f1, c2),
        "fsdaf+consistency": lambda: Consistent(Fsdaf(factor), factor).predict(c1, f1, c2),
    }
    rows = []
    for name, job in jobs.items():
        start = time.perf_counter()
        pred = job()
        rows.append((name, time.perf_counter() - start, _rmse(pred, f2)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[400, 1000])
    parser.add_argument("--bands", type=int, default=3)
    parser.add_argument("--factor", type=int, default=16)
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args()
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"synthetic scenes, {args.bands} bands, coarse factor {args.factor}, OMP={threads}")
    previous: tuple[int, float] | None = None
    for size in args.sizes:
        if previous is not None:
            estimate = previous[1] * (size / previous[0]) ** 2
            if estimate > args.budget:
                print(f"\n{size} x {size}: skipped (about {estimate:.0f} s > {args.budget:g} s)")
                continue
        rows = run(size, args.bands, args.factor)
        naive = dict((name, rmse) for name, _, rmse in rows)["naive-change"]
        print(f"\n{size} x {size} x {args.bands}")
        print(f"{'method':<18} {'seconds':>8} {'RMSE':>8} {'vs naive-change':>16}")
        for name, seconds, rmse in rows:
            print(f"{name:<18} {seconds:8.2f} {rmse:8.4f} {rmse / naive - 1:+15.1%}")
        previous = (size, sum(seconds for _, seconds, _ in rows))


if __name__ == "__main__":
    main()
