"""``est-stfm demo``: synthetic scene -> fit -> predict -> metrics, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from est_stfm.cli.app import app


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="output directory")] = Path("demo_out"),
    epochs: Annotated[int, typer.Option(help="training epochs (about 3 minutes on 2 cores)")] = 6,
    size: Annotated[int, typer.Option(help="scene size in pixels")] = 256,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    model: Annotated[
        str, typer.Option(help="model preset (est-stfm-any-tiny: from the shipped weights)")
    ] = "est-stfm-any-tiny",
) -> None:
    """Synthetic scene -> fit -> predict a held-out date -> metrics table and quick-look PNG."""
    from est_stfm.demo import run_demo
    from est_stfm.io.atomic import check_output_folder

    check_output_folder(out, "--out")
    typer.echo(f"demo: synthetic {size}x{size} scene, fitting {model} for {epochs} epochs ...")
    res = run_demo(out, epochs=epochs, size=size, seed=seed, model=model)
    typer.echo(
        f"held-out date {res.target}, reference {res.reference}; metrics on the held-out date:"
    )
    typer.echo(res.table)
    typer.echo(f"prediction: {res.prediction}")
    if res.figure:
        typer.echo(f"quick-look: {res.figure}")
