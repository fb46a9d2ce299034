"""The benchmark runner: a versioned protocol of cases x methods, run and scored the same way.

A protocol (YAML, see ``benchmarks/protocol-v1.yaml``) lists **cases** (a scene, a target date
whose fine image is the truth, an optional reference date, the dates a method may train on, the
metric settings) and **methods** (a classic method by name, or a model to ``fit`` with its
settings). For every (case, method):

1. a trainable method is fitted in a fresh process, with every date outside the case's training
   dates (the target always) passed as ``holdout``; the saved model's ``training_dates`` are then
   checked to exclude them, so no run can ever train on a target's fine image. A case with fewer
   training dates than the method needs is reported as skipped, not as an error;
2. the prediction runs in another fresh process and writes a GeoTIFF;
3. the prediction is scored against the truth over pixels valid in both with the full metric suite
   (:func:`est_stfm.evaluation.evaluate_arrays`, the case's ``data_range`` and ``ergas_ratio``),
   plus k-means clustering agreement (k = 6) when :mod:`est_stfm.evaluation.cluster` is present.

Each process's wall time and peak resident memory are measured, so fit and predict are timed
separately, and a crash or a timeout in one run becomes that row's status while the others go on.
Peak memory is the child's own high-water mark: ``VmHWM`` of its address space, reported by the
child itself on Linux. (The ``ru_maxrss`` that ``os.wait4`` returns for the child is not used
when that is available: Linux carries the pre-``exec`` high-water mark into it, so it is never
below the runner's own peak at the time of the spawn. It remains the fallback, an upper bound,
for a child that died before reporting, and on other systems.) Results: ``results.csv`` (one row per
case x method) and ``results.md`` (one table per case, best RMSE and SSIM in bold, the
environment in the header), rewritten after every case.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from est_stfm.errors import EstStfmError
from est_stfm.evaluation.metrics import METRIC_NAMES, evaluate_arrays
from est_stfm.io import read_raster
from est_stfm.io.atomic import atomic_write_text
from est_stfm.methods.classic import CLASSIC_METHODS
from est_stfm.scene import Scene, load_scene
from est_stfm.scene.scene import parse_date

SUPPORTED_VERSIONS = (1,)
"""Protocol versions this runner understands."""

CLUSTER_COLUMNS = ("cluster_OA", "cluster_kappa", "cluster_ARI")
CSV_COLUMNS = (
    "case",
    "method",
    "status",
    "target",
    "reference",
    "training_dates",
    "unit",
    "coarse",
    "data_range",
    "ergas_ratio",
    "valid_pixels",
    *METRIC_NAMES,
    *CLUSTER_COLUMNS,
    "fit_s",
    "predict_s",
    "fit_peak_mib",
    "predict_peak_mib",
)
"""The columns of ``results.csv``, in order."""

START_MARKER = "<!-- benchmark:start -->"
END_MARKER = "<!-- benchmark:end -->"
_CHILD_CODE = "from est_stfm.benchmark.runner import child_main; child_main()"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"
DEFAULT_PREDICT_TIMEOUT_MIN = 30.0


# --- the protocol -----------------------------------------------------------------------------


def _date(value: Any) -> dt.date:
    return parse_date(value)


class CaseSpec(BaseModel):
    """One case: a scene, the target date (the truth) and how to score it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID)
    scene: str = Field(min_length=1)
    target: dt.date
    reference: dt.date | None = None
    train_dates: list[dt.date] | None = None
    data_range: float = Field(1.0, gt=0)
    ergas_ratio: float = Field(gt=0, le=1)
    unit: str = "reflectance"
    coarse: Literal["real", "simulated"] = "real"
    description: str = ""

    @field_validator("target", "reference", mode="before")
    @classmethod
    def _one_date(cls, value: Any) -> Any:
        return None if value is None else _date(value)

    @field_validator("train_dates", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        if value is None or not isinstance(value, (list, tuple)):
            return value
        return [_date(v) for v in value]

    @model_validator(mode="after")
    def _check(self) -> CaseSpec:
        if self.reference == self.target:
            raise ValueError(f"reference {self.reference} must differ from the target")
        if self.train_dates is not None and self.target in self.train_dates:
            raise ValueError(f"train_dates must not contain the target {self.target}")
        return self


class MethodSpec(BaseModel):
    """One method: a classic one by name, or a model trained with ``fit`` settings."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID)
    method: str | None = None
    fit: dict[str, Any] | None = None
    min_train_dates: int = Field(2, ge=1)
    timeout_minutes: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> MethodSpec:
        if self.fit is None:
            name = self.method or self.id
            if name not in CLASSIC_METHODS:
                raise ValueError(
                    f"unknown method {name!r}: name one of {', '.join(CLASSIC_METHODS)} "
                    "or give fit settings (e.g. fit: {model: est-stfm-tiny, minutes: 3})"
                )
            return self
        if self.method is not None:
            raise ValueError("give either method or fit, not both")
        if "holdout" in self.fit:
            raise ValueError("fit.holdout is set by the runner (the target and untrained dates)")
        from est_stfm.training import FitConfig

        try:
            FitConfig(**self.fit)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"fit.{where}: {err['msg']}") from None
        return self

    @property
    def trainable(self) -> bool:
        """True when the method is fitted before it predicts."""
        return self.fit is not None

    def timeout_s(self) -> float | None:
        """Wall-clock limit of the fit process (the predict one has its own default)."""
        if self.timeout_minutes:
            return self.timeout_minutes * 60
        if self.fit and self.fit.get("minutes"):
            return float(self.fit["minutes"]) * 60 * 3 + 600
        return None


class Protocol(BaseModel):
    """A versioned benchmark protocol: every case is run with every method."""

    model_config = ConfigDict(extra="forbid")

    version: int
    name: str = ""
    description: str = ""
    cases: list[CaseSpec] = Field(min_length=1)
    methods: list[MethodSpec] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value not in SUPPORTED_VERSIONS:
            known = ", ".join(map(str, SUPPORTED_VERSIONS))
            raise ValueError(f"version {value} is not supported by this est-stfm (known: {known})")
        return value

    @model_validator(mode="after")
    def _unique(self) -> Protocol:
        for kind, ids in (
            ("case", [c.id for c in self.cases]),
            ("method", [m.id for m in self.methods]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{kind} id {dupes[0]!r} appears more than once")
        return self


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate a protocol file; every problem is a one-line :class:`EstStfmError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise EstStfmError(
            f"cannot read protocol file {path} ({reason}): give a YAML file"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise EstStfmError(f"protocol {path}: not valid YAML{where}") from None
    except ValueError as exc:
        raise EstStfmError(f"protocol {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise EstStfmError(f"protocol {path}: expected a mapping with version, cases and methods")
    try:
        return Protocol(**{str(k): v for k, v in data.items()})
    except ValidationError as exc:
        errors = exc.errors()
        err = errors[0]
        where = ".".join(str(p) for p in err["loc"]) or "file"
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise EstStfmError(f"protocol {path}: {where}: {' '.join(msg.split())}{more}") from None


# --- dates of a case ----------------------------------------------------------------------------


def case_dates(case: CaseSpec, scene: Scene) -> tuple[list[dt.date], list[dt.date]]:
    """``(training dates, holdout dates)`` of a case on its scene.

    Training dates: the listed ``train_dates``, else every date with a fine and a coarse image
    except the target. Holdout: every other pair date, the target always included.
    """
    pairs = scene.pairs_dates()
    if case.target not in scene.fine or case.target not in scene.coarse:
        raise EstStfmError(
            f"case {case.id}: target {case.target} needs a fine (truth) and a coarse image in "
            f"{scene.path} (dates with both: {', '.join(map(str, pairs)) or 'none'})"
        )
    if case.train_dates is None:
        train = [d for d in pairs if d != case.target]
    else:
        missing = [d for d in case.train_dates if d not in pairs]
        if missing:
            raise EstStfmError(
                f"case {case.id}: training date {missing[0]} has no fine and coarse pair in "
                f"{scene.path}"
            )
        train = sorted(set(case.train_dates))
    holdout = [d for d in pairs if d not in train]
    return train, holdout


def check_training_dates(saved: Iterable[str], allowed: Sequence[dt.date], target: dt.date) -> None:
    """Raise :class:`EstStfmError` unless every saved training date is allowed, not the target."""
    dates = [parse_date(d) for d in saved]
    if target in dates:
        raise EstStfmError(f"holdout violated: the model was trained on the target {target}")
    extra = [d for d in dates if d not in allowed]
    if extra:
        raise EstStfmError(f"holdout violated: the model was trained on {extra[0]}, not allowed")


# --- child processes ----------------------------------------------------------------------------


@dataclass
class ChildRun:
    """One finished child process: exit status, wall seconds, peak memory, its result."""

    returncode: int
    seconds: float
    peak_mib: float
    log: Path
    result: dict[str, Any] | None
    timed_out: bool = False

    def failure(self, what: str) -> str:
        """A one-line status for a failed run: the exit status and the last line of its log."""
        if self.timed_out:
            return f"error: {what} timed out after {self.seconds:.0f} s"
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            lines = []
        last = " ".join(lines[-1].split())[:200] if lines else "no output"
        return f"error: {what} failed (exit {self.returncode}): {last}"


def _maxrss_mib(maxrss: int) -> float:
    """``ru_maxrss`` in MiB (kilobytes on Linux, bytes on macOS)."""
    return maxrss / 1024**2 if sys.platform == "darwin" else maxrss / 1024


def own_peak_mib() -> float:
    """Peak resident memory of this process since it started (``exec``), in MiB.

    ``VmHWM`` from ``/proc/self/status`` on Linux; elsewhere ``ru_maxrss`` of this process (which
    on Linux would include the parent's memory at the spawn); NaN when neither is available.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return math.nan
    return _maxrss_mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_child(spec: dict[str, Any], workdir: Path, name: str, timeout_s: float | None) -> ChildRun:
    """Run one fit or predict ``spec`` in a fresh Python process; measure time and peak memory."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path, log_path = workdir / f"{name}.json", workdir / f"{name}.log"
    result_path = workdir / f"{name}.result.json"
    peak_path = workdir / f"{name}.peak"
    result_path.unlink(missing_ok=True)
    peak_path.unlink(missing_ok=True)
    spec = {**spec, "result": str(result_path), "peak": str(peak_path)}
    spec_path.write_text(json.dumps(spec, indent=2, default=str) + "\n", encoding="utf-8")
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # importable even when not installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    killed: list[bool] = []
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CODE, str(spec_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )

        def _kill() -> None:
            killed.append(True)
            proc.kill()

        timer = threading.Timer(timeout_s, _kill) if timeout_s else None
        if timer:
            timer.start()
        peak = math.nan
        try:
            if hasattr(os, "wait4"):
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                peak = _maxrss_mib(usage.ru_maxrss)
            else:  # pragma: no cover - Windows: no per-child rusage
                proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if timer:
                timer.cancel()
        seconds = time.perf_counter() - start
    result = None
    if proc.returncode == 0 and result_path.exists():
        result = json.loads(result_path.read_text(encoding="utf-8"))
    try:
        peak = float(peak_path.read_text(encoding="ascii"))  # the child's own high-water mark
    except (OSError, ValueError):
        pass  # died before reporting: keep the wait4 upper bound
    return ChildRun(proc.returncode, seconds, peak, log_path, result, bool(killed))


def _child_run(spec: dict[str, Any]) -> dict[str, Any]:
    scene = load_scene(spec["scene"])
    if spec["action"] == "fit":
        from est_stfm.training import FitConfig, fit

        cfg = FitConfig(**spec["config"])
        _, meta = fit(scene, spec["out"], cfg, progress=False)
        return {"training_dates": meta["training_dates"], "metrics": meta["metrics"]}
    if spec["action"] == "predict":
        from est_stfm.inference.predict import predict_to_file
        from est_stfm.methods import resolve_method

        method = resolve_method(spec["method"], scene)
        fused = predict_to_file(
            scene, spec["date"], method, spec["out"], spec.get("reference"), pairs="1"
        )
        return {"reference": fused.reference.isoformat(), "method": method.name}
    raise EstStfmError(f"unknown action {spec['action']!r}")


def child_main(argv: Sequence[str] | None = None) -> None:
    """Entry point of a child process: run the spec file given as the only argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    try:
        result = _child_run(spec)
    except EstStfmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        if spec.get("peak"):
            Path(spec["peak"]).write_text(f"{own_peak_mib():.3f}\n", encoding="ascii")
    Path(spec["result"]).write_text(json.dumps(result, default=str) + "\n", encoding="utf-8")


# --- running a protocol ---------------------------------------------------------------------


@dataclass
class Row:
    """One (case, method) result: status, dates, metrics, cost."""

    case: str
    method: str
    status: str = "ok"
    target: str = ""
    reference: str = ""
    training_dates: list[str] = field(default_factory=list)
    unit: str = ""
    coarse: str = ""
    data_range: float | None = None
    ergas_ratio: float | None = None
    valid_pixels: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    cluster: dict[str, float] = field(default_factory=dict)
    fit_s: float | None = None
    predict_s: float | None = None
    fit_peak_mib: float | None = None
    predict_peak_mib: float | None = None

    @property
    def ok(self) -> bool:
        """True when the run produced metrics."""
        return self.status == "ok"

    def as_csv(self) -> dict[str, str]:
        """The row as ``results.csv`` cells (empty where not measured)."""

        def num(value: float | None, digits: int = 6) -> str:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return ""
            return f"{value:.{digits}g}"

        cells = {
            "case": self.case,
            "method": self.method,
            "status": self.status,
            "target": self.target,
            "reference": self.reference,
            "training_dates": ";".join(self.training_dates),
            "unit": self.unit,
            "coarse": self.coarse,
            "data_range": num(self.data_range),
            "ergas_ratio": num(self.ergas_ratio),
            "valid_pixels": "" if self.valid_pixels is None else str(self.valid_pixels),
        }
        cells.update({m: num(self.metrics.get(m)) for m in METRIC_NAMES})
        cells.update({c: num(self.cluster.get(c)) for c in CLUSTER_COLUMNS})
        for key in ("fit_s", "predict_s", "fit_peak_mib", "predict_peak_mib"):
            value = getattr(self, key)
            cells[key] = "" if value is None or math.isnan(value) else f"{value:.1f}"
        return cells


def rows_from_csv(path: Path) -> list[Row]:
    """The rows of a ``results.csv`` written by :func:`results_csv` (for ``--resume``)."""

    def num(text: str) -> float | None:
        return float(text) if text else None

    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for cells in csv.DictReader(fh):
            rows.append(
                Row(
                    case=cells["case"],
                    method=cells["method"],
                    status=cells["status"],
                    target=cells["target"],
                    reference=cells["reference"],
                    training_dates=[d for d in cells["training_dates"].split(";") if d],
                    unit=cells["unit"],
                    coarse=cells["coarse"],
                    data_range=num(cells["data_range"]),
                    ergas_ratio=num(cells["ergas_ratio"]),
                    valid_pixels=int(cells["valid_pixels"]) if cells["valid_pixels"] else None,
                    metrics={m: float(cells[m]) for m in METRIC_NAMES if cells.get(m)},
                    cluster={c: float(cells[c]) for c in CLUSTER_COLUMNS if cells.get(c)},
                    fit_s=num(cells["fit_s"]),
                    predict_s=num(cells["predict_s"]),
                    fit_peak_mib=num(cells["fit_peak_mib"]),
                    predict_peak_mib=num(cells["predict_peak_mib"]),
                )
            )
    return rows


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
    names: list[str] = []
    for item in wanted:
        names += [n.strip() for n in str(item).split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise EstStfmError(
            f"unknown {kind} {unknown[0]!r}: the protocol has {', '.join(available)}"
        )
    return [a for a in available if a in names] if names else available


def _cluster_values(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """Clustering agreement (k = 6) when the cluster module exists, else nothing."""
    try:
        from est_stfm.evaluation.cluster import cluster_agreement
    except ImportError:
        return {}
    report = cluster_agreement(pred, truth, valid, k=6, seed=0)
    names = {
        "cluster_OA": ("overall_agreement", "overall_accuracy", "agreement", "oa", "OA"),
        "cluster_kappa": ("kappa", "cohen_kappa"),
        "cluster_ARI": ("ari", "ARI", "adjusted_rand", "adjusted_rand_index"),
    }
    out = {}
    for column, candidates in names.items():
        for name in candidates:
            value = report.get(name) if isinstance(report, dict) else getattr(report, name, None)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[column] = float(value)
                break
    return out


def score(
    pred_path: Path, scene: Scene, case: CaseSpec, row: Row, log: Callable[[str], None]
) -> None:
    """Fill ``row`` with the metric suite (and clustering) of a prediction against the truth."""
    pred, pred_valid = read_raster(pred_path, scene.scale)
    truth, truth_valid = scene.read_fine(case.target)
    valid = pred_valid & truth_valid
    report = evaluate_arrays(
        pred, truth, valid, data_range=case.data_range, ergas_ratio=case.ergas_ratio
    )
    row.metrics, row.valid_pixels = dict(report.overall), report.valid_pixels
    try:
        row.cluster = _cluster_values(pred, truth, valid)
    except Exception as exc:  # the clustering column is optional: never lose the metrics
        log(f"    clustering failed ({type(exc).__name__}: {exc}); column left empty")


def _run_case_method(
    case: CaseSpec,
    scene: Scene,
    method: MethodSpec,
    train: list[dt.date],
    holdout: list[dt.date],
    reference: dt.date,
    workdir: Path,
    log: Callable[[str], None],
) -> Row:
    row = Row(case.id, method.id, target=case.target.isoformat(), reference=reference.isoformat())
    row.unit, row.coarse = case.unit, case.coarse
    row.data_range, row.ergas_ratio = case.data_range, case.ergas_ratio
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    spec_method = method.method or method.id
    if method.trainable:
        if len(train) < method.min_train_dates:
            row.status = (
                f"skipped: needs {method.min_train_dates} training dates, the case has {len(train)}"
            )
            return row
        row.training_dates = [d.isoformat() for d in train]
        config = {**(method.fit or {}), "holdout": [d.isoformat() for d in holdout]}
        model_dir = workdir / "model"
        fit_spec = {
            "action": "fit",
            "scene": str(scene.path),
            "out": str(model_dir),
            "config": config,
        }
        log(f"    fit {method.fit} (holdout {', '.join(map(str, holdout))})")
        run = run_child(fit_spec, workdir, "fit", method.timeout_s())
        row.fit_s, row.fit_peak_mib = run.seconds, run.peak_mib
        if run.returncode != 0 or not (model_dir / "model.json").exists():
            row.status = run.failure("fit")
            return row
        saved = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
        try:
            check_training_dates(saved.get("training_dates", []), train, case.target)
        except EstStfmError as exc:
            row.status = f"error: {exc}"
            return row
        spec_method = str(model_dir)
    pred_path = workdir / "prediction.tif"
    predict_spec = {
        "action": "predict",
        "scene": str(scene.path),
        "date": case.target.isoformat(),
        "reference": reference.isoformat(),
        "method": spec_method,
        "out": str(pred_path),
    }
    run = run_child(predict_spec, workdir, "predict", DEFAULT_PREDICT_TIMEOUT_MIN * 60)
    row.predict_s, row.predict_peak_mib = run.seconds, run.peak_mib
    if run.returncode != 0 or not pred_path.exists():
        row.status = run.failure("predict")
        return row
    score(pred_path, scene, case, row, log)
    return row


def run_benchmark(
    protocol_path: str | Path,
    out_dir: str | Path,
    *,
    runs_dir: str | Path | None = None,
    only: Iterable[str] = (),
    methods: Iterable[str] = (),
    resume: bool = False,
    log: Callable[[str], None] = print,
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
    info: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    started = dt.datetime.now(dt.timezone.utc)

    env = {**environment(), "load average at start": load_average()}

    def write() -> None:
        env["at the end"] = load_average()
        elapsed = time.perf_counter() - start
        atomic_write_text(csv_path, results_csv(rows))
        atomic_write_text(
            md_path,
            results_markdown(rows, protocol, protocol_path, cases, started, elapsed, info, env),
        )

    total = len(cases) * len(chosen)
    for case in cases:
        scene_path = (protocol_path.parent / case.scene).resolve()
        try:
            if not scene_path.exists():
                raise FileNotFoundError(scene_path)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                scene = load_scene(scene_path)
            for warning in caught:  # e.g. no georeferencing: one line in the log, no traceback
                log(f"{case.id}: note: {warning.message}")
            train, holdout = case_dates(case, scene)
            reference = case.reference or scene.nearest_reference(case.target)
            if reference not in scene.pairs_dates():
                raise EstStfmError(f"case {case.id}: reference {reference} is not a pair date")
            info[case.id] = {
                "reference": reference.isoformat(),
                "train": [d.isoformat() for d in train],
            }
        except (EstStfmError, FileNotFoundError) as exc:
            status = (
                f"skipped: scene {case.scene} not prepared"
                if isinstance(exc, FileNotFoundError)
                else f"error: {exc}"
            )
            log(f"{case.id}: {status}")
            rows += [
                Row(case.id, m.id, status=status, target=case.target.isoformat()) for m in chosen
            ]
            write()
            continue
        for method in chosen:
            log(f"[{len(rows) + 1}/{total}] {case.id} x {method.id}")
            if (case.id, method.id) in done:
                rows.append(done[(case.id, method.id)])
                log("    kept from the previous run")
                continue
            try:
                row = _run_case_method(
                    case, scene, method, train, holdout, reference, runs / case.id / method.id, log
                )
            except Exception as exc:  # scoring a strange prediction must not stop the others
                reason = " ".join(str(exc).split())[:200]
                row = Row(case.id, method.id, status=f"error: {type(exc).__name__}: {reason}")
            rows.append(row)
            if row.ok:
                m = row.metrics
                cost = f"fit {row.fit_s:.1f} s, " if row.fit_s is not None else ""
                log(
                    f"    RMSE {m['RMSE']:.4f}  SSIM {m['SSIM']:.4f}  ({cost}predict "
                    f"{row.predict_s:.1f} s, peak {row.predict_peak_mib:.0f} MiB)"
                )
            else:
                log(f"    {row.status}")
        write()
    write()
    return BenchmarkResult(rows, csv_path, md_path, time.perf_counter() - start)


# --- writing results ----------------------------------------------------------------------------


def results_csv(rows: list[Row]) -> str:
    """``results.csv`` text: one line per row, columns :data:`CSV_COLUMNS`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.as_csv())
    return buf.getvalue()


def load_average() -> str:
    """The 1-minute load average (other work on the machine slows every run), or n/a."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def _pkg_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """What the numbers depend on: machine and versions."""
    return {
        "CPU cores": str(os.cpu_count()),
        "platform": f"{platform.system()} {platform.machine()}",
        "Python": platform.python_version(),
        "torch": _pkg_version("torch"),
        "est-stfm": _pkg_version("est-stfm"),
    }


_DIGITS = {"PSNR": 2, "SAM": 2, "ERGAS": 3}
"""Decimal places in results.md (4 for every other metric)."""
_UNITS = {"PSNR": " (dB)", "SAM": " (deg)"}


def _cell(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def case_table(rows: list[Row]) -> str:
    """The Markdown table of one case; the best RMSE (lowest) and SSIM (highest) in bold."""
    done = [r for r in rows if r.ok]
    best = {}
    if done:
        best["RMSE"] = min(r.metrics["RMSE"] for r in done)
        best["SSIM"] = max(r.metrics["SSIM"] for r in done)
    heads = [m + _UNITS.get(m, "") for m in METRIC_NAMES]
    heads += ["cluster OA", "kappa", "ARI", "fit (s)", "fit peak (MiB)", "predict (s)"]
    heads += ["predict peak (MiB)"]
    lines = ["| method | " + " | ".join(heads) + " | status |"]
    lines.append("|---|" + "---:|" * len(heads) + "---|")
    for r in rows:
        cells = [r.method]
        for name in METRIC_NAMES:
            text = _cell(r.metrics.get(name), _DIGITS.get(name, 4))
            if r.ok and name in best and r.metrics[name] == best[name]:
                text = f"**{text}**"
            cells.append(text)
        cells += [_cell(r.cluster.get(c), 3) for c in CLUSTER_COLUMNS]
        cells += [
            _cell(r.fit_s, 1),
            _cell(r.fit_peak_mib, 0),
            _cell(r.predict_s, 1),
            _cell(r.predict_peak_mib, 0),
            r.status.replace("|", "/"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _case_heading(case: CaseSpec, info: dict[str, Any]) -> str:
    parts = [f"target {case.target}"]
    if info.get("reference"):
        parts[0] += f" from reference {info['reference']}"
    if "train" in info:
        parts.append(f"training dates {', '.join(info['train']) or 'none'}")
    parts.append(f"{case.unit} (data range {case.data_range:g})")
    parts.append(f"ERGAS ratio {case.ergas_ratio:.4g}")
    parts.append(f"{case.coarse} coarse")
    text = f"### {case.id}\n\n"
    if case.description:
        text += f"{case.description.strip()}  \n"
    return text + "; ".join(parts) + "."


def results_markdown(
    rows: list[Row],
    protocol: Protocol,
    protocol_path: Path,
    cases: list[CaseSpec],
    started: dt.datetime,
    seconds: float,
    info: dict[str, dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """``results.md``: environment header, then one table per case."""
    env = env or environment()
    env_text = ", ".join(f"{k} {v}" for k, v in env.items())
    lines = [
        "# est-stfm benchmark results",
        "",
        f"Protocol `{protocol_path.name}` (version {protocol.version}); run "
        f"{started:%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} min in all; {env_text}.",
        "",
        "Metrics over the valid pixels of the whole target image (README, *Metric conventions*), "
        "in each case's unit; PSNR and SSIM use the case's data range. Best RMSE and SSIM per "
        "case in **bold**. Cluster columns: k-means (k = 6) agreement between the prediction and "
        "the truth (empty when not computed). Times are wall seconds of a fresh process "
        "(Python and torch start-up included); peak = that process's maximum resident memory.",
    ]
    for case in cases:
        case_rows = [r for r in rows if r.case == case.id]
        if not case_rows:
            continue
        heading = _case_heading(case, (info or {}).get(case.id, {}))
        statuses = {r.status for r in case_rows}
        if len(statuses) == 1 and not case_rows[0].ok:  # nothing ran: one line, no empty table
            lines += ["", heading, "", f"All methods: {statuses.pop()}."]
        else:
            lines += ["", heading, "", case_table(case_rows)]
    return "\n".join(lines) + "\n"


def splice_markdown(document: str, insert: str) -> str:
    """``document`` with the text between the benchmark markers replaced by ``insert``.

    A leading level-1 heading of ``insert`` is dropped (the document has its own).
    """
    if START_MARKER not in document or END_MARKER not in document:
        raise EstStfmError(f"markers {START_MARKER} and {END_MARKER} not found")
    body = re.sub(r"\A# [^\n]*\n+", "", insert.strip() + "\n")
    head, rest = document.split(START_MARKER, 1)
    _, tail = rest.split(END_MARKER, 1)
    return f"{head}{START_MARKER}\n{body}{END_MARKER}{tail}"
