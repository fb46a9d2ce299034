"""Pretrain the band-agnostic EST-STFM correction on synthetic scenes plus real scenes, once per
held-out real scene, so that every real scene is scored by weights that never saw it.

What each weight folder sees (``OUT/without-<scene>`` and ``OUT/all``):

* the synthetic scenes of :func:`est_stfm.datasets.pretraining.pretraining_scenes` (seeded);
* every pair date of every real scene of the protocol (``benchmarks/protocol-v3.yaml``) except
  the one it is named after (``all``: every real scene; that one is the shipped default, and its
  protocol score is the ``without-<scene>`` row's, since it saw every date of every scene);
* half of the patches come from the synthetic scenes, half from the real ones (each real scene
  the same share, whatever its size or date count).

It starts from ``--init`` (the synthetic-only weights by default), corrects ``--base`` (the
strongest classic base, ``fsdaf+consistency``), keeps the last weights (no validation: the
test is the protocol's held-out scene) and uses no L2-SP pull.

Steps (each resumable; the recipe runs on a CPU, and on a GPU in bf16 with large batches)::

    python benchmarks/pretrain_real.py pack --out .pack/real.npz          # real scenes -> one file
    python benchmarks/pretrain_real.py shifts --pack .pack/real.npz --work W --workers 16
    python benchmarks/pretrain_real.py train --pack .pack/real.npz --work W --without cia \\
        --minutes 6 --batch 48 --out W/without-cia
    python benchmarks/pretrain_real.py export --run W/without-cia --to DIR

``pack`` reads the real scenes (``python benchmarks/prepare_data.py`` makes them) into one
compressed file of float16 arrays, so the set travels to a GPU machine without the rasters.
``shifts`` generates the synthetic scenes and computes the base's prediction for every ordered
pair of every scene, in parallel, into ``W/base_cache`` (what ``train`` reads).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from est_stfm.datasets.pretraining import pretraining_scenes
from est_stfm.methods.classic.threads import set_threads
from est_stfm.models.checkpoint import save_model
from est_stfm.scene import load_scene
from est_stfm.training import FitConfig
from est_stfm.training.distributed import Runtime
from est_stfm.training.fit import initial_model
from est_stfm.training.loop import LoopSetup, TrainState, train, write_train_log
from est_stfm.training.samples import (
    PatchDataset,
    SceneStack,
    load_stack,
    split_scene,
    steps_per_epoch,
)
from est_stfm.training.shifts import add_base_shift
from est_stfm.training.state import STATE_FILE, load_train_state
from est_stfm.training.validate import Validator

PROTOCOL = Path(__file__).with_name("protocol-v3.yaml")
SYNTHETIC_SEED, SYNTHETIC_SCENES = 2026, 24
BASE = "fsdaf+consistency"
_STACKS: list[SceneStack] = []  # the scenes a forked shift worker reads


def real_scenes(protocol: Path = PROTOCOL) -> dict[str, Path]:
    """The protocol's scene ids and scene files."""
    spec = yaml.safe_load(protocol.read_text())
    return {s["id"]: protocol.parent / s["scene"] for s in spec["scenes"]}


