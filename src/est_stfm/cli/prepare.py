"""``est-stfm prepare``: convert the raw CSIRO CIA/LGC files into GeoTIFFs and a scene."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from est_stfm.cli.app import app


@app.command()
def prepare(
    layout: Annotated[str, typer.Argument(help="cia or lgc", metavar="cia|lgc")],
    raw_dir: Annotated[Path, typer.Argument(help="folder of the raw CSIRO files", metavar="RAW")],
    out_dir: Annotated[Path, typer.Argument(help="folder for GeoTIFFs, scene.yaml", metavar="OUT")],
    rows: Annotated[int | None, typer.Option(help="image rows, when not inferable")] = None,
    cols: Annotated[int | None, typer.Option(help="image columns, when not inferable")] = None,
) -> None:
    """Convert the raw CSIRO CIA/LGC files (ENVI or headerless int16) into GeoTIFFs + a scene."""
    import warnings

    from est_stfm.datasets.csiro import prepare_csiro

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = prepare_csiro(layout, raw_dir, out_dir, rows=rows, cols=cols)
    for message in dict.fromkeys(str(w.message) for w in caught):
        typer.echo(f"warning: {message}", err=True)
    pairs = len(res.scene.pairs_dates())
    typer.echo(
        f"wrote {res.scene_path} ({len(res.fine)} fine, {len(res.coarse)} coarse images, "
        f"{pairs} dates with both)"
    )
