"""The benchmark run: every (case, method) of a protocol, fitted, predicted and scored alike.

For every (case, method) (protocol version 2: the leave-one-date-out cases of every scene,
:mod:`.leave_one_out`):

1. a trainable method is fitted in a fresh process, with every date outside the case's training
   dates (the target always) passed as ``holdout``; the saved model's training dates are then
   checked to exclude them, so no run can ever train on a target's fine image. A case with fewer
   training dates than the method needs is reported as skipped, not as an error. Cases of one
   group (one held-out target, several reference choices) share one fit;
2. the prediction runs in another fresh process and writes a GeoTIFF;
3. the prediction is scored against the truth over pixels valid in both with the full metric suite
   (:func:`est_stfm.evaluation.evaluate_arrays`, the case's ``data_range`` and ``ergas_ratio``),
   plus k-means clustering agreement (k = 6).

Fit and predict are timed and their peak memory measured separately (:mod:`.child`); a crash or a
timeout in one run becomes that row's status while the others go on. ``results.csv`` (one row per
case x method, :mod:`.results`) and ``results.md`` (:mod:`.report`) are rewritten after every case.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from est_stfm.benchmark.child import MODEL_FILE, FitJob, FitRecord, PredictJob, run_child
from est_stfm.benchmark.leave_one_out import expand_scene
from est_stfm.benchmark.protocol import (
    CasePlan,
    CaseSpec,
    MethodSpec,
    Protocol,
    check_training_dates,
    load_protocol,
    plan_case,
)
from est_stfm.benchmark.report import (
    RunInfo,
    environment,
    load_average,
    results_markdown,
    summary_markdown,
)
from est_stfm.benchmark.results import Row, results_csv
from est_stfm.benchmark.resume import Previous, previous_rows
from est_stfm.errors import EstStfmError, format_error
from est_stfm.evaluation.cluster import cluster_agreement
from est_stfm.evaluation.compare import read_reflectance
from est_stfm.evaluation.metrics import evaluate_arrays
from est_stfm.io.atomic import atomic_write_text
from est_stfm.methods.registry import needs_two_pairs
from est_stfm.scene import Scene, load_scene

DEFAULT_PREDICT_TIMEOUT_MIN = 30.0
"""Wall-clock limit of a prediction process, in minutes."""

FITS_FOLDER = "_fits"
"""Folder of the runs folder where each group's fitted models live (no case id starts with _)."""

Log = Callable[[str], None]


@dataclass
class BenchmarkResult:
    """Every row of a run and where its results were written."""

    rows: list[Row]
    csv: Path
    markdown: Path
    seconds: float

    @property
    def errors(self) -> list[Row]:
        """Rows whose run failed (not the skipped ones)."""
        return [r for r in self.rows if r.status.startswith("error")]


@dataclass
class Fits:
    """The fitted models of this run, one per (group, method), reused by the group's cases."""

    root: Path
    resume: bool
    done: dict[tuple[str, str], tuple[Path | None, Row]] = field(default_factory=dict)

    def folder(self, plan: CasePlan, method: MethodSpec) -> Path:
        """Where the model of the case's group is fitted."""
        return self.root / FITS_FOLDER / (plan.case.group or plan.case.id) / method.id


