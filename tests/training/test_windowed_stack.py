"""Training from a scene left on disk: each window read from the files gives exactly what the
scene held in memory gives, so a fit's weights do not depend on where its images live."""

from __future__ import annotations

import numpy as np
import torch

from est_stfm.models.checkpoint import load_model
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig, fit
from est_stfm.training.samples import (
    PatchDataset,
    load_stack,
    pair_arrays,
    pair_shift,
    split_scene,
)
from est_stfm.training.shifts import add_base_shift

TINY = {"model": "est-stfm-tiny", "patch_size": 32, "batch_size": 4, "threads": 1, "seed": 5}


def test_a_stack_on_disk_reads_the_windows_a_stack_in_memory_holds(tiny_scene, tmp_path):
    scene = load_scene(tiny_scene)
    dates = scene.pairs_dates()
    memory, disk = load_stack(scene, dates), load_stack(scene, dates, max_bytes=0)
    assert memory.scene is None and not disk.fine and disk.scene is scene
    assert disk.shape == memory.shape == (scene.bands, *scene.shape)
    windows = [
        (slice(None), slice(None)),
        (slice(5, 37), slice(20, 64)),
        (slice(60, 64), slice(0, 3)),
    ]
    for window in windows:
        for a, b in zip(
            pair_arrays(memory, dates[0], dates[2], window),
            pair_arrays(disk, dates[0], dates[2], window),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
    add_base_shift(memory, "fsdaf", tmp_path / "a", key="k")
    add_base_shift(disk, "fsdaf", tmp_path / "b", key="k")
    shift = disk.shift[(dates[1], dates[0])]
    assert isinstance(shift, np.memmap)  # left on disk, mapped
    for window in windows:
        np.testing.assert_array_equal(
            pair_shift(memory, dates[1], dates[0], window),
            pair_shift(disk, dates[1], dates[0], window),
        )
    splits = [split_scene(memory, "none", 0.0)]
    items = [PatchDataset([s], splits, 48, 6, seed=1) for s in (memory, disk)]
    for i in range(6):
        for a, b in zip(items[0][i], items[1][i], strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_fit_reading_windows_from_disk_ends_with_the_weights_of_a_fit_in_memory(
    tiny_scene, tmp_path
):
    scene = load_scene(tiny_scene)
    for name, mib in (("memory", 1024), ("disk", 0)):
        cfg = FitConfig(**TINY, epochs=2, validation="dates", stack_memory_mib=mib)
        fit(scene, tmp_path / name, cfg, progress=False)
    (a, meta_a), (b, meta_b) = load_model(tmp_path / "memory"), load_model(tmp_path / "disk")
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert meta_a["metrics"]["validation_score_best"] == meta_b["metrics"]["validation_score_best"]