def pack(out: Path, protocol: Path) -> None:
    """Every pair date of every real scene, as float16 arrays in one compressed file."""
    arrays: dict[str, np.ndarray] = {}
    meta = {}
    for sid, path in real_scenes(protocol).items():
        scene = load_scene(path)
        stack = load_stack(scene, scene.pairs_dates())
        meta[sid] = {"dates": [str(d) for d in stack.dates], "factor": stack.coarse_factor}
        for d in stack.dates:
            arrays[f"{sid}|fine|{d}"] = stack.fine[d].astype(np.float16)
            arrays[f"{sid}|coarse|{d}"] = stack.coarse[d].astype(np.float16)
            arrays[f"{sid}|valid|{d}"] = stack.valid[d]
        print(sid, stack.shape, len(stack.dates), "dates", flush=True)
    arrays["meta"] = np.array(json.dumps(meta))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(out, out.stat().st_size // 2**20, "MiB")


def unpack(path: Path) -> dict[str, SceneStack]:
    """The real scenes of a pack file, as float32 stacks."""
    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    stacks = {}
    for sid, info in meta.items():
        dates = [dt.date.fromisoformat(d) for d in info["dates"]]
        parts = {
            kind: {d: data[f"{sid}|{kind}|{d}"] for d in dates}
            for kind in ("fine", "coarse", "valid")
        }
        fine = {d: a.astype(np.float32) for d, a in parts["fine"].items()}
        coarse = {d: a.astype(np.float32) for d, a in parts["coarse"].items()}
        stacks[sid] = SceneStack(f"real:{sid}", dates, fine, coarse, parts["valid"], info["factor"])
    return stacks


def synthetic(work: Path, count: int = SYNTHETIC_SCENES) -> list[SceneStack]:
    """The first ``count`` synthetic scenes (written into ``work/synthetic`` once) as stacks."""
    folder = work / "synthetic"
    paths = sorted(folder.glob("scene_*/scene.yaml"))
    if len(paths) < count:
        paths = pretraining_scenes(folder, SYNTHETIC_SCENES, seed=SYNTHETIC_SEED)
    paths = paths[:count]
    stacks = []
    for p in paths:
        scene = load_scene(p)
        stack = load_stack(scene, scene.pairs_dates())
        stack.name = f"synthetic:{p.parent.name}"
        stacks.append(stack)
    return stacks


def _pair_shift(task: tuple[int, dt.date, dt.date, str, str]) -> None:
    """Compute (or find cached) the base's shifts of one unordered date pair of one stack."""
    i, a, b, base, cache = task
    torch.set_num_threads(1)
    set_threads(1)  # the workers share the cores
    s = _STACKS[i]
    sub = SceneStack(s.name, [a, b], s.fine, s.coarse, s.valid, s.coarse_factor)
    add_base_shift(sub, base, Path(cache), key=s.name)


def shifts(stacks: list[SceneStack], base: str, work: Path, workers: int) -> None:
    """Fill ``stacks``' base shifts, computing missing ones with ``workers`` processes."""
    cache = work / "base_cache"
    _STACKS[:] = stacks
    tasks = [
        (i, a, b, base, str(cache))
        for i, s in enumerate(stacks)
        for j, a in enumerate(s.dates)
        for b in s.dates[j + 1 :]
    ]
    start = time.monotonic()
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pool.map(_pair_shift, tasks, chunksize=1)
    for s in stacks:  # reads the cache (and computes whatever is still missing)
        add_base_shift(s, base, cache, key=s.name)
    print(f"base shifts of {len(tasks)} date pairs ready in {time.monotonic() - start:.0f} s")


def balanced_pairs(dataset: PatchDataset, stacks: list[SceneStack]) -> list:
    """The dataset's pairs repeated so that half the draws are synthetic and each real scene
    gets the same share of the other half."""
    groups: dict[str, list] = {}
    for pair in dataset.pairs:
        name = stacks[pair[0]].name
        groups.setdefault(name if name.startswith("real:") else "synthetic", []).append(pair)
    synth = groups.pop("synthetic", [])
    out = list(synth)
    share = max(1, len(synth)) / max(1, len(groups))
    for pairs in groups.values():
        out += pairs * max(1, round(share / len(pairs)))
    return out


def train_run(args: argparse.Namespace) -> None:
    """Train one held-out-scene variant (resumes a run left in ``args.out``)."""
    real = unpack(args.pack)
    without = [] if args.without == "none" else args.without.split(",")
    unknown = [s for s in without if s not in real]
    if unknown:
        sys.exit(f"--without {','.join(unknown)}: not scenes of the pack ({', '.join(real)})")
    kept = {k: v for k, v in real.items() if k not in without}
    stacks = synthetic(args.work, args.synthetic) + list(kept.values())
    shifts(stacks, args.base, args.work, workers=1)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    cfg = FitConfig(
        model="est-stfm-any-tiny",
        init=args.init,
        anchor_weight=0.0,
        ema_decay=0.0,  # the last weights are kept: no average (LoopSetup.average unset)
        base=args.base,
        minutes=args.minutes,
        patch_size=args.patch,
        batch_size=args.batch,
        bands_per_sample=3,
        lr=args.lr,
        warmup_steps=100,
        patience=10**6,
        validation="none",
        seed=args.seed,
        threads=args.threads,
        workers=args.workers,
    )
    torch.manual_seed(cfg.seed)
    model = initial_model(cfg, 3).to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    splits = [split_scene(s, "none", 0.0) for s in stacks]
    per_epoch = steps_per_epoch(splits, stacks, cfg.patch_size, cfg.batch_size)
    dataset = PatchDataset(stacks, splits, cfg.patch_size, per_epoch * cfg.batch_size, cfg.seed, 3)
    dataset.pairs = balanced_pairs(dataset, stacks)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    setup = LoopSetup(
        cfg=cfg,
        runtime=Runtime(device=device),
        model=model,
        net=model,
        optimizer=opt,
        dataset=dataset,
        validator=Validator(stacks, splits, device),
        steps_per_epoch=per_epoch,
        out_dir=args.out,
        progress=False,
    )
    state, best, resumed = TrainState(), copy.deepcopy(model.state_dict()), False
    if (args.out / STATE_FILE).is_file():
        parts, info = load_train_state(args.out / STATE_FILE)
        model.load_state_dict(parts["model"])
        opt.load_state_dict(parts["opt"])
        state, best, resumed = TrainState.from_json(info["loop"]), parts["best"], True
    state, best = train(setup, state, best, resumed=resumed)
    model.load_state_dict(best)  # the last epoch's weights: nothing validates here
    write_train_log(args.out, state.log)
    meta = {
        "bands": None,
        "scale": 1.0,
        "unit": "any",
        "band_descriptions": [],
        "scene": [s.name for s in stacks],
        "training_dates": sorted({str(d) for s in stacks for d in s.dates}),
        "holdout": [],
        "fit": cfg.model_dump(mode="json"),
        "validation": [{"scene": s.name, "mode": "none", "dates": []} for s in stacks],
        "metrics": {
            "validation_score_start": None,
            "validation_score_best": None,
            "best_epoch": state.epoch,
            "best_is_base": False,
            "epochs": state.epoch,
            "steps": state.step,
            "seconds": round(state.elapsed, 1),
            "samples_per_second": round(state.step * cfg.batch_size / state.elapsed, 1),
        },
        "checkpoint": "the finished run (last weights)",
        "training_data": (
            f"{args.synthetic} synthetic scenes (seed {SYNTHETIC_SEED}) and every pair date of "
            f"the real protocol-v3 scenes {', '.join(kept)}"
            + (f"; never {', '.join(without)}" if without else "")
        ),
        "pair_check": True,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }
    save_model(args.out, model, meta)
    (args.out / STATE_FILE).unlink(missing_ok=True)
    print(json.dumps({"without": without, **meta["metrics"]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--protocol", type=Path, default=PROTOCOL)
    p = sub.add_parser("shifts")
    p.add_argument("--pack", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--synthetic", type=int, default=SYNTHETIC_SCENES)
    p.add_argument("--base", default=BASE)
    p = sub.add_parser("train")
    p.add_argument("--pack", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument(
        "--without", required=True, help="scene ids of the pack (comma-separated), or none"
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--init", default="est-stfm-any-tiny-synth")
    p.add_argument("--synthetic", type=int, default=SYNTHETIC_SCENES)
    p.add_argument("--base", default=BASE)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--batch", type=int, default=6)
    p.add_argument("--patch", type=int, default=96)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.step == "pack":
        pack(args.out, args.protocol)
    elif args.step == "shifts":
        stacks = synthetic(args.work, args.synthetic) + list(unpack(args.pack).values())
        shifts(stacks, args.base, args.work, args.workers)
    else:
        train_run(args)


if __name__ == "__main__":
    main()
