"""The end-to-end demo: a synthetic scene, a short fit, a held-out prediction, a metrics table.

Everything here is synthetic (see :mod:`est_stfm.datasets.synthetic`, a generator the shipped
weights never saw); the demo shows the workflow end to end and scores the fitted model beside
FSDAF, the two naive baselines and (for the default model) the shipped weights with no fit, on a
date it never saw. By default it fits ``est-stfm-any-tiny`` from the shipped default weights on
their ``fsdaf+consistency`` base (``fit``'s defaults). It does not show accuracy on real data,
and a short fit may end as its start or its base (validation keeps them when training does not
beat them).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from est_stfm.datasets import make_synthetic_scene
from est_stfm.evaluation import MetricReport, evaluate_arrays, read_reflectance
from est_stfm.evaluation.table import markdown_table
from est_stfm.inference.predict import fuse, predict_to_file
from est_stfm.io.jsonfile import write_json
from est_stfm.methods import resolve_method
from est_stfm.methods.classic import NAIVE_METHODS
from est_stfm.models.pretrained import DEFAULT_MODEL
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, fit

SYNTHETIC_FACTOR = 16  # coarse pixel = 16 x 16 fine pixels, so the ERGAS ratio is 1/16


@dataclass
class DemoResult:
    """What the demo produced: the metric reports per method and the files written."""

    reports: dict[str, MetricReport]
    table: str
    prediction: Path
    figure: Path | None
    target: str
    reference: str


def run_demo(
    out_dir: str | Path,
    *,
    minutes: float | None = None,
    epochs: int | None = 6,
    size: int = 256,
    seed: int = 0,
    model: str = "est-stfm-any-tiny",
    progress: bool = True,
) -> DemoResult:
    """Make a scene, fit on all dates but one, predict that date, compare with the baselines."""
    out = Path(out_dir)
    scene_path = make_synthetic_scene(
        out / "scene", height=size, width=size, factor=SYNTHETIC_FACTOR, seed=seed
    )
    scene = load_scene(scene_path)
    dates = scene.pairs_dates()
    target = dates[len(dates) // 2]
    _, result = fit(
        scene,
        out / "model",
        FitConfig(model=model, minutes=minutes, epochs=epochs, holdout=[target], seed=seed),
        progress=progress,
    )
    net = resolve_method(out / "model", scene)
    prediction = out / f"prediction_{target.isoformat()}.tif"
    written = predict_to_file(scene, target, net, prediction, pairs="1")
    # EST-STFM is scored from the file it wrote (what a user gets, int16-quantised)
    label = "EST-STFM"
    if result.kept_start:  # say it when the fit returned its start (pair-checked as it is)
        label = f"EST-STFM (= {result.config.init}: no epoch beat it)"
    elif result.metrics.best_is_base:  # or its base exactly
        label = f"EST-STFM (= its base {result.config.base}: validation kept it)"
    images = {label: read_reflectance(prediction)}
    others = {"fsdaf": resolve_method("fsdaf", scene), **NAIVE_METHODS}
    if net.meta.get("fit", {}).get("init") == DEFAULT_MODEL:
        others = {f"{DEFAULT_MODEL} (no fit)": resolve_method(DEFAULT_MODEL, scene), **others}
    for name, method in others.items():
        other = fuse(scene, target, method, written.reference, pairs="1")
        images[name] = (other.image, other.valid)
    truth, truth_valid = scene.read_fine(target)
    reports = {
        name: evaluate_arrays(image, truth, valid & truth_valid, ergas_ratio=1.0 / SYNTHETIC_FACTOR)
        for name, (image, valid) in images.items()
    }
    table = markdown_table(reports)
    (out / "metrics.md").write_text(table + "\n")
    write_json(out / "metrics.json", {k: r.to_dict() for k, r in reports.items()})
    figure = None
    if importlib.util.find_spec("matplotlib") is not None:  # the optional `plots` extra
        from est_stfm.evaluation.figures import quicklook

        figure = quicklook(
            out / "quicklook.png",
            truth,
            {k: image for k, (image, _) in images.items()},
            truth_valid,
        )
    return DemoResult(
        reports,
        table,
        prediction,
        figure,
        target.isoformat(),
        written.reference.isoformat(),
    )
