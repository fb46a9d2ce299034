"""Options shared by several commands, defined once; defaults come from the library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Quiet = Annotated[bool, typer.Option(help="no progress bar")]
Scale = Annotated[
    float | None, typer.Option(help="reflectance scale for files without scale metadata")
]
Mask = Annotated[
    Path | None, typer.Option(help="raster on the same grid: non-zero = use this pixel")
]
Seed = Annotated[int, typer.Option(help="random seed")]



def json_out(what: str) -> object:
    """The ``--json OUT.json`` option."""
    return typer.Option("--json", help=f"write {what} as JSON")
