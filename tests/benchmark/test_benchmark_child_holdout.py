"""A benchmark child never opens what its case hides: the target's fine image (the truth the
parent scores against) and, for a fit, the held-out dates' fine and coarse images."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmark_helpers import scene_dates

from est_stfm.benchmark.child import FitJob, FitRecord, PredictJob, PredictRecord, run_job


def _copy_with_garbage(tiny_scene: Path, folder: Path, kinds: tuple[str, ...], day: str) -> Path:
    """A copy of the tiny scene whose ``kinds`` images of ``day`` no reader can open."""
    shutil.copytree(tiny_scene.parent, folder)
    for kind in kinds:
        (folder / f"{kind}_{day}.tif").write_bytes(b"truth kept out of reach " * 40)
    return folder / tiny_scene.name


def test_a_predict_job_never_opens_the_target_fine_image(tiny_scene, tmp_path):
    target = scene_dates(tiny_scene)[-1]
    scene = _copy_with_garbage(tiny_scene, tmp_path / "scene", ("fine",), target)
    job = PredictJob(str(scene), target, "naive-change", str(tmp_path / "p.tif"))
    record = run_job(job)
    assert record == PredictRecord(scene_dates(tiny_scene)[-2], "naive-change")
    assert (tmp_path / "p.tif").is_file()


def test_a_fit_job_never_opens_the_held_out_images(tiny_scene, tmp_path):
    target = scene_dates(tiny_scene)[-1]
    scene = _copy_with_garbage(tiny_scene, tmp_path / "scene", ("fine", "coarse"), target)
    config = {"model": "est-stfm-tiny", "epochs": 1, "patch_size": 32, "threads": 1}
    record = run_job(FitJob(str(scene), str(tmp_path / "m"), {**config, "holdout": [target]}))
    assert record == FitRecord(scene_dates(tiny_scene)[:-1], [target])
    assert record.holdout == [target] and target not in record.training_dates
