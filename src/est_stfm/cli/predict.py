"""``est-stfm predict``: fuse one date into a georeferenced GeoTIFF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from est_stfm.cli.app import app
from est_stfm.cli.options import Quiet
from est_stfm.errors import EstStfmError
from est_stfm.inference.references import DEFAULT_PAIRS
from est_stfm.inference.tiles import DEFAULT_HALO, DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling
from est_stfm.io.atomic import check_output_file


@app.command()
def predict(
    scene: Annotated[Path, typer.Argument(help="scene YAML", metavar="SCENE.yaml")],
    date: Annotated[str, typer.Option(help="target date YYYY-MM-DD (needs a coarse image)")],
    model: Annotated[
        str,
        typer.Option(help="model folder, pretrained weights or classic method (est-stfm models)"),
    ],
    out: Annotated[Path, typer.Option("--out", help="output GeoTIFF")],
    reference: Annotated[str | None, typer.Option(help="reference date (default: nearest)")] = None,
    pairs: Annotated[
        str, typer.Option(help="reference pairs: 1, 2 (one before, one after) or auto")
    ] = DEFAULT_PAIRS,
    tile: Annotated[
        int, typer.Option(help="tile size in pixels (memory grows with it)")
    ] = DEFAULT_TILE,
    overlap: Annotated[
        int, typer.Option(help="minimum overlap of neighbouring tiles")
    ] = DEFAULT_OVERLAP,
    halo: Annotated[
        int, typer.Option(help="extra context read around each tile (at least the method's)")
    ] = DEFAULT_HALO,
    cog: Annotated[bool, typer.Option(help="write a Cloud-Optimized GeoTIFF")] = False,
    adapt_steps: Annotated[
        int,
        typer.Option(
            help="test-time adaptation: steps on the coarse-change consistency of DATE "
            "(trained models; needs the scene's coarse_factor)"
        ),
    ] = 0,
    quiet: Quiet = False,
) -> None:
    """Predict the fine image at DATE, tile by tile, into a georeferenced GeoTIFF."""
    from est_stfm.inference.predict import predict_to_file
    from est_stfm.methods import resolve_method
    from est_stfm.scene import load_scene

    check_tiling(tile, overlap, halo)
    check_output_file(out)
    if adapt_steps < 0:
        raise EstStfmError(f"--adapt-steps {adapt_steps}: give 0 (off) or a positive number")
    sc = load_scene(scene, hidden_fine=[date])  # the target's fine image is never opened
    method = resolve_method(model, sc)
    if adapt_steps:
        from est_stfm.inference.adapt import adapt_method

        method = adapt_method(method, sc, date, adapt_steps, reference, pairs)
    written = predict_to_file(
        sc,
        date,
        method,
        out,
        reference,
        pairs=pairs,
        tile=tile,
        overlap=overlap,
        halo=halo,
        cog=cog,
        progress=not quiet,
    )
    typer.echo(
        f"wrote {out} ({method.name}, {' + '.join(map(str, written.references))} -> "
        f"{written.date}, {written.tiles} tiles)"
    )
