"""``est-stfm benchmark``: run a benchmark protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from est_stfm.cli.app import app


@app.command()
def benchmark(
    protocol: Annotated[
        Path, typer.Argument(help="protocol YAML, e.g. benchmarks/protocol-v1.yaml")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="folder for results.csv and results.md")
    ] = Path("benchmark_out"),
    runs: Annotated[
        Path | None, typer.Option(help="folder for models, predictions, logs (default OUT/runs)")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="run only this case id (repeatable)")
    ] = None,
    methods: Annotated[
        list[str] | None, typer.Option("--methods", help="run only this method id (repeatable)")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="keep the finished rows of OUT/results.csv; run only the rest")
    ] = False,
    quick: Annotated[
        bool, typer.Option(help="only the quick cases (one per scene) and quick methods")
    ] = False,
) -> None:
    """Run a benchmark protocol: fit and predict each (case, method) in a fresh process, score."""
    from est_stfm.benchmark.runner import run_benchmark
    from est_stfm.io.atomic import check_output_folder

    check_output_folder(out, "--out")
    if runs is not None:
        check_output_folder(runs, "--runs")
    res = run_benchmark(
        protocol,
        out,
        runs_dir=runs,
        only=only or [],
        methods=methods or [],
        resume=resume,
        quick=quick,
    )
    typer.echo(f"wrote {res.csv} and {res.markdown} ({res.seconds / 60:.1f} min)")
    if res.errors:
        typer.echo(f"{len(res.errors)} run(s) failed: see the status column", err=True)
        raise typer.Exit(1)
