"""``est-stfm evaluate``: the metric suite of a prediction against the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from est_stfm.cli.app import app
from est_stfm.cli.options import Scale, json_option, mask_option
from est_stfm.io.atomic import check_output_file


@app.command()
def evaluate(
    pred: Annotated[Path, typer.Argument(help="predicted raster", metavar="PRED.tif")],
    truth: Annotated[
        Path, typer.Argument(help="true fine raster of the same date and grid", metavar="TRUTH.tif")
    ],
    json_out: Annotated[Path | None, json_option("the metrics")] = None,
    scale: Scale = None,
    ratio: Annotated[float, typer.Option(help="ERGAS ratio: fine / coarse pixel size")] = 30 / 500,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="write the metrics as CSV (a row per band)")
    ] = None,
    figure: Annotated[
        Path | None,
        typer.Option(help="write truth / prediction / error / density panels per band (PNG)"),
    ] = None,
    mask: Annotated[Path | None, mask_option("evaluate")] = None,
) -> None:
    """Print RMSE, MAE, bias, PSNR, SSIM, SAM, ERGAS, CC and UIQI per band and overall."""
    from est_stfm.evaluation import evaluate_arrays
    from est_stfm.evaluation.compare import band_names, load_pair
    from est_stfm.evaluation.table import band_table, write_csv

    for target in (json_out, csv_out, figure):
        if target is not None:
            check_output_file(target)
    pred_img, truth_img, valid = load_pair(pred, truth, scale=scale, mask=mask)
    report = evaluate_arrays(pred_img, truth_img, valid, ergas_ratio=ratio)
    names = band_names(truth)
    typer.echo(band_table(report, names))
    typer.echo(f"({report.valid_pixels} valid pixels, reflectance scale, ERGAS ratio {ratio:.4g})")
    if json_out:
        from est_stfm.io.jsonfile import write_json

        write_json(json_out, report.to_dict())
    if csv_out:
        write_csv(csv_out, report, names)
    if figure:
        from est_stfm.evaluation.figures import evaluation_figure

        typer.echo(f"figure: {evaluation_figure(figure, pred_img, truth_img, valid, names)}")
