"""The ``est-stfm`` Typer application and its console entry point."""

from __future__ import annotations

import sys

import typer

from est_stfm.errors import EstStfmError, format_error

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="EST-STFM spatiotemporal fusion: fit, predict, evaluate.",
)


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and exit status 2.

    Usage errors (a missing option, say) are click's: a usage message and exit status 2.
    """
    try:
        app()
    except EstStfmError as exc:
        typer.echo(format_error(exc), err=True)
        sys.exit(2)
