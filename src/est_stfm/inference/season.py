"""A season: many target dates fused in one run, one GeoTIFF per date, resumable.

One method, loaded once, fuses every date; the scene is cut into the same tiles as
:func:`~est_stfm.inference.predict.predict_to_file` cuts it, and for each tile every reference
pair the dates need is read once and every target date of the tile is predicted before the next
tile, so each date's file equals the single-date prediction bit for bit. The dates are fused in
passes of as many dates as :data:`MEMORY_MB` of row buffers allow (all of them for small
scenes); each pass renames its finished files into place and records them in the folder's
``season.json``. A killed run, started again with the same settings, keeps the dates recorded
there and fuses the rest. Dates that have a fine image are not predicted (a prediction would
stand in for an observation): they are reported in :attr:`Season.fine`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rasterio
from rasterio.windows import Window
from tqdm import tqdm

from est_stfm.errors import EstStfmError
from est_stfm.inference.check import checked
from est_stfm.inference.predict import GDAL_CACHE_MB, Read, fuse_arrays
from est_stfm.inference.references import DEFAULT_PAIRS, choose_references
from est_stfm.inference.tiles import (
    DEFAULT_HALO,
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    Core,
    predict_tiled_many,
    tile_rows,
)
from est_stfm.io import read_grid, read_raster
from est_stfm.io.atomic import check_output_folder
from est_stfm.io.cube import Layer, write_cube
from est_stfm.io.geotiff import streamed_geotiff
from est_stfm.io.jsonfile import write_json
from est_stfm.methods import Method
from est_stfm.scene import Scene, user_date
from est_stfm.scene.dates import DateLike, dates_text

SEASON_FILE = "season.json"
"""The record of a season folder: the run's settings and the dates already written."""
VARIABLE_NAMES = {"kelvin": "temperature", "other": "value"}
"""The cube's variable for a scene ``unit`` (others: the unit itself, e.g. ``reflectance``)."""
MEMORY_MB = 1024
"""Row buffers of one pass (one per date: bands x tile rows x scene width, float32)."""


@dataclass
class Season:
    """A season run: the fused files by date, the reference dates of each, the dates that have
    a fine image (not predicted), the dates an earlier run had written (kept) and the tiles of
    each date."""

    out: Path
    written: dict[dt.date, Path] = field(default_factory=dict)
    references: dict[dt.date, tuple[dt.date, ...]] = field(default_factory=dict)
    fine: list[dt.date] = field(default_factory=list)
    resumed: list[dt.date] = field(default_factory=list)
    tiles: int = 0


def date_range(text: str) -> tuple[dt.date, dt.date]:
    """``'FIRST..LAST'`` (ISO dates, both included) as two dates; a one-line error otherwise."""
    first, sep, last = text.partition("..")
    if not sep:
        raise EstStfmError(
            f"--dates {text!r}: write a range as FIRST..LAST, e.g. 2020-03-08..2020-04-02"
        )
    start, end = user_date(first), user_date(last)
    if end < start:
        raise EstStfmError(f"--dates {text}: the range ends before it starts; swap the dates")
    return start, end


def coarse_dates_between(scene: Scene, first: DateLike, last: DateLike) -> list[dt.date]:
    """Every date with a coarse image from ``first`` to ``last`` (both included)."""
    start, end = user_date(first), user_date(last)
    found = [d for d in sorted(scene.coarse) if start <= d <= end]
    if not found:
        raise EstStfmError(
            f"no coarse image from {start} to {end} in {scene.path} "
            f"(coarse dates: {dates_text(scene.coarse)}): choose a range that holds some"
        )
    return found


def date_file(out: str | Path, date: dt.date) -> Path:
    """The GeoTIFF of ``date`` in a season folder: ``YYYY-MM-DD.tif``."""
    return Path(out) / f"{date.isoformat()}.tif"


