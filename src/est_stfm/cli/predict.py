"""``est-stfm predict``: fuse one date into a georeferenced GeoTIFF, or many (a season) into a
folder of GeoTIFFs, a data cube and a quick-look figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from est_stfm.cli.app import app
from est_stfm.cli.options import Quiet, Threads, use_threads
from est_stfm.errors import EstStfmError
from est_stfm.inference.references import DEFAULT_PAIRS
from est_stfm.inference.tiles import DEFAULT_HALO, DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling
from est_stfm.io.atomic import check_output_file, check_output_folder

if TYPE_CHECKING:
    from est_stfm.methods.base import Method


@app.command()
def predict(
    scene: Annotated[Path, typer.Argument(help="scene YAML", metavar="SCENE.yaml")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="output GeoTIFF; with several dates a folder (one YYYY-MM-DD.tif per date)",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            help="model folder, pretrained weights or classic method (est-stfm models) "
            "[default: the shipped pretrained EST-STFM, est-stfm models marks it]"
        ),
    ] = None,
    date: Annotated[
        list[str] | None,
        typer.Option(
            metavar="DATE", help="target date YYYY-MM-DD (needs a coarse image); repeat for several"
        ),
    ] = None,
    dates: Annotated[
        str | None,
        typer.Option(metavar="FIRST..LAST", help="every coarse date from FIRST to LAST (a season)"),
    ] = None,
    cube: Annotated[
        Path | None,
        typer.Option(help="also write the dates as one data cube: NAME.zarr or NAME.nc"),
    ] = None,
    quicklook: Annotated[
        Path | None,
        typer.Option(help="also draw the dates: quick-looks and pixel time series (PNG)"),
    ] = None,
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
    strength: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="apply the network's correction of its base at this strength (0: the base, "
            "1: as trained) instead of the pair check's choice, unchecked; e.g. with one fine "
            "date, where nothing can be checked [default: the pair check]",
        ),
    ] = None,
    threads: Threads = None,
    quiet: Quiet = False,
) -> None:
    """Predict the fine image at DATE, tile by tile, into a georeferenced GeoTIFF; with several
    dates (--date repeated, --dates FIRST..LAST), one GeoTIFF per date into the folder --out,
    in one run that resumes where a killed one stopped."""
    from est_stfm.inference.predict import predict_to_file
    from est_stfm.methods import resolve_method
    from est_stfm.scene import load_scene

    check_tiling(tile, overlap, halo)
    use_threads(threads)
    if model is None:
        from est_stfm.models.pretrained import DEFAULT_MODEL

        model = DEFAULT_MODEL
    if date is None or len(date) != 1 or dates or cube or quicklook:
        if adapt_steps:
            raise EstStfmError("--adapt-steps adapts the model to one date: give a single --date")
        options: dict[str, Any] = dict(reference=reference, pairs=pairs, tile=tile, halo=halo)
        options.update(overlap=overlap)
        options.update(cog=cog, progress=not quiet)
        season = (date or [], dates, cube, quicklook)
        _predict_season(scene, model, strength, out, *season, options)
        return
    target = date[0]
    check_output_file(out)
    if adapt_steps < 0:
        raise EstStfmError(f"--adapt-steps {adapt_steps}: give 0 (off) or a positive number")
    sc = load_scene(scene, hidden_fine=[target])  # the target's fine image is never opened
    method = _at_strength(resolve_method(model, sc), strength)
    if adapt_steps:
        from est_stfm.inference.adapt import adapt_method

        method = adapt_method(method, sc, target, adapt_steps, reference, pairs)
    written = predict_to_file(
        sc,
        target,
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
        f"wrote {out} ({written.method}, {' + '.join(map(str, written.references))} -> "
        f"{written.date}, {written.tiles} tiles)"
    )


def _at_strength(method: Method, strength: float | None) -> Method:
    """``method`` with its network's correction at ``strength`` and no pair check (None:
    unchanged); one-line error for a method without a network correcting a base."""
    from est_stfm.methods.model import ModelMethod

    if strength is None:
        return method
    if not isinstance(method, ModelMethod) or method.base is None:
        raise EstStfmError(
            f"--strength scales a network's correction of its base; {method.name} has none: "
            "leave --strength out, or use the default model or one fitted on a classic base"
        )
    scaled = method.with_strength(strength)
    scaled.name = f"{method.name} x{strength:g} (--strength, unchecked)"
    return scaled


def _predict_season(
    scene: Path,
    model: str,
    strength: float | None,
    out: Path,
    date: list[str],
    dates: str | None,
    cube: Path | None,
    quicklook: Path | None,
    options: dict[str, Any],
) -> None:
    """``predict`` with several dates: the season run, then the cube and the figure if asked."""
    from est_stfm.inference.season import (
        coarse_dates_between,
        date_range,
        predict_season,
        season_figure,
        write_season_cube,
    )
    from est_stfm.methods import resolve_method
    from est_stfm.scene import load_scene, user_date

    if not date and not dates:
        raise EstStfmError(
            "give the dates to fuse: --date DATE (repeatable) or --dates FIRST..LAST"
        )
    if out.suffix.lower() in (".tif", ".tiff"):
        raise EstStfmError(
            f"--out {out}: several dates are written one GeoTIFF per date: give a folder"
        )
    check_output_folder(out, "--out")
    span = date_range(dates) if dates else None
    days = [user_date(d) for d in date]
    if cube is not None:
        from est_stfm.io.cube import check_cube_path

        check_cube_path(cube)
    if quicklook is not None:
        from est_stfm.evaluation.season_figure import check_figure_path

        check_figure_path(quicklook)
    sc = load_scene(scene)
    if span is not None:
        days += coarse_dates_between(sc, *span)
    method = _at_strength(resolve_method(model, sc), strength)
    model_id = str(Path(model).resolve()) if Path(model).exists() else model
    if strength is not None:  # a run at another strength is not resumed from
        model_id += f" x{strength:g}"
    season = predict_season(sc, days, method, out, method_id=model_id, **options)
    fused_now = len(season.written) - len(season.resumed)
    typer.echo(
        f"wrote {len(season.written)} dates to {out} ({method.name}, {season.tiles} tiles each; "
        f"{fused_now} fused now, {len(season.resumed)} kept from an earlier run)"
    )
    if season.fine:
        shown = ", ".join(map(str, season.fine))
        typer.echo(f"not predicted, they have a fine image: {shown}")
    if cube is not None:
        write_season_cube(sc, season, cube, method=method.name)
        typer.echo(f"wrote {cube} ({len(season.written) + len(season.fine)} dates)")
    if quicklook is not None:
        season_figure(sc, season, quicklook, title=f"{sc.path.parent.name}: {method.name}")
        typer.echo(f"wrote {quicklook}")
