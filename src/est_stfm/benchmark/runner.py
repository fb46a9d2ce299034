"""The benchmark run: every (case, method) of a protocol, fitted, predicted and scored alike.

For every (case, method):

1. a trainable method is fitted in a fresh process, with every date outside the case's training
   dates (the target always) passed as ``holdout``; the saved model's training dates are then
   checked to exclude them, so no run can ever train on a target's fine image. A case with fewer
   training dates than the method needs is reported as skipped, not as an error;
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
import shutil
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from est_stfm.benchmark.child import MODEL_FILE, FitJob, FitRecord, PredictJob, run_child
from est_stfm.benchmark.protocol import (
    CasePlan,
    CaseSpec,
    MethodSpec,
    check_training_dates,
    load_protocol,
    plan_case,
)
from est_stfm.benchmark.report import RunInfo, environment, load_average, results_markdown
from est_stfm.benchmark.results import Row, results_csv, rows_from_csv
from est_stfm.errors import EstStfmError, format_error
from est_stfm.evaluation.cluster import cluster_agreement
from est_stfm.evaluation.compare import read_reflectance
from est_stfm.evaluation.metrics import evaluate_arrays
from est_stfm.io.atomic import atomic_write_text
from est_stfm.scene import load_scene

DEFAULT_PREDICT_TIMEOUT_MIN = 30.0
"""Wall-clock limit of a prediction process, in minutes."""

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


def _score(pred_path: Path, plan: CasePlan, row: Row, log: Log) -> None:
    """Fill ``row`` with the metric suite and clustering agreement of a prediction."""
    case, scene = plan.case, plan.scene
    pred, pred_valid = read_reflectance(pred_path)  # the scale and offset predict wrote
    truth, truth_valid = scene.read_fine(case.target)
    valid = pred_valid & truth_valid
    report = evaluate_arrays(
        pred, truth, valid, data_range=case.data_range, ergas_ratio=case.ergas_ratio
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
    row.training_dates = [d.isoformat() for d in plan.train]
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
    return model_dir


def _run_one(plan: CasePlan, method: MethodSpec, workdir: Path, log: Log) -> Row:
    """Fit (when trainable), predict and score one method on one case."""
    case = plan.case
    row = Row(case.id, method.id, target=case.target.isoformat())
    row.reference = plan.reference.isoformat()
    row.unit, row.coarse = case.unit, case.coarse
    row.data_range, row.ergas_ratio = case.data_range, case.ergas_ratio
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    name = method.method or method.id
    if method.trainable:
        if len(plan.train) < method.min_train_dates:
            row.status = (
                f"skipped: needs {method.min_train_dates} training dates, "
                f"the case has {len(plan.train)}"
            )
            return row
        model_dir = _fit(plan, method, workdir, row, log)
        if model_dir is None:
            return row
        name = str(model_dir)
    pred_path = workdir / "prediction.tif"
    job = PredictJob(
        scene=str(plan.scene.path),
        date=case.target.isoformat(),
        method=name,
        out=str(pred_path),
        reference=plan.reference.isoformat(),
    )
    run = run_child(job, workdir, "predict", DEFAULT_PREDICT_TIMEOUT_MIN * 60)
    row.predict_s, row.predict_peak_mib = run.seconds, run.peak_mib
    if run.returncode != 0 or not pred_path.exists():
        row.status = run.failure("predict")
        return row
    _score(pred_path, plan, row, log)
    return row


def _plan(case: CaseSpec, protocol_dir: Path, log: Log) -> CasePlan:
    """Read the case's scene (a warning is one log line) and resolve its dates."""
    scene_path = (protocol_dir / case.scene).resolve()
    if not scene_path.exists():
        raise FileNotFoundError(scene_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scene = load_scene(scene_path)
    for warning in caught:  # e.g. no georeferencing: one line in the log, no traceback
        log(f"{case.id}: note: {warning.message}")
    return plan_case(case, scene)


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


def run_benchmark(
    protocol_path: str | Path,
    out_dir: str | Path,
    *,
    runs_dir: str | Path | None = None,
    only: Iterable[str] = (),
    methods: Iterable[str] = (),
    resume: bool = False,
    log: Log = print,
) -> BenchmarkResult:
    """Run every selected (case, method) of a protocol; write ``results.csv`` and ``results.md``.

    ``resume``: rows already finished (status ok or skipped) in ``OUT/results.csv`` are kept as
    they are and not run again, so an interrupted run, or a protocol with a method added, is
    completed without redoing the rest.
    """
    protocol_path = Path(protocol_path).resolve()
    protocol = load_protocol(protocol_path)
    case_ids = _select("case", only, [c.id for c in protocol.cases])
    method_ids = _select("method", methods, [m.id for m in protocol.methods])
    cases = [c for c in protocol.cases if c.id in case_ids]
    chosen = [m for m in protocol.methods if m.id in method_ids]
    out = Path(out_dir)
    runs = Path(runs_dir) if runs_dir else out / "runs"
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "results.csv", out / "results.md"
    rows: list[Row] = []
    done: dict[tuple[str, str], Row] = {}
    if resume and csv_path.is_file():
        done = {
            (r.case, r.method): r
            for r in rows_from_csv(csv_path)
            if r.ok or r.status.startswith("skipped: needs")
        }
    start = time.perf_counter()
    env = {**environment(), "load average at start": load_average()}
    info = RunInfo(protocol, protocol_path, cases, dt.datetime.now(dt.timezone.utc), env=env)

    def write() -> None:
        env["at the end"] = load_average()
        info.seconds = time.perf_counter() - start
        atomic_write_text(csv_path, results_csv(rows))
        atomic_write_text(md_path, results_markdown(rows, info))

    total = len(cases) * len(chosen)
    for case in cases:
        try:
            plan = _plan(case, protocol_path.parent, log)
        except (EstStfmError, FileNotFoundError) as exc:
            status = (
                f"skipped: scene {case.scene} not prepared"
                if isinstance(exc, FileNotFoundError)
                else format_error(exc)
            )
            log(f"{case.id}: {status}")
            rows += [
                Row(case.id, m.id, status=status, target=case.target.isoformat()) for m in chosen
            ]
            write()
            continue
        info.plans[case.id] = plan
        for method in chosen:
            log(f"[{len(rows) + 1}/{total}] {case.id} x {method.id}")
            if (case.id, method.id) in done:
                rows.append(done[(case.id, method.id)])
                log("    kept from the previous run")
                continue
            try:
                row = _run_one(plan, method, runs / case.id / method.id, log)
            except Exception as exc:  # scoring a strange prediction must not stop the others
                reason = " ".join(str(exc).split())[:200]
                row = Row(case.id, method.id, status=f"error: {type(exc).__name__}: {reason}")
            rows.append(row)
            _log_row(row, log)
        write()
    write()
    return BenchmarkResult(rows, csv_path, md_path, time.perf_counter() - start)
