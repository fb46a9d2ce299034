"""The ``est-stfm`` command line: parse, call the API, print. No logic of its own.

User errors (:class:`est_stfm.errors.EstStfmError`) print one line, ``error: ...``, on stderr and
exit with status 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

from est_stfm.data.scene import user_date
from est_stfm.errors import EstStfmError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="EST-STFM spatiotemporal fusion: fit, predict, evaluate.",
)


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EstStfmError(
                f"--set {item!r} must look like KEY=VALUE, e.g. --set attention=dense"
            )
        out[key.strip()] = yaml.safe_load(value)
    return out


@app.command()
def fit(
    scenes: Annotated[
        list[Path], typer.Argument(help="scene YAML file(s)", metavar="SCENE.yaml...")
    ],
    out: Annotated[Path, typer.Option("--out", help="directory for the trained model")],
    config: Annotated[
        Path | None, typer.Option(help="fit settings YAML (options below override it)")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="model preset (see `est-stfm models`) [est-stfm-small]")
    ] = None,
    init: Annotated[
        str | None, typer.Option(help="start from pretrained weights (name) or a model directory")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option(help="time budget (default 10 if no --epochs)")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="number of epochs")] = None,
    holdout: Annotated[
        list[str] | None, typer.Option(help="date never trained on (repeatable)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random seed: data order and init [0]")] = None,
    patch_size: Annotated[int | None, typer.Option(help="training patch size, px [96]")] = None,
    batch_size: Annotated[int | None, typer.Option(help="patches per step [4]")] = None,
    lr: Annotated[float | None, typer.Option(help="peak learning rate (AdamW) [1e-3]")] = None,
    validation: Annotated[
        str | None, typer.Option(help="auto | dates | spatial | none [auto]")
    ] = None,
    patience: Annotated[
        int | None, typer.Option(help="stop after N epochs without improvement [10]")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads per process")] = None,
    base: Annotated[
        str | None,
        typer.Option(help="prediction the network corrects: change | starfm | fsdaf [change]"),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="model override KEY=VALUE")
    ] = None,
    tensorboard: Annotated[
        bool | None, typer.Option("--tensorboard", help="also log to OUT/tensorboard")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the interrupted run in --out with its saved settings")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Train a model on every ordered pair of the scenes' fine dates (never a held-out one).

    Under `torchrun --nproc_per_node=N -m est_stfm fit ...` it trains data-parallel (DDP).
    """
    from est_stfm.data import load_scene
    from est_stfm.training import fit as run_fit
    from est_stfm.training.config import make_fit_config, read_fit_config

    given = {
        "model": model,
        "init": init,
        "minutes": minutes,
        "epochs": epochs,
        "seed": seed,
        "patch_size": patch_size,
        "batch_size": batch_size,
        "lr": lr,
        "validation": validation,
        "patience": patience,
        "threads": threads,
        "base": base,
        "tensorboard": tensorboard,
        "holdout": [user_date(d) for d in holdout] if holdout else None,
        "overrides": _overrides(set_) if set_ else None,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if resume:
        if given or config:
            flags = ", ".join(f"--{k.replace('_', '-')}" for k in given) or "--config"
            raise EstStfmError(f"--resume continues with the settings saved in {out}: drop {flags}")
        cfg = None
    else:
        values = read_fit_config(config) if config else {}
        cfg = make_fit_config({**values, **given})
    loaded = [load_scene(s) for s in scenes]
    _, meta = run_fit(loaded, out, cfg, progress=not quiet, resume=resume)
    if meta["distributed"]["world_size"] > 1 and int(os.environ.get("RANK", "0")) != 0:
        return
    m = meta["metrics"]
    start, best = m["validation_score_start"], m["validation_score_best"]
    modes = ", ".join(sorted({v["mode"] for v in meta["validation"]}))
    if best is None:
        val = "; no validation (scene too small for a strip, too few dates)"
    else:
        start_text = "n/a" if start is None else f"{start:.3f}"
        val = (
            f"; validation ({modes}) RMSE / naive-change RMSE {start_text} at start -> "
            f"{best:.3f} best" + (" (the naive base: kept)" if m["best_is_base"] else "")
        )
    typer.echo(
        f"saved {out} ({m['steps']} steps, {m['epochs']} epochs, {m['seconds']} s, "
        f"{m['samples_per_second']} samples/s{val})"
    )


@app.command()
def predict(
    scene: Annotated[Path, typer.Argument(help="scene YAML", metavar="SCENE.yaml")],
    date: Annotated[str, typer.Option(help="target date YYYY-MM-DD (needs a coarse image)")],
    model: Annotated[
        str,
        typer.Option(help="model directory, or naive-copy / naive-change / starfm / fsdaf"),
    ],
    out: Annotated[Path, typer.Option("--out", help="output GeoTIFF")],
    reference: Annotated[str | None, typer.Option(help="reference date (default: nearest)")] = None,
    pairs: Annotated[
        str, typer.Option(help="reference pairs: 1, 2 (one before, one after) or auto")
    ] = "auto",
    tile: Annotated[int, typer.Option(help="tile size in pixels (memory grows with it)")] = 512,
    overlap: Annotated[int, typer.Option(help="minimum overlap of neighbouring tiles")] = 64,
    halo: Annotated[
        int, typer.Option(help="extra context read around each tile (at least the method's)")
    ] = 16,
    cog: Annotated[bool, typer.Option(help="write a Cloud-Optimized GeoTIFF")] = False,
    adapt_steps: Annotated[
        int,
        typer.Option(
            help="test-time adaptation: steps on the coarse-change consistency of DATE "
            "(trained models; needs the scene's coarse_factor)"
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Predict the fine image at DATE, tile by tile, into a georeferenced GeoTIFF."""
    from est_stfm.data import load_scene
    from est_stfm.fusion import ModelMethod, choose_references, predict_to_file, resolve_method

    if tile < 16 or not 0 <= overlap < tile or halo < 0:
        raise EstStfmError(
            f"--tile {tile} --overlap {overlap} --halo {halo}: need tile >= 16, "
            "0 <= overlap < tile and halo >= 0"
        )
    if adapt_steps < 0:
        raise EstStfmError(f"--adapt-steps {adapt_steps}: give 0 (off) or a positive number")
    sc = load_scene(scene)
    method = resolve_method(model, sc)
    if adapt_steps:
        from est_stfm.training.adapt import adapt_model

        if not isinstance(method, ModelMethod):
            raise EstStfmError(f"--adapt-steps needs a trained model, not {method.name}")
        day, refs = choose_references(sc, date, method, reference, pairs)
        tuned = adapt_model(method.model, sc, day, refs, adapt_steps)
        method = ModelMethod(
            tuned, name=f"{method.name}+adapt{adapt_steps}", meta=method.meta, base=method.base
        )
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


@app.command()
def evaluate(
    pred: Annotated[Path, typer.Argument(help="predicted raster", metavar="PRED.tif")],
    truth: Annotated[
        Path, typer.Argument(help="true fine raster of the same date and grid", metavar="TRUTH.tif")
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the metrics as JSON")
    ] = None,
    scale: Annotated[
        float | None, typer.Option(help="reflectance scale for files without scale metadata")
    ] = None,
    ratio: Annotated[float, typer.Option(help="ERGAS ratio: fine / coarse pixel size")] = 30 / 500,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="write the metrics as CSV (a row per band)")
    ] = None,
    figure: Annotated[
        Path | None,
        typer.Option(help="write truth / prediction / error / density panels per band (PNG)"),
    ] = None,
    mask: Annotated[
        Path | None, typer.Option(help="raster on the same grid: non-zero = evaluate this pixel")
    ] = None,
) -> None:
    """Print RMSE, MAE, bias, PSNR, SSIM, SAM, ERGAS, CC and UIQI per band and overall."""
    from est_stfm.evaluation import evaluate_arrays
    from est_stfm.evaluation.compare import band_names, load_pair
    from est_stfm.evaluation.table import band_table, write_csv

    pred_img, truth_img, valid = load_pair(pred, truth, scale=scale, mask=mask)
    report = evaluate_arrays(pred_img, truth_img, valid, ergas_ratio=ratio)
    names = band_names(truth)
    typer.echo(band_table(report, names))
    typer.echo(f"({report.valid_pixels} valid pixels, reflectance scale, ERGAS ratio {ratio:.4g})")
    if json_out:
        from est_stfm.atomic import atomic_write_text

        atomic_write_text(json_out, json.dumps(report.to_dict(), indent=2) + "\n")
    if csv_out:
        write_csv(csv_out, report, names)
    if figure:
        from est_stfm.viz import evaluation_figure

        typer.echo(f"figure: {evaluation_figure(figure, pred_img, truth_img, valid, names)}")


@app.command()
def cluster(
    pred: Annotated[Path, typer.Argument(help="fused raster", metavar="PRED.tif")],
    truth: Annotated[
        Path, typer.Argument(help="real fine raster of the same date and grid", metavar="TRUTH.tif")
    ],
    k: Annotated[int, typer.Option("--k", help="number of k-means clusters")] = 6,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the scores as JSON")
    ] = None,
    figure: Annotated[
        Path | None, typer.Option(help="write both cluster maps side by side (PNG)")
    ] = None,
    scale: Annotated[
        float | None, typer.Option(help="reflectance scale for files without scale metadata")
    ] = None,
    mask: Annotated[
        Path | None, typer.Option(help="raster on the same grid: non-zero = use this pixel")
    ] = None,
) -> None:
    """K-means on the fused and on the real image; print agreement, kappa and ARI of the maps."""
    from est_stfm.evaluation.cluster import cluster_files

    rep = cluster_files(pred, truth, k=k, seed=seed, scale=scale, mask=mask)
    scores = f"agreement {rep.agreement:.4f}, kappa {rep.kappa:.4f}, ARI {rep.ari:.4f}"
    typer.echo(f"k-means, k = {k}, seed {seed}: {scores}")
    typer.echo(f"({rep.valid_pixels} valid pixels, centroids fitted on {rep.sample_pixels})")
    if json_out:
        from est_stfm.atomic import atomic_write_text

        atomic_write_text(json_out, json.dumps(rep.to_dict(), indent=2) + "\n")
    if figure:
        from est_stfm.viz import cluster_figure

        path = cluster_figure(figure, rep.pred_labels, rep.truth_labels, k, scores)
        typer.echo(f"figure: {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="output directory")] = Path("demo_out"),
    epochs: Annotated[int, typer.Option(help="training epochs (about 3 minutes on 2 cores)")] = 6,
    size: Annotated[int, typer.Option(help="scene size in pixels")] = 256,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    model: Annotated[str, typer.Option(help="model preset")] = "est-stfm-tiny",
) -> None:
    """Synthetic scene -> fit -> predict a held-out date -> metrics table and quick-look PNG."""
    from est_stfm.demo import run_demo

    typer.echo(f"demo: synthetic {size}x{size} scene, fitting {model} for {epochs} epochs ...")
    res = run_demo(out, epochs=epochs, size=size, seed=seed, model=model)
    typer.echo(
        f"held-out date {res.target}, reference {res.reference}; metrics on the held-out date:"
    )
    typer.echo(res.table)
    typer.echo(f"prediction: {res.prediction}")
    if res.figure:
        typer.echo(f"quick-look: {res.figure}")


@app.command()
def benchmark(
    protocol: Annotated[
        Path, typer.Argument(help="protocol YAML, e.g. benchmarks/protocol-v1.yaml")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="folder for results.csv and results.md")
    ] = Path("benchmark_out"),
    runs: Annotated[
        Path | None, typer.Option(help="folder for models, predictions, logs (default OUT/runs)")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="run only this case id (repeatable)")
    ] = None,
    methods: Annotated[
        list[str] | None, typer.Option("--methods", help="run only this method id (repeatable)")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="keep the finished rows of OUT/results.csv; run only the rest")
    ] = False,
) -> None:
    """Run a benchmark protocol: fit and predict each (case, method) in a fresh process, score."""
    from est_stfm.evaluation.benchmark import run_benchmark

    res = run_benchmark(
        protocol, out, runs_dir=runs, only=only or [], methods=methods or [], resume=resume
    )
    typer.echo(f"wrote {res.csv} and {res.markdown} ({res.seconds / 60:.1f} min)")
    if res.errors:
        typer.echo(f"{len(res.errors)} run(s) failed: see the status column", err=True)
        raise typer.Exit(1)


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

    from est_stfm.data.csiro import prepare_csiro

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


@app.command()
def models() -> None:
    """List the model presets, the shipped pretrained weights and the classic methods."""
    from est_stfm.classic import CLASSIC_METHODS
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


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and exit status 2.

    Usage errors (a missing option, say) are click's: a usage message and exit status 2.
    """
    try:
        app()
    except EstStfmError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
