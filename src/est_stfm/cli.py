"""The ``est-stfm`` command line: parse, call the API, print. No logic of its own.

User errors (:class:`est_stfm.errors.EstStfmError`) print one line, ``error: ...``, on stderr and
exit with status 2.
"""

from __future__ import annotations

import json
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
    scene: Annotated[Path, typer.Argument(help="scene YAML", metavar="SCENE.yaml")],
    out: Annotated[Path, typer.Option("--out", help="directory for the trained model")],
    model: Annotated[
        str, typer.Option(help="model preset (see `est-stfm models`)")
    ] = "est-stfm-small",
    minutes: Annotated[
        float | None, typer.Option(help="time budget (default 10 if no --epochs)")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="number of epochs")] = None,
    holdout: Annotated[
        list[str] | None, typer.Option(help="date never trained on (repeatable)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    patch_size: Annotated[int, typer.Option(help="training patch size (pixels)")] = 96,
    batch_size: Annotated[int, typer.Option(help="patches per step")] = 4,
    lr: Annotated[float, typer.Option(help="peak learning rate (AdamW)")] = 1e-3,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="model override KEY=VALUE")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Train a model on every ordered pair of the scene's fine dates (never a held-out one)."""
    from est_stfm.data import load_scene
    from est_stfm.training import FitConfig
    from est_stfm.training import fit as run_fit

    cfg = _validated(
        FitConfig,
        model=model,
        minutes=minutes,
        epochs=epochs,
        seed=seed,
        patch_size=patch_size,
        batch_size=batch_size,
        lr=lr,
        holdout=[user_date(d) for d in holdout or []],
        overrides=_overrides(set_ or []),
    )
    _, meta = run_fit(load_scene(scene), out, cfg, progress=not quiet)
    m = meta["metrics"]
    start, best = m["validation_score_start"], m["validation_score_best"]
    val = (
        f"; validation RMSE / naive-change RMSE {start:.3f} at start -> {best:.3f} best"
        if best is not None
        else "; scene too narrow for a validation strip"
    )
    typer.echo(
        f"saved {out} ({m['steps']} steps, {m['epochs']} epochs, {m['seconds']} s, "
        f"{m['samples_per_second']} samples/s{val})"
    )


def _validated(cls, **kwargs):
    from pydantic import ValidationError

    try:
        return cls(**kwargs)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise EstStfmError(f"invalid option {where}: {err['msg']}") from None


@app.command()
def predict(
    scene: Annotated[Path, typer.Argument(help="scene YAML", metavar="SCENE.yaml")],
    date: Annotated[str, typer.Option(help="target date YYYY-MM-DD (needs a coarse image)")],
    model: Annotated[str, typer.Option(help="model directory, or naive-copy / naive-change")],
    out: Annotated[Path, typer.Option("--out", help="output GeoTIFF")],
    reference: Annotated[str | None, typer.Option(help="reference date (default: nearest)")] = None,
) -> None:
    """Predict the fine image at DATE and write a georeferenced GeoTIFF."""
    from est_stfm.data import load_scene
    from est_stfm.fusion import predict_to_file, resolve_method

    sc = load_scene(scene)
    target = user_date(date)
    method = resolve_method(model)
    fused = predict_to_file(sc, target, method, out, user_date(reference) if reference else None)
    typer.echo(f"wrote {out} ({method.name}, {fused.reference} -> {fused.date})")


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
) -> None:
    """Print RMSE, MAE, bias, PSNR, SSIM, SAM, ERGAS and CC per band and overall."""
    from est_stfm.evaluation import evaluate_files
    from est_stfm.evaluation.table import band_table

    report = evaluate_files(pred, truth, scale=scale, ergas_ratio=ratio)
    typer.echo(band_table(report))
    typer.echo(f"({report.valid_pixels} valid pixels, reflectance scale, ERGAS ratio {ratio:.4g})")
    if json_out:
        from est_stfm.atomic import atomic_write_text

        atomic_write_text(json_out, json.dumps(report.to_dict(), indent=2) + "\n")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="output directory")] = Path("demo_out"),
    minutes: Annotated[float, typer.Option(help="training time budget")] = 4.0,
    size: Annotated[int, typer.Option(help="scene size in pixels")] = 256,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    model: Annotated[str, typer.Option(help="model preset")] = "est-stfm-tiny",
) -> None:
    """Synthetic scene -> fit -> predict a held-out date -> metrics table and quick-look PNG."""
    from est_stfm.demo import run_demo

    typer.echo(f"demo: synthetic {size}x{size} scene, fitting {model} for {minutes} min ...")
    res = run_demo(out, minutes=minutes, size=size, seed=seed, model=model)
    typer.echo(
        f"held-out date {res.target}, reference {res.reference}; metrics on the held-out date:"
    )
    typer.echo(res.table)
    typer.echo(f"prediction: {res.prediction}")
    if res.figure:
        typer.echo(f"quick-look: {res.figure}")


@app.command()
def models() -> None:
    """List the model presets with their parameter counts."""
    from est_stfm.models import create_model, list_models

    for name in list_models():
        n = sum(p.numel() for p in create_model(name).parameters())
        typer.echo(f"{name:20s} {n:>12,d} parameters")


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
