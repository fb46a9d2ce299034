"""``est-stfm fit``: train a model on a scene's pairs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from est_stfm.cli.app import app
from est_stfm.io.atomic import check_output_folder
from est_stfm.scene import user_date


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
        str | None,
        typer.Option(
            help="model preset (see `est-stfm models`) [est-stfm-any-tiny, from the shipped "
            "pretrained weights]"
        ),
    ] = None,
    init: Annotated[
        str | None,
        typer.Option(
            help="start from pretrained weights (name) or a model directory [the shipped "
            "default weights for their preset]"
        ),
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
    lr: Annotated[
        float | None,
        typer.Option(help="peak learning rate (AdamW) [1e-3; 2e-4 from trained weights]"),
    ] = None,
    validation: Annotated[
        str | None, typer.Option(help="auto | dates | spatial | none [auto]")
    ] = None,
    patience: Annotated[
        int | None, typer.Option(help="stop after N epochs without improvement [10]")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads per process")] = None,
    base: Annotated[
        str | None,
        typer.Option(
            help="prediction the network corrects: change or a classic method "
            "(starfm, fsdaf, fsdaf+consistency, ...) [change; --init's own base]"
        ),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="model override KEY=VALUE")
    ] = None,
    tensorboard: Annotated[
        bool | None, typer.Option("--tensorboard", help="also log to OUT/tensorboard")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="continue the interrupted run in --out (options given must equal its saved ones)"
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Train a model on every ordered pair of the scenes' fine dates (never a held-out one).

    Under `torchrun --nproc_per_node=N -m est_stfm fit ...` it trains data-parallel (DDP).
    """
    from est_stfm.scene import load_scene
    from est_stfm.training import fit as run_fit
    from est_stfm.training.config import parse_overrides, resolve_fit_config

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
        "overrides": parse_overrides(set_) if set_ else None,
    }
    check_output_folder(out, "--out")
    cfg = resolve_fit_config(given, config, resume, out)
    held = cfg.holdout  # never opened, not even by the scene checks
    loaded = [load_scene(s, hidden_fine=held, hidden_coarse=held) for s in scenes]
    _, result = run_fit(loaded, out, cfg, progress=not quiet, resume=resume)
    if result.world_size > 1 and int(os.environ.get("RANK", "0")) != 0:
        return
    m = result.metrics
    start, best = m.validation_score_start, m.validation_score_best
    if result.kept_untrained:
        val = (
            f"; no training date to hold out for validation (a fit from weights trains with 3 "
            f"or more): the weights of {result.config.init} are kept untrained, and predict "
            "checks them on the scene's pairs (--validation spatial or none trains anyway)"
        )
    elif best is None:
        val = "; no validation (scene too small for held-out blocks, too few dates)"
    else:
        start_text = "n/a" if start is None else f"{start:.3f}"
        kept = ""
        if result.kept_start:
            kept = (
                f" (no epoch beat the weights of {result.config.init}: kept as given; predict "
                "checks their correction on the scene's pairs, as for the weights themselves)"
            )
        elif m.best_is_base:
            kept = f" (its base {result.config.base} kept: no weights beat it)"
        days = sorted({d.isoformat() for v in result.validation for d in v.dates})
        modes = ", ".join(result.validation_modes) + (f": {', '.join(days)}" if days else "")
        val = (
            f"; validation ({modes}) score (RMSE / base RMSE - "
            f"SSIM gain; 1 = the base) {start_text} at start -> {best:.3f} best{kept}"
        )
    typer.echo(
        f"saved {out} ({m.steps} steps, {m.epochs} epochs, {m.seconds} s, "
        f"{m.samples_per_second} samples/s{val})"
    )