def _select(kind: str, wanted: Iterable[str], available: list[str]) -> list[str]:
    """The ids named in ``wanted`` (repeated or comma-separated), in protocol order; all if none."""
    names: list[str] = []
    for item in wanted:
        names += [n.strip() for n in str(item).split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise EstStfmError(
            f"unknown {kind} {unknown[0]!r}: the protocol has {', '.join(available)}"
        )
    return [a for a in available if a in names] if names else available


def _data_range(case: CaseSpec, truth: np.ndarray, valid: np.ndarray) -> float:
    """The case's data range; ``truth``: max - min of the truth over valid pixels."""
    if case.data_range != "truth":
        return float(case.data_range)
    values = truth[:, valid]
    span = float(values.max() - values.min()) if values.size else 0.0
    return span if span > 0 else 1.0


def _score(pred_path: Path, plan: CasePlan, row: Row, log: Log) -> None:
    """Fill ``row`` with the metric suite and clustering agreement of a prediction."""
    case, scene = plan.case, plan.scene
    pred, pred_valid = read_reflectance(pred_path)  # the scale and offset predict wrote
    truth, truth_valid = scene.read_fine(case.target)
    valid = pred_valid & truth_valid
    row.data_range = _data_range(case, truth, valid)
    report = evaluate_arrays(
        pred, truth, valid, data_range=row.data_range, ergas_ratio=case.ergas_ratio
    )
    row.metrics, row.valid_pixels = dict(report.overall), report.valid_pixels
    try:
        clusters = cluster_agreement(pred, truth, valid, k=6, seed=0)
    except Exception as exc:  # the clustering columns are optional: never lose the metrics
        log(f"    clustering failed ({type(exc).__name__}: {exc}); column left empty")
        return
    row.cluster_oa, row.cluster_kappa = clusters.agreement, clusters.kappa
    row.cluster_ari = clusters.ari


def _fit(plan: CasePlan, method: MethodSpec, workdir: Path, row: Row, log: Log) -> Path | None:
    """Fit ``method`` for the case in a fresh process; the model folder, or None (row's status)."""
    holdout = [d.isoformat() for d in plan.holdout]
    model_dir = workdir / "model"
    job = FitJob(str(plan.scene.path), str(model_dir), {**(method.fit or {}), "holdout": holdout})
    log(f"    fit {method.fit} (holdout {', '.join(holdout)})")
    run = run_child(job, workdir, "fit", method.timeout_s())
    row.fit_s, row.fit_peak_mib = run.seconds, run.peak_mib
    if run.returncode != 0 or not (model_dir / MODEL_FILE).exists():
        row.status = run.failure("fit")
        return None
    try:
        saved = FitRecord.read(model_dir)
        check_training_dates(saved.training_dates, plan.train, plan.case.target)
    except EstStfmError as exc:
        row.status = format_error(exc)
        return None
    cost = {"fit_s": row.fit_s, "fit_peak_mib": row.fit_peak_mib}
    atomic_write_text(workdir / "fit_cost.json", json.dumps(cost) + "\n")
    return model_dir


def _fitted(plan: CasePlan, method: MethodSpec, fits: Fits, row: Row, log: Log) -> Path | None:
    """The group's model: fitted once per run (or kept from the run ``--resume`` continues)."""
    key = (plan.case.group or plan.case.id, method.id)
    if key not in fits.done:
        workdir = fits.folder(plan, method)
        model_dir, cost = workdir / "model", workdir / "fit_cost.json"
        if fits.resume and (model_dir / MODEL_FILE).exists() and cost.exists():
            saved = FitRecord.read(model_dir)
            check_training_dates(saved.training_dates, plan.train, plan.case.target)
            fit_row = Row(row.case, row.method, **_cost(cost))
            log(f"    fit kept from the previous run ({model_dir})")
            fits.done[key] = (model_dir, fit_row)
        else:
            if workdir.exists():
                shutil.rmtree(workdir)
            fit_row = Row(row.case, row.method)
            fits.done[key] = (_fit(plan, method, workdir, fit_row, log), fit_row)
    model_dir, fit_row = fits.done[key]
    row.fit_s, row.fit_peak_mib = fit_row.fit_s, fit_row.fit_peak_mib
    if model_dir is None:
        row.status = fit_row.status
    return model_dir


def _cost(path: Path) -> dict[str, float]:
    """The fit time and peak memory saved beside a fitted model."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"fit_s": float(data["fit_s"]), "fit_peak_mib": float(data["fit_peak_mib"])}


def _run_one(plan: CasePlan, method: MethodSpec, workdir: Path, fits: Fits, log: Log) -> Row:
    """Fit (when trainable, once per group), predict and score one method on one case."""
    case = plan.case
    row = Row(case.id, method.id, target=case.target.isoformat())
    row.reference = "+".join(d.isoformat() for d in plan.references)
    row.unit, row.coarse = case.unit, case.coarse
    row.data_range = None if case.data_range == "truth" else float(case.data_range)
    row.ergas_ratio = case.ergas_ratio
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    name = method.method or method.id
    if needs_two_pairs(name) and len(plan.references) < 2:
        row.status = "skipped: needs two reference pairs (one before, one after the target)"
        return row
    if method.weights_by_scene is not None:
        folder = method.weights_by_scene.get(case.scene_id)
        if folder is None or not Path(folder).is_dir():
            row.status = f"skipped: no weights for scene {case.scene_id or case.id} ({folder})"
            return row
        name = folder
    if method.trainable:
        row.training_dates = [d.isoformat() for d in plan.train]
        if len(plan.train) < method.min_train_dates:
            row.status = (
                f"skipped: needs {method.min_train_dates} training dates, "
                f"the case has {len(plan.train)}"
            )
            return row
        model_dir = _fitted(plan, method, fits, row, log)
        if model_dir is None:
            return row
        name = str(model_dir)
    pred_path = workdir / "prediction.tif"
    job = PredictJob(
        scene=str(plan.scene.path),
        date=case.target.isoformat(),
        method=name,
        out=str(pred_path),
        references=[d.isoformat() for d in plan.references],
    )
    run = run_child(job, workdir, "predict", DEFAULT_PREDICT_TIMEOUT_MIN * 60)
    row.predict_s, row.predict_peak_mib = run.seconds, run.peak_mib
    if run.returncode != 0 or not pred_path.exists():
        row.status = run.failure("predict")
        return row
    _score(pred_path, plan, row, log)
    return row


def _read_scene(path: Path, label: str, log: Log) -> Scene:
    """Read a scene (a warning is one log line, no traceback)."""
    if not path.exists():
        raise FileNotFoundError(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scene = load_scene(path)
    for warning in caught:  # e.g. no georeferencing: one line in the log, no traceback
        log(f"{label}: note: {warning.message}")
    return scene


Planned = tuple[CaseSpec, "CasePlan | str"]
"""A case and its plan, or the one-line reason it cannot run."""


def _failure(exc: Exception, scene: str) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"skipped: scene {scene} not prepared"
    return format_error(exc)


def _plans(protocol: Protocol, protocol_dir: Path, log: Log) -> list[Planned]:
    """Every case of the protocol with its plan (version 2: the scenes' leave-one-out cases)."""
    out: list[Planned] = []
    for case in protocol.cases:
        try:
            scene = _read_scene((protocol_dir / case.scene).resolve(), case.id, log)
            out.append((case, plan_case(case, scene)))
        except (EstStfmError, FileNotFoundError) as exc:
            out.append((case, _failure(exc, case.scene)))
    for spec in protocol.scenes:
        try:
            scene = _read_scene((protocol_dir / spec.scene).resolve(), spec.id, log)
            cases = expand_scene(spec, scene, protocol.pairs)
        except (EstStfmError, FileNotFoundError) as exc:
            status = _failure(exc, spec.scene)
            out.append(
                (
                    CaseSpec(
                        id=spec.id,
                        scene=spec.scene,
                        target=dt.date.min,
                        ergas_ratio=spec.ergas_ratio,
                        group=spec.id,
                    ),
                    status,
                )
            )
            continue
        for case in cases:
            try:
                out.append((case, plan_case(case, scene)))
            except EstStfmError as exc:
                out.append((case, format_error(exc)))
    return out


def _log_row(row: Row, log: Log) -> None:
    if not row.ok:
        log(f"    {row.status}")
        return
    m = row.metrics
    cost = f"fit {row.fit_s:.1f} s, " if row.fit_s is not None else ""
    log(
        f"    RMSE {m['RMSE']:.4f}  SSIM {m['SSIM']:.4f}  ({cost}predict "
        f"{row.predict_s:.1f} s, peak {row.predict_peak_mib:.0f} MiB)"
    )


def _scene_id(case: CaseSpec) -> str:
    """The scene id of a leave-one-date-out case (its group is ``SCENE.TARGET``)."""
    return case.group.rsplit(".", 1)[0] if case.pairs else ""


def _selected(planned: list[Planned], only: Iterable[str], quick: bool) -> list[Planned]:
    """The cases ``--only`` names (a case id, or a scene id: all its cases); ``--quick`` keeps
    the quick ones."""
    ids = [c.id for c, _ in planned]
    scenes = sorted({_scene_id(c) for c, _ in planned} - {""} - set(ids))
    chosen = set(_select("case", only, [*ids, *scenes]))
    keep = [(c, p) for c, p in planned if c.id in chosen or _scene_id(c) in chosen]
    if quick:
        keep = [(c, p) for c, p in keep if c.quick or not c.pairs]
    return keep


def _in_order(rows: list[Row], case_ids: list[str], protocol: Protocol) -> list[Row]:
    """``rows`` by case, then by method, in protocol order."""
    cases = {c: i for i, c in enumerate(case_ids)}
    methods = {m.id: i for i, m in enumerate(protocol.methods)}
    return sorted(rows, key=lambda r: (cases.get(r.case, len(cases)), methods.get(r.method, 0)))


def run_benchmark(
    protocol_path: str | Path,
    out_dir: str | Path,
    *,
    runs_dir: str | Path | None = None,
    only: Iterable[str] = (),
    methods: Iterable[str] = (),
    resume: bool = False,
    quick: bool = False,
    log: Log = print,
) -> BenchmarkResult:
    """Run every selected (case, method) of a protocol; write ``results.csv`` and ``results.md``.

    ``resume``: rows already finished (status ok or skipped) in ``OUT/results.csv`` are kept as
    they are and not run again, so an interrupted run, or a protocol with a method added, is
    completed without redoing the rest; a group's finished fit is kept too, and so are the rows
    of methods this run does not select (``--methods`` adds methods to a results file without
    rerunning the others) and of cases it does not select (``--only`` completes some cases of
    a results file and keeps the others). ``quick``: only the
    quick cases (one per scene in version 2) and the methods not marked ``quick: false``.
    """
    protocol_path = Path(protocol_path).resolve()
    protocol = load_protocol(protocol_path)
    method_ids = _select("method", methods, [m.id for m in protocol.methods])
    chosen = [m for m in protocol.methods if m.id in method_ids and (m.quick or not quick)]
    plans = _plans(protocol, protocol_path.parent, log)
    planned = _selected(plans, only, quick)
    out = Path(out_dir)
    runs = Path(runs_dir) if runs_dir else out / "runs"
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "results.csv", out / "results.md"
    rows: list[Row] = []
    case_ids = {c.id for c, _ in planned}
    chosen_ids = {m.id for m in chosen}
    previous = Previous()
    if resume:
        known = {m.id for m in protocol.methods}
        previous = previous_rows(csv_path, known, {c.id for c, _ in plans}, chosen_ids, case_ids)
    done, kept = previous.done, previous.kept
    start = time.perf_counter()
    env = {**environment(), "load average at start": load_average()}
    cases = [c for c, _ in planned]
    on_record = case_ids | {r.case for r in kept}
    listed = [c for c, _ in plans if c.id in on_record]  # the cases the results files show
    info = RunInfo(protocol, protocol_path, listed, dt.datetime.now(dt.timezone.utc), env=env)
    info.plans.update({c.id: p for c, p in plans if c.id in on_record and not isinstance(p, str)})
    fits = Fits(runs, resume)

    def write() -> None:
        env["at the end"] = load_average()
        info.seconds = time.perf_counter() - start
        # finished before, not reached yet: kept if this run is interrupted
        waiting = previous.waiting({(r.case, r.method) for r in rows}, chosen_ids, case_ids)
        every = _in_order([*rows, *kept, *waiting], [c.id for c in listed], protocol)
        atomic_write_text(csv_path, results_csv(every))
        atomic_write_text(md_path, results_markdown(every, info))
        if protocol.version >= 2:
            atomic_write_text(out / "summary.md", summary_markdown(every, info))

    def runs_on(case: CaseSpec, method: MethodSpec) -> bool:
        return method.cases == "all" or case.quick or not case.pairs

    total = sum(runs_on(c, m) for c in cases for m in chosen)
    for case, plan in planned:
        if isinstance(plan, str):
            log(f"{case.id}: {plan}")
            rows += [Row(case.id, m.id, status=plan, target=str(case.target)) for m in chosen]
            write()
            continue
        for method in (m for m in chosen if runs_on(case, m)):
            log(f"[{len(rows) + 1}/{total}] {case.id} x {method.id}")
            if (case.id, method.id) in done:
                rows.append(done[(case.id, method.id)])
                log("    kept from the previous run")
                continue
            try:
                row = _run_one(plan, method, runs / case.id / method.id, fits, log)
            except Exception as exc:  # scoring a strange prediction must not stop the others
                reason = " ".join(str(exc).split())[:200]
                row = Row(case.id, method.id, status=f"error: {type(exc).__name__}: {reason}")
            rows.append(row)
            _log_row(row, log)
        write()
    write()
    return BenchmarkResult(rows, csv_path, md_path, time.perf_counter() - start)
