"""``est-stfm cluster``: k-means maps of prediction and truth, and their agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from est_stfm.cli.app import app
from est_stfm.cli.options import Mask, Scale, Seed, json_option
from est_stfm.io.atomic import check_output_file


@app.command()
def cluster(
    pred: Annotated[Path, typer.Argument(help="fused raster", metavar="PRED.tif")],
    truth: Annotated[
        Path, typer.Argument(help="real fine raster of the same date and grid", metavar="TRUTH.tif")
    ],
    k: Annotated[int, typer.Option("--k", help="number of k-means clusters")] = 6,
    seed: Seed = 0,
    json_out: Annotated[Path | None, json_option("the scores")] = None,
    figure: Annotated[
        Path | None, typer.Option(help="write both cluster maps side by side (PNG)")
    ] = None,
    scale: Scale = None,
    mask: Mask = None,
) -> None:
    """K-means on the fused and on the real image; print agreement, kappa and ARI of the maps."""
    from est_stfm.evaluation.cluster import cluster_files

    for target in (json_out, figure):
        if target is not None:
            check_output_file(target)
    rep = cluster_files(pred, truth, k=k, seed=seed, scale=scale, mask=mask)
    scores = f"agreement {rep.agreement:.4f}, kappa {rep.kappa:.4f}, ARI {rep.ari:.4f}"
    typer.echo(f"k-means, k = {k}, seed {seed}: {scores}")
    typer.echo(f"({rep.valid_pixels} valid pixels, centroids fitted on {rep.sample_pixels})")
    if json_out:
        from est_stfm.io.jsonfile import write_json

        write_json(json_out, rep.to_dict())
    if figure:
        from est_stfm.evaluation.figures import cluster_figure

        path = cluster_figure(figure, rep.pred_labels, rep.truth_labels, k, scores)
        typer.echo(f"figure: {path}")
