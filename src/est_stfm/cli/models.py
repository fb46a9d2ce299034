"""``est-stfm models``: every name ``--model`` accepts."""

from __future__ import annotations

import typer

from est_stfm.cli.app import app


@app.command()
def models() -> None:
    """List the model presets, the shipped pretrained weights and the classic methods."""
    from est_stfm.methods.classic import CLASSIC_METHODS
    from est_stfm.models import describe_models
    from est_stfm.models.pretrained import describe_pretrained

    typer.echo("presets (est-stfm fit --model NAME):")
    for name, description, n in describe_models():
        typer.echo(f"  {name:26s} {n:>11,d} parameters  {description}")
    typer.echo("pretrained weights (predict --model NAME, fit --init NAME):")
    for name, preset, summary in describe_pretrained():
        typer.echo(f"  {name:26s} {preset}: {summary}")
    typer.echo("classic methods (predict --model NAME, no training):")
    typer.echo("  " + ", ".join(CLASSIC_METHODS))
