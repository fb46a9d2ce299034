"""Base shifts: how far the classic base of a model lies from F1 + C2 - C1 on each training pair.

A model that corrects a classic method (``fsdaf+consistency``, ...) is trained on that
method's prediction of each pair, precomputed once per pair here and kept as ``.npy`` files
(mapped for a stack on disk) in a cache folder, so a resumed run reads them back. A classic
base takes seconds to minutes per pair (FSDAF + consistency: 49 s for one 2040 x 1720 x 6 pair
on one core), so the missing pairs are computed in parallel processes when asked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from est_stfm.io.atomic import atomic_target
from est_stfm.methods.classic.threads import set_threads
from est_stfm.training.samples import SceneStack, ordered_pairs


def add_base_shift(
    stack: SceneStack,
    base: str,
    cache: Path | None = None,
    key: str = "",
    pairs: list[tuple[dt.date, dt.date]] | None = None,
    processes: int = 1,
    progress: bool = False,
) -> None:
    """Precompute, for each of ``pairs`` (None: every ordered pair), how far the classic method
    ``base`` (``starfm``, ``fsdaf``, ``fsdaf+consistency``, ...) lies from F1 + C2 - C1, so a
    model's correction is added to that method's prediction instead. Uses only the reference
    pair and the target's coarse image.

    ``cache``: a folder where each pair's shift is kept as ``.npy`` (named by a hash of ``key``,
    the base and the dates), so a resumed run does not compute them again (a classic base
    takes seconds per pair: minutes for a pretraining set). With a cache, ``processes`` > 1
    computes the missing pairs in that many forked processes at once (Linux; one pair each,
    and no more processes than :func:`affordable_processes`); the shifts are the same.
    ``progress``: a tqdm bar over the pairs computed (a classic base on a large scene or a long
    series can take minutes to hours before a fit's first step).
    """
    if base == "change":
        return
    todo = ordered_pairs(stack.dates) if pairs is None else pairs
    paths = {
        pair: None if cache is None else cache / f"{_shift_digest(key, base, *pair)}.npy"
        for pair in todo
    }
    missing = [pair for pair, path in paths.items() if path is None or not path.is_file()]
    parallel = cache is not None and hasattr(os, "fork")  # processes write the cache files
    processes = min(processes, affordable_processes(stack), len(missing)) if parallel else 1
    bar = tqdm(
        total=len(missing),
        desc=f"base {base} on {len(missing)} date pairs, {max(processes, 1)} at a time",
        disable=not (progress and missing),
        leave=False,
    )
    with bar:
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
        if processes > 1:
            _shifts_in_processes(stack, base, missing, paths, processes, bar.update)
        for pair, path in paths.items():
            if path is None or not path.is_file():
                shift = _base_shift(stack, base, *pair)
                bar.update()
                if path is None:
                    stack.shift[pair] = shift
                    continue
                _save_shift(path, shift)
            # a stack on disk keeps its shifts there too (mapped: only the windows read load)
            stack.shift[pair] = np.load(path, mmap_mode="r" if stack.scene else None)


BYTES_PER_VALUE = 128
"""Peak memory of one base run per image value (bands x pixels), rounded up from FSDAF +
consistency on a 2040 x 1720 x 6 pair (about 2 GB above its inputs)."""


def affordable_processes(stack: SceneStack) -> int:
    """How many base runs on ``stack`` fit at once in half the memory free now (at least 1;
    unbounded where the free memory cannot be read)."""
    bands, h, w = stack.shape
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return 1 << 16
    return max(1, int(free // 2 // (BYTES_PER_VALUE * bands * h * w)))


def _shift_digest(key: str, base: str, ref: dt.date, tgt: dt.date) -> str:
    return hashlib.sha256(f"{key}|{base}|{ref}|{tgt}".encode()).hexdigest()[:24]


def _base_shift(stack: SceneStack, base: str, ref: dt.date, tgt: dt.date) -> np.ndarray:
    """The base's prediction of ``tgt`` from ``ref`` minus F1 + C2 - C1 (NaN: 0)."""
    from est_stfm.methods.registry import classic_by_name

    (f1, c1, _), (_, c2, _) = stack.images(ref), stack.images(tgt)
    pred = np.asarray(classic_by_name(base, stack.coarse_factor).predict(c1, f1, c2), np.float32)
    return np.nan_to_num(pred - (f1 + c2 - c1))


def _save_shift(path: Path, shift: np.ndarray) -> None:
    with atomic_target(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, shift)


_FORKED: list[tuple[SceneStack, str]] = []
"""The stack and base a forked shift process works on (inherited, never pickled)."""


def _shift_task(task: tuple[dt.date, dt.date, Path]) -> None:
    ref, tgt, path = task
    stack, base = _FORKED[0]
    set_threads(1)  # the processes share the cores: one thread each
    _save_shift(path, _base_shift(stack, base, ref, tgt))


def _shifts_in_processes(
    stack: SceneStack,
    base: str,
    missing: list[tuple[dt.date, dt.date]],
    paths: dict[tuple[dt.date, dt.date], Path | None],
    processes: int,
    done: Callable[[], object],
) -> None:
    """Write the ``missing`` pairs' shift files with ``processes`` (at most one per pair)
    forked processes, calling ``done()`` after each."""
    _FORKED[:] = [(stack, base)]
    tasks = [(ref, tgt, paths[(ref, tgt)]) for ref, tgt in missing]
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            for _ in pool.map(_shift_task, tasks):  # a failure in a process is raised here
                done()
    finally:
        _FORKED.clear()