def _read_record(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return record if isinstance(record, dict) else None
    except (OSError, ValueError):
        return None  # damaged: the run starts over (the files are rewritten)


def _done_dates(
    record: dict[str, Any] | None,
    settings: Mapping[str, Any],
    out: Path,
    references: Mapping[dt.date, tuple[dt.date, ...]],
) -> list[dt.date]:
    """The dates an earlier run in ``out`` wrote with the same settings and references."""
    if record is None:
        return []
    saved = record.get("settings", {})
    diff = [k for k in settings if saved.get(k) != settings[k]]
    if diff:
        shown = ", ".join(f"{k} {saved.get(k)!r} there, {settings[k]!r} now" for k in diff)
        raise EstStfmError(
            f"{out} holds a season run with other settings ({shown}): use another --out folder, "
            f"or delete {out / SEASON_FILE} to overwrite it"
        )
    done = record.get("done", {})
    return [
        d
        for d, refs in references.items()
        if done.get(d.isoformat()) == [r.isoformat() for r in refs] and date_file(out, d).exists()
    ]


def _write_record(
    out: Path, settings: Mapping[str, Any], done: Mapping[dt.date, tuple[dt.date, ...]]
) -> None:
    done_text = {d.isoformat(): [r.isoformat() for r in refs] for d, refs in sorted(done.items())}
    write_json(out / SEASON_FILE, {"settings": dict(settings), "done": done_text})


def _tile_reader(
    scene: Scene,
    dates: Sequence[dt.date],
    references: Mapping[dt.date, tuple[dt.date, ...]],
    method: Method,
) -> Callable[[Window, Core], list[tuple[Any, Any]]]:
    """``read(window, core)``: every date's ``(image, valid)``, each reference pair read once
    (``core``: the tile inside the window, see :func:`~est_stfm.inference.predict.fuse_arrays`)."""
    needed = sorted({r for d in dates for r in references[d]})

    def predict_windows(window: Window, core: Core) -> list[tuple[Any, Any]]:
        pairs: dict[dt.date, tuple[Read, Read]] = {
            ref: (scene.read_fine(ref, window), scene.read_coarse(ref, window)) for ref in needed
        }
        return [
            fuse_arrays(
                method, scene.read_coarse(d, window), [pairs[r] for r in references[d]], core
            )
            for d in dates
        ]

    return predict_windows


def _fuse_pass(
    scene: Scene,
    batch: list[dt.date],
    references: Mapping[dt.date, tuple[dt.date, ...]],
    method: Method,
    out: Path,
    cog: bool,
    bar: tqdm,
    tile: int,
    overlap: int,
    halo: int,
) -> None:
    """Fuse the dates of ``batch`` tile by tile; their files are renamed into place together."""
    with ExitStack() as stack:
        writers = [
            stack.enter_context(
                streamed_geotiff(
                    date_file(out, d),
                    read_grid(scene.fine[references[d][0]]),
                    scene.scale,
                    scene.bands,
                    offset=scene.offset,
                    cog=cog,
                )
            )
            for d in batch
        ]
        predict_tiled_many(
            _tile_reader(scene, batch, references, method),
            writers,
            tile=tile,
            overlap=overlap,
            halo=halo,
            progress=lambda _: bar.update(len(batch)),
        )


def _passes(dates: list[dt.date], per_pass: int) -> list[list[dt.date]]:
    return [dates[i : i + per_pass] for i in range(0, len(dates), per_pass)]


def predict_season(
    scene: Scene,
    dates: Iterable[DateLike],
    method: Method,
    out: str | Path,
    reference: DateLike | None = None,
    *,
    pairs: str = DEFAULT_PAIRS,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    halo: int = DEFAULT_HALO,
    cog: bool = False,
    progress: bool = False,
    method_id: str | None = None,
    dates_per_pass: int | None = None,
) -> Season:
    """Fuse every date of ``dates`` that has no fine image into ``out/YYYY-MM-DD.tif`` (see the
    module docstring); the options are :func:`predict_to_file`'s. ``method_id`` names the method
    in the folder's record (default ``method.name``; the command line gives its ``--model``): a
    folder written with other settings is refused. ``dates_per_pass`` overrides the
    :data:`MEMORY_MB` budget."""
    days = sorted({user_date(d) for d in dates})
    if not days:
        raise EstStfmError("no date to fuse: give --date (repeatable) or --dates FIRST..LAST")
    out = check_output_folder(out, "--out")
    method = checked(method, scene, None)  # pretrained weights: checked once on the pairs
    halo = max(halo, method.halo)
    season = Season(out, fine=[d for d in days if d in scene.fine])
    for day in days:
        if day not in scene.fine:
            season.references[day] = choose_references(scene, day, method, reference, pairs)[1]
    settings = {
        "scene": str(scene.path),
        "method": method_id or method.name,
        "reference": None if reference is None else str(user_date(reference)),
        "pairs": pairs,
        "tile": tile,
        "overlap": overlap,
        "halo": halo,
        "cog": cog,
    }
    record_path = out / SEASON_FILE
    season.resumed = _done_dates(_read_record(record_path), settings, out, season.references)
    done = {d: season.references[d] for d in season.resumed}
    todo = [d for d in season.references if d not in done]
    height, width = scene.shape
    rows = tile_rows(height, width, tile, overlap)
    season.tiles = sum(len(r) for r in rows)
    if dates_per_pass is None:
        depth = rows[0][0].rows[1] - rows[0][0].rows[0]
        dates_per_pass = max(1, MEMORY_MB * 2**20 // (depth * width * (4 * scene.bands + 1)))
    out.mkdir(parents=True, exist_ok=True)
    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB),
        tqdm(
            total=len(todo) * season.tiles,
            unit="tile",
            desc="season",
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        for batch in _passes(todo, dates_per_pass):
            _fuse_pass(scene, batch, season.references, method, out, cog, bar, tile, overlap, halo)
            done.update({d: season.references[d] for d in batch})
            _write_record(out, settings, done)
    season.written = {d: date_file(out, d) for d in season.references}
    return season


def season_layers(scene: Scene, season: Season) -> list[Layer]:
    """Every date of the season in order, as cube layers: the fused files, and the fine images
    of the dates that have one (``source`` ``fine``)."""
    layers = []
    for day in sorted([*season.written, *season.fine]):
        if day in season.written:
            path = season.written[day]
            layers.append(
                Layer(
                    day,
                    _file_reader(path, scene.scale, scene.offset),
                    "fused",
                    season.references[day],
                )
            )
        else:
            layers.append(Layer(day, _fine_reader(scene, day), "fine"))
    return layers


def _fine_reader(scene: Scene, day: dt.date) -> Callable[[Window], Read]:
    return lambda window: scene.read_fine(day, window)


def _file_reader(path: Path, scale: float, offset: float) -> Callable[[Window], Read]:
    return lambda window: read_raster(path, scale, window, offset=offset)


def write_season_cube(
    scene: Scene, season: Season, path: str | Path, *, method: str = "", chunk: int = 512
) -> Path:
    """The season as one cube (``*.zarr`` or ``*.nc``, see :mod:`est_stfm.io.cube`): the fused
    dates and the observed fine images of the others, named by ``scene.unit``."""
    name = VARIABLE_NAMES.get(scene.unit, scene.unit)
    attrs = {"method": method, "scene": str(scene.path), "unit": scene.unit}
    layers = season_layers(scene, season)
    return write_cube(path, scene.grid, layers, name=name, attrs=attrs, chunk=chunk)


def season_figure(scene: Scene, season: Season, path: str | Path, *, title: str = "") -> Path:
    """The season quick-look (:func:`~est_stfm.evaluation.season_figure.season_quicklook`):
    every date's image and the series of a few pixels, with the coarse series of the dates."""
    from est_stfm.evaluation.season_figure import season_quicklook

    layers = season_layers(scene, season)
    days = [layer.date for layer in layers if layer.date in scene.coarse]
    coarse = {d: _coarse_reader(scene, d) for d in days}
    return season_quicklook(path, layers, coarse, scene.grid, title=title)


def _coarse_reader(scene: Scene, day: dt.date) -> Callable[[Window], Read]:
    return lambda window: scene.read_coarse(day, window)
