"""What the pretrained correction does where nothing can check it: one fine date.

    python benchmarks/blind_strength.py [--protocol benchmarks/protocol-v3.yaml] [--only SCENE]...

With a single fine date, predict's pair check has no pair to test the network's correction on,
so the default model switches it off (the base alone). This script measures what a blind
correction would have done: for every target of protocol v3 predicted from one reference date
(the nearest earlier and the nearest later pair, as the protocol's one-sided cases), the scene
is loaded with **every fine image but the reference's hidden** (what a user with one fine date
has), and the target is predicted by the base (``fsdaf+consistency``) and by the base plus the
network's correction at each strength of :data:`STRENGTHS`, with the weights the protocol's
``est-stfm-any-tiny-mixed-heldout`` row uses for the scene (pretrained without any of its
dates). The truth is read from a second load, for scoring only (RMSE as the benchmark reports
it: :func:`est_stfm.evaluation.metrics.evaluate_arrays`, over pixels valid in both).

Prints, per case, RMSE / base RMSE for each strength; then per strength the mean ratio, the
worst case, and the cases better / worse than the base by more than 0.5 %.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

from est_stfm.benchmark.protocol import load_protocol
from est_stfm.evaluation.metrics import evaluate_arrays
from est_stfm.inference.predict import fuse
from est_stfm.methods import resolve_method
from est_stfm.methods.model import ModelMethod
from est_stfm.scene import load_scene

HERE = Path(__file__).resolve().parent
STRENGTHS = (0.25, 0.5, 0.75, 1.0)
ROW = "est-stfm-any-tiny-mixed-heldout"


def _rmse(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> float:
    return evaluate_arrays(pred, truth, valid).overall["RMSE"]


def _cases(dates: list[dt.date]) -> list[tuple[dt.date, dt.date, str]]:
    """(target, reference, side) of every one-sided case."""
    cases = []
    for i, target in enumerate(dates):
        if i > 0:
            cases.append((target, dates[i - 1], "earlier"))
        if i + 1 < len(dates):
            cases.append((target, dates[i + 1], "later"))
    return cases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--protocol", type=Path, default=HERE / "protocol-v3.yaml")
    p.add_argument("--only", action="append", default=[], help="scene id (repeatable)")
    args = p.parse_args(argv)
    protocol = load_protocol(args.protocol)
    spec = next((m for m in protocol.methods if m.id == ROW), None)
    if spec is None or not spec.weights_by_scene:
        sys.exit(f"{args.protocol}: no {ROW} row with weights_by_scene")
    ratios: dict[float, list[float]] = {s: [] for s in STRENGTHS}
    print("case | base RMSE | " + " | ".join(f"x{s:g}" for s in STRENGTHS))
    for scene_spec in protocol.scenes:
        if args.only and scene_spec.id not in args.only:
            continue
        weights = args.protocol.parent / spec.weights_by_scene[scene_spec.id]
        if not weights.is_dir():
            sys.exit(f"{weights}: not found (the held-out pretraining folds, see the protocol)")
        path = args.protocol.parent / scene_spec.scene
        full = load_scene(path)
        for target, ref, side in _cases(full.pairs_dates()):
            hidden = [d for d in full.pairs_dates() if d != ref]
            scene = load_scene(path, hidden_fine=hidden)
            network = resolve_method(weights, scene)
            assert isinstance(network, ModelMethod) and network.base is not None
            base = fuse(scene, target, network.base, ref, pairs="1")
            truth, truth_valid = full.read_fine(target)
            valid = base.valid & truth_valid
            base_rmse = _rmse(base.image, truth, valid)
            cells = []
            for strength in STRENGTHS:
                pred = fuse(scene, target, network.with_strength(strength), ref, pairs="1")
                ratio = _rmse(pred.image, truth, valid & pred.valid) / base_rmse
                ratios[strength].append(ratio)
                cells.append(f"{ratio:.3f}")
            name = f"{scene_spec.id}.{target}.{side}"
            print(f"{name} | {base_rmse:.5g} | " + " | ".join(cells), flush=True)
    print("\nstrength | mean RMSE / base | worst | better (< 0.995) | worse (> 1.005) | cases")
    for strength, values in ratios.items():
        v = np.array(values)
        better, worse = int((v < 0.995).sum()), int((v > 1.005).sum())
        print(f"{strength:g} | {v.mean():.4f} | {v.max():.3f} | {better} | {worse} | {len(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
