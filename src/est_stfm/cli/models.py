"""``est-stfm models``: every name ``--model`` accepts."""

from __future__ import annotations

import typer

from est_stfm.cli.app import app

HEADINGS = {
    "preset": "presets (est-stfm fit --model NAME):",
    "pretrained": "pretrained weights (predict --model NAME, fit --init NAME):",
    "classic": "classic methods (predict --model NAME, no training):",
}
"""The kinds of :func:`est_stfm.methods.method_names`, in the order they are printed."""


@app.command()
def models() -> None:
    """List the model presets, the shipped pretrained weights and the classic methods."""
    from est_stfm.methods import method_names
    from est_stfm.models.pretrained import DEFAULT_MODEL

    names = method_names()
    for kind, heading in HEADINGS.items():
        typer.echo(heading)
        of_kind = [m for m in names if m.kind == kind]
        if kind == "classic":  # short names that need no description: one line
            typer.echo("  " + ", ".join(m.name for m in of_kind))
            continue
        for m in of_kind:
            size = "" if m.parameters is None else f"{m.parameters:>11,d} parameters  "
            default = "(predict's default) " if m.name == DEFAULT_MODEL else ""
            typer.echo(f"  {m.name:26s} {size}{default}{m.description}")
