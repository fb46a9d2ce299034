"""Options shared by several commands, defined once; defaults come from the library.

An ``Annotated`` alias is an option whose help is the same everywhere; a ``*_option`` function is
an option whose help names what the command does with it (``--json``, ``--mask``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.models import OptionInfo


def json_option(what: str) -> OptionInfo:
    """``--json OUT.json``: write ``what`` (e.g. "the metrics") as JSON."""
    return typer.Option("--json", help=f"write {what} as JSON")


def mask_option(use: str = "use") -> OptionInfo:
    """``--mask MASK.tif``: only the pixels where the mask is non-zero count (``use`` says how)."""
    return typer.Option(help=f"raster on the same grid: non-zero = {use} this pixel")


Quiet = Annotated[bool, typer.Option(help="no progress bar")]
Scale = Annotated[
    float | None, typer.Option(help="reflectance scale for files without scale metadata")
]
Mask = Annotated[Path | None, mask_option()]
Seed = Annotated[int, typer.Option(help="random seed")]
Threads = Annotated[
    int | None,
    typer.Option(
        min=1, help="CPU threads for the network and the classic base [default: every core]"
    ),
]


def use_threads(threads: int | None) -> None:
    """Run the network (torch) and the classic methods on ``threads`` threads (None: torch's
    default and every available core)."""
    from est_stfm.methods.classic.threads import set_threads

    set_threads(threads)
    if threads:
        import torch

        torch.set_num_threads(threads)
