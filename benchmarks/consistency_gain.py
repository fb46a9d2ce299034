"""What the consistency step and ``blend`` gain on the real scenes: RMSE with and without.

    python benchmarks/consistency_gain.py [--scenes DIR] [--only NAME]... [--every | --two]

For each scene of ``benchmarks/scenes/`` (run ``benchmarks/prepare_data.py`` first; they are
git-ignored) the latest date with a fine and a coarse image is the target and the nearest earlier
such date the reference (``--every``: each date with an earlier one is a target in turn;
``--two``: each date between two others is a target, from the nearest pair on either side, and
``blend`` adds ESTARFM). The scene is loaded with the target's fine image hidden; the truth is
read from a second load, for scoring only (:func:`est_stfm.evaluation.metrics.evaluate_arrays`,
over pixels valid in both).

Prints, per case, the RMSE of naive-change, STARFM, FSDAF, Fit-FC (ESTARFM with two pairs) and
``blend``, alone and followed by the consistency step (:mod:`est_stfm.methods.consistency`):
``+consistency`` (its defaults), ``gain 1`` (the coarse gain not fitted, only its offset) and
``plain`` (no anchor on the reference pair), each with its relative change; then the mean
change per method over the cases. ``blend``'s candidates are computed once and reused as the
single methods' predictions (the same defaults).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from est_stfm.evaluation.metrics import evaluate_arrays
from est_stfm.methods.classic import Blend
from est_stfm.methods.consistency import make_consistent
from est_stfm.scene import load_scene

SCENES = Path(__file__).resolve().parent / "scenes"
METHODS = ("naive-change", "starfm", "fsdaf", "fit-fc", "estarfm", "blend")


def cases(scene_file: Path, mode: str) -> list[tuple[dt.date, tuple[dt.date, ...]]]:
    """``(target, references)``: the latest pair date from the one before it (``latest``),
    each pair date from the one before it (``every``) or from both neighbours (``two``)."""
    d = load_scene(scene_file).pairs_dates()
    if mode == "two":
        return [(d[k], (d[k - 1], d[k + 1])) for k in range(1, len(d) - 1)]
    found = [(d[k], (d[k - 1],)) for k in range(1, len(d))]
    return found if mode == "every" else found[-1:]


VARIANTS = {
    "+consistency": {},
    "gain 1": {"fit_gain": False},
    "plain": {"anchor": False},
}
"""Settings of :func:`make_consistent` compared: the default, no gain (only the offset), and no
anchor on the reference pair."""


def run_case(
    scene_file: Path, target: dt.date, references: tuple[dt.date, ...]
) -> dict[str, tuple[float, list[float], float]]:
    """``method -> (rmse alone, rmse of each of VARIANTS, seconds of the default step)``."""
    scene = load_scene(scene_file, hidden_fine=[target])
    factor = scene.coarse_factor
    c2, cv2 = scene.read_coarse(target)
    pairs, valid = [], []
    for ref in references:
        f1, v1 = scene.read_fine(ref)
        c1, cv1 = scene.read_coarse(ref)
        pairs.append((c1, f1))
        valid.append(v1 & cv1 & cv2)
    truth, tv = load_scene(scene_file).read_fine(target)
    scored = np.logical_or.reduce(valid) & tv

    def rmse(image: np.ndarray) -> float:
        return evaluate_arrays(image, truth, scored).overall["RMSE"]

    blend = Blend(factor)
    preds = blend.candidates(pairs, c2, valid)
    preds["blend"] = blend.combine(list(preds.values()), pairs, c2, valid)
    rows = {}
    for name in [m for m in METHODS if m in preds]:
        start = time.perf_counter()
        make_consistent(preds[name], pairs, c2, valid, factor)
        seconds = time.perf_counter() - start
        fixed = [
            rmse(make_consistent(preds[name], pairs, c2, valid, factor, **kw))
            for kw in VARIANTS.values()
        ]
        rows[name] = (rmse(preds[name]), fixed, seconds)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=Path, default=SCENES, help="folder of prepared scenes")
    ap.add_argument("--only", action="append", default=None, help="scene name (repeatable)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--every", action="store_true", help="every pair date as a target")
    mode.add_argument("--two", action="store_true", help="dates between two pairs, from both")
    args = ap.parse_args(argv)
    mode_name = "two" if args.two else "every" if args.every else "latest"
    folders = sorted(p for p in args.scenes.glob("*/scene.yaml"))
    if args.only:
        folders = [p for p in folders if p.parent.name in args.only]
    if not folders:
        print(f"no scenes in {args.scenes}: run benchmarks/prepare_data.py first")
        return 1
    warnings.filterwarnings("ignore", message=".*georeferencing.*")
    changes: dict[str, list[list[float]]] = {m: [] for m in METHODS}
    vs_fsdaf: list[float] = []
    header = f"{'method':<14}{'alone':>10}" + "".join(f"{v:>14}" for v in VARIANTS)
    header += f"{'step s':>8}"
    for scene_file in folders:
        for target, references in cases(scene_file, mode_name):
            rows = run_case(scene_file, target, references)
            refs = " and ".join(map(str, references))
            print(f"\n{scene_file.parent.name}: {target} from {refs}\n{header}")
            for name, (alone, fixed, seconds) in rows.items():
                changes[name].append([f / alone - 1 for f in fixed])
                cells = "".join(f"{f:>8.5f}{100 * (f / alone - 1):>+5.0f}%" for f in fixed)
                print(f"{name:<14}{alone:>10.5f}{cells}{seconds:>8.2f}")
            vs_fsdaf.append(rows["blend"][0] / rows["fsdaf"][0] - 1)
    print(f"\nRMSE change by the step over {len(vs_fsdaf)} case(s): mean, cases better")
    print(f"{'method':<14}" + "".join(f"{v:>20}" for v in VARIANTS))
    for name in [m for m in METHODS if changes[m]]:
        table = np.array(changes[name])
        cells = "".join(
            f"{100 * table[:, k].mean():>+12.1f}%{int((table[:, k] < 0).sum()):>4}/{len(table):<3}"
            for k in range(len(VARIANTS))
        )
        print(f"{name:<14}{cells}")
    wins = sum(g < 0 for g in vs_fsdaf)
    print(f"blend vs fsdaf alone: {100 * np.mean(vs_fsdaf):+.1f}% mean RMSE, better in {wins}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
