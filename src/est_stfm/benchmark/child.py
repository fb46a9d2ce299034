"""One fresh Python process per fit or prediction, timed, with its peak memory measured.

The parent writes a job (:class:`FitJob` or :class:`PredictJob`) as JSON, starts
``python -c "...child_main()" JOB.json`` and waits; the child runs the job and reports its result
and its own peak memory in files beside the job. A crash or a timeout is the run's status; it
never stops the parent.

Peak memory is the child's own high-water mark: ``VmHWM`` of its address space, reported by the
child itself on Linux. (The ``ru_maxrss`` that ``os.wait4`` returns for the child is not used
when that is available: Linux carries the pre-``exec`` high-water mark into it, so it is never
below the parent's own peak at the time of the spawn. It remains the fallback, an upper bound,
for a child that died before reporting, and on other systems.)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from est_stfm.errors import EstStfmError, format_error
from est_stfm.scene import load_scene
from est_stfm.scene.dates import parse_date

CHILD_CODE = "from est_stfm.benchmark.child import child_main; child_main()"
"""What the child process runs (``python -c``), with the job file as its argument."""

MODEL_FILE = "model.json"
"""The metadata file of a saved model: it exists once a fit has finished."""


@dataclass(frozen=True)
class FitJob:
    """Train a model on ``scene`` with ``config`` (``FitConfig`` settings) into ``out``."""

    scene: str
    out: str
    config: dict[str, Any]
    action: Literal["fit"] = "fit"


@dataclass(frozen=True)
class PredictJob:
    """Predict the fine image of ``date`` with ``method`` (a name or a model folder) to ``out``."""

    scene: str
    date: str
    method: str
    out: str
    reference: str | None = None
    references: list[str] | None = None
    """Two dates: fuse from both pairs (the nearest before and after ``date``); overrides
    ``reference``."""
    action: Literal["predict"] = "predict"


Job = FitJob | PredictJob


@dataclass(frozen=True)
class FitRecord:
    """What the benchmark needs from a saved model's ``model.json``: its dates."""

    training_dates: list[str]
    holdout: list[str]

    @classmethod
    def read(cls, model_dir: str | Path) -> FitRecord:
        """The record of the model saved in ``model_dir``."""
        path = Path(model_dir) / MODEL_FILE
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                training_dates=[parse_date(d).isoformat() for d in meta["training_dates"]],
                holdout=[parse_date(d).isoformat() for d in meta.get("holdout", [])],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = type(exc).__name__
            raise EstStfmError(f"{path}: no readable training dates ({reason})") from None


@dataclass(frozen=True)
class PredictRecord:
    """What a prediction used: the reference date(s) (``+``-joined) and the method's name."""

    reference: str
    method: str


@dataclass(frozen=True)
class ChildRun:
    """One finished child process: exit status, wall seconds, peak memory, its log."""

    returncode: int
    seconds: float
    peak_mib: float
    log: Path
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


def run_child(job: Job, workdir: Path, name: str, timeout_s: float | None) -> ChildRun:
    """Run ``job`` in a fresh Python process; measure its wall time and peak memory.

    Files in ``workdir``: ``NAME.json`` (the job), ``NAME.log`` (its output),
    ``NAME.result.json`` (what it did) and ``NAME.peak`` (its peak memory).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    job_path, log_path = workdir / f"{name}.json", workdir / f"{name}.log"
    result_path, peak_path = workdir / f"{name}.result.json", workdir / f"{name}.peak"
    result_path.unlink(missing_ok=True)
    peak_path.unlink(missing_ok=True)
    spec = {**dataclasses.asdict(job), "result": str(result_path), "peak": str(peak_path)}
    spec["parent"] = os.getpid()  # the child ends when this process dies (kill -9 included)
    job_path.write_text(json.dumps(spec, indent=2, default=str) + "\n", encoding="utf-8")
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # importable even when not installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    killed: list[bool] = []
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD_CODE, str(job_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )

        def kill() -> None:
            killed.append(True)
            proc.kill()

        timer = threading.Timer(timeout_s, kill) if timeout_s else None
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
    try:
        peak = float(peak_path.read_text(encoding="ascii"))  # the child's own high-water mark
    except (OSError, ValueError):
        pass  # died before reporting: keep the wait4 upper bound
    return ChildRun(proc.returncode, seconds, peak, log_path, bool(killed))


def run_job(job: Job) -> FitRecord | PredictRecord:
    """Do what ``job`` says in this process (the child's work)."""
    if isinstance(job, FitJob):
        from est_stfm.training import FitConfig, fit

        cfg = FitConfig(**job.config)
        scene = load_scene(job.scene, hidden_fine=cfg.holdout, hidden_coarse=cfg.holdout)
        fit(scene, job.out, cfg, progress=False)
        return FitRecord.read(job.out)
    from est_stfm.inference.predict import predict_to_file
    from est_stfm.methods import resolve_method

    scene = load_scene(job.scene, hidden_fine=[job.date])  # the target's truth stays unopened
    method = resolve_method(job.method, scene)
    if job.references and len(job.references) == 2:
        fused = predict_to_file(scene, job.date, method, job.out, pairs="2")
        wanted = tuple(parse_date(d) for d in job.references)
        if fused.references != wanted:
            raise EstStfmError(f"predicted from {fused.references}, the job asked {wanted}")
    else:
        reference = job.references[0] if job.references else job.reference
        fused = predict_to_file(scene, job.date, method, job.out, reference, pairs="1")
    used = "+".join(d.isoformat() for d in fused.references)
    return PredictRecord(used, fused.method)  # after the pair check: its strength in the name


def read_job(spec: dict[str, Any]) -> Job:
    """The job of a job file's content (its ``result`` and ``peak`` paths left aside)."""
    kinds: dict[str, type[FitJob] | type[PredictJob]] = {"fit": FitJob, "predict": PredictJob}
    action = spec.get("action")
    if action not in kinds:
        raise EstStfmError(f"unknown action {action!r}")
    kind = kinds[action]
    return kind(**{f.name: spec[f.name] for f in dataclasses.fields(kind) if f.name in spec})


def exit_with_parent(parent: int | None) -> None:
    """End this process when the benchmark process ``parent`` that started it dies, even by
    ``kill -9``: an orphaned fit or prediction would go on writing into the run folder that a
    resumed benchmark clears and reuses. Linux: the kernel's parent-death signal; elsewhere a
    thread that watches the parent id."""
    if not parent:
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # already gone before the watch began
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def child_main(argv: Sequence[str] | None = None) -> None:
    """Entry point of a child process: run the job file given as the only argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    exit_with_parent(spec.get("parent"))
    try:
        record = run_job(read_job(spec))
    except EstStfmError as exc:
        print(format_error(exc), file=sys.stderr)
        sys.exit(2)
    finally:
        if spec.get("peak"):
            Path(spec["peak"]).write_text(f"{own_peak_mib():.3f}\n", encoding="ascii")
    text = json.dumps(dataclasses.asdict(record), default=str) + "\n"
    Path(spec["result"]).write_text(text, encoding="utf-8")
