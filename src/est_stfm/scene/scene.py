"""The scene reader: :func:`load_scene` checks a scene file and its images up front, and a
:class:`Scene` reads any window of any date's image as values on the fine grid.

What a scene file may say is described in :mod:`est_stfm.scene.spec`. :func:`load_scene`
reports each problem as a one-line :class:`~est_stfm.errors.EstStfmError` naming the file and
the fix: every fine image must lie on the grid of the first fine image (size, transform, CRS)
and every image must have the same number of bands; a coarse image on another grid (pixel size,
extent or CRS) must overlap the fine grid and is then resampled onto it on the fly, window by
window (same-grid images are read as they are); a file whose pixels are all nodata is an error,
and so is a reflectance scale that puts most sampled values far outside [-0.1, 1.5]. Fine
images without georeferencing are accepted with a
:class:`~est_stfm.io.raster.GeoreferencingWarning`. Images named hidden (a held-out date, a
prediction's target) are not opened by :func:`load_scene` at all: each one is checked the same
way when it is first read.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from est_stfm.errors import EstStfmError
from est_stfm.io.raster import Grid, WindowLike, read_band, read_raster
from est_stfm.io.resample import Placement, read_placed
from est_stfm.io.yaml import read_yaml
from est_stfm.scene.checks import (
    check_fine,
    check_mask,
    check_one_nodata,
    check_values,
    open_image,
    place_coarse,
    warn_georeferencing,
)
from est_stfm.scene.dates import DateLike, dates_text, parse_date, user_date
from est_stfm.scene.options import SectionOptions
from est_stfm.scene.spec import ImageFile, SceneSpec, parse_scene_spec


@dataclass(frozen=True)
class ImageSource:
    """How one image file is read: which of its bands, and where it lies on the fine grid."""

    path: Path
    bands: tuple[int, ...] | None = None
    """Band numbers (from 1) to read; None: all."""
    placement: Placement | None = None
    """None when the file is on the fine grid; else how it is resampled onto it."""


@dataclass(frozen=True)
class ImageChecks:
    """The checks every image of the scene file ``scene`` passes against the fine ``grid``
    (defined by the fine image ``grid_name``); ``unit`` None: the file writes no unit."""

    scene: Path
    grid: Grid
    grid_name: str
    unit: str | None

    def placed(
        self,
        kind: str,
        day: dt.date,
        image: ImageFile,
        opts: SectionOptions,
        image_grid: Grid | None = None,
    ) -> tuple[Grid, ImageSource | None]:
        """The image's own grid, checked against the fine grid, and how it is read (None: as it
        is); ``image_grid`` when already opened."""
        if image_grid is None:
            image_grid = open_image(self.scene, f"{kind} image for {day}", image)
        what = f"{kind} {day} {image.name}"
        place = None
        if kind == "fine":
            check_fine(what, image_grid, self.grid_name, self.grid)
        else:
            place = place_coarse(what, image_grid, self.grid_name, self.grid)
            if place is not None:
                check_one_nodata(what, image_grid, opts)
        if image.bands is None and place is None:
            return image_grid, None
        return image_grid, ImageSource(image.path, image.bands, place)

    def mask(
        self, kind: str, day: dt.date, image: ImageFile, image_grid: Grid, opts: SectionOptions
    ) -> None:
        """The image's mask, if it has one, lies on the image's grid."""
        mask = opts.masks.get(day)
        if mask is not None:
            check_mask(self.scene, f"{kind} mask for {day}", mask, image.path, image_grid)

    def values(
        self, kind: str, day: dt.date, image: ImageFile, image_grid: Grid, opts: SectionOptions
    ) -> None:
        """The image holds valid pixels on a plausible scale."""
        check_values(f"{kind} {day} {image.name}", image, image_grid, opts, self.unit)


@dataclass
class Scene:
    """A loaded, validated scene: absolute image paths per date, encodings and the common grid.

    ``scale`` and ``offset`` are the fine images' encoding (predictions are written with it);
    :meth:`options` gives each section's full settings.
    """

    path: Path
    scale: float
    fine: dict[dt.date, Path]
    coarse: dict[dt.date, Path]
    grid: Grid
    offset: float = 0.0
    unit: str = "reflectance"
    fine_options: SectionOptions | None = None
    coarse_options: SectionOptions | None = None
    sources: dict[tuple[str, dt.date], ImageSource] = field(default_factory=dict)
    """``(kind, date) -> ImageSource`` for images read with a band choice or resampled."""
    coarse_factor_given: float | None = None
    """The scene file's ``coarse_factor``, if written."""
    hidden: dict[tuple[str, dt.date], ImageFile] = field(default_factory=dict)
    """``(kind, date) -> image`` that :func:`load_scene` did not open: checked when first read."""
    checks: ImageChecks | None = None
    """The checks :func:`load_scene` ran, kept for the hidden images."""

    def __post_init__(self) -> None:
        if self.fine_options is None:
            self.fine_options = SectionOptions(scale=self.scale, offset=self.offset)
        if self.coarse_options is None:
            self.coarse_options = SectionOptions(scale=self.scale, offset=self.offset)

    @property
    def bands(self) -> int:
        """Number of bands of every image."""
        return self.grid.count

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of every image, in fine pixels."""
        return self.grid.shape

    @property
    def dates(self) -> list[dt.date]:
        """Every date with a fine or a coarse image, sorted."""
        return sorted(set(self.fine) | set(self.coarse))

    @property
    def coarse_factor(self) -> float | None:
        """Coarse pixel size in fine pixels: the scene file's ``coarse_factor``, else measured
        from the first coarse image on its own grid in the same CRS; None when unknown."""
        if self.coarse_factor_given is not None:
            return self.coarse_factor_given
        for (kind, _), source in sorted(self.sources.items(), key=lambda kv: kv[0][1]):
            place = source.placement
            if kind == "coarse" and place is not None and place.src_crs == place.dst_crs:
                src, dst = place.src_transform, place.dst_transform
                return float(math.sqrt(abs(src.determinant) / abs(dst.determinant)))
        return None

    def options(self, kind: str) -> SectionOptions:
        """The settings of the ``fine`` or ``coarse`` section."""
        opts = self.fine_options if kind == "fine" else self.coarse_options
        assert opts is not None  # set in __post_init__
        return opts

    def _find(self, kind: str, date: DateLike) -> tuple[dt.date, Path]:
        images = self.fine if kind == "fine" else self.coarse
        day = user_date(date)
        if day not in images:
            raise EstStfmError(
                f"no {kind} image for {day} in {self.path} ({kind} dates: "
                f"{dates_text(images)}): add it to the scene file or pick one of those dates"
            )
        return day, images[day]

    def _lookup(self, kind: str, date: DateLike) -> Path:
        return self._find(kind, date)[1]

    def _read(
        self, kind: str, date: DateLike, window: WindowLike | None
    ) -> tuple[np.ndarray, np.ndarray]:
        day, path = self._find(kind, date)
        opts = self.options(kind)
        hidden = self.hidden.get((kind, day))
        if hidden is not None and hidden.path == path:
            self._check_hidden(kind, day, hidden)
        source = self.sources.get((kind, day))
        if source is not None and source.path != path:
            source = None  # the path was replaced after loading: read it as it is
        bands = source.bands if source else None
        place = source.placement if source else None
        if place is None:
            image, valid = read_raster(
                path,
                opts.scale,
                window,
                offset=opts.offset,
                bands=bands,
                nodata=opts.nodata,
                valid_range=opts.valid_range,
            )
        else:
            image, valid = read_placed(
                path,
                self.grid,
                place,
                window,
                resampling=opts.resampling,
                scale=opts.scale,
                offset=opts.offset,
                bands=bands,
                nodata=opts.nodata,
                valid_range=opts.valid_range,
            )
        mask = opts.masks.get(day)
        if mask is not None:
            clear = self._mask_clear(mask, place, window, opts.mask_valid_values)
            image[:, ~clear] = 0.0
            valid &= clear
        return image, valid

    def _check_hidden(self, kind: str, day: dt.date, image: ImageFile) -> None:
        """Check a hidden image as :func:`load_scene` checks the others; then it is not hidden."""
        if self.checks is not None:
            opts = self.options(kind)
            image_grid, source = self.checks.placed(kind, day, image, opts)
            self.checks.mask(kind, day, image, image_grid, opts)
            self.checks.values(kind, day, image, image_grid, opts)
            if source is not None:
                self.sources[(kind, day)] = source
        del self.hidden[(kind, day)]

    def _mask_clear(
        self,
        mask: Path,
        place: Placement | None,
        window: WindowLike | None,
        clear_values: tuple[float, ...],
    ) -> np.ndarray:
        """Where the mask ``mask`` says clear (on the fine grid, in ``window``)."""
        if place is None:
            values = read_band(mask, 1, window)
        else:
            values = read_placed(
                mask, self.grid, place, window, resampling="nearest", bands=[1], raw=True
            )[0][0]
        return np.isin(values, np.asarray(clear_values))

    def read_fine(
        self, date: DateLike, window: WindowLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(values, valid)`` of the fine image of ``date`` (nodata, range and mask applied)."""
        return self._read("fine", date, window)

    def read_coarse(
        self, date: DateLike, window: WindowLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(values, valid)`` of the coarse image of ``date``, on the fine grid.

        A coarse image on its own grid is resampled onto the fine grid for ``window`` only.
        """
        return self._read("coarse", date, window)

    def require_coarse(self, date: DateLike) -> Path:
        """The coarse image of ``date``; a clear error listing the coarse dates if there is none."""
        return self._lookup("coarse", date)

    def pairs_dates(self) -> list[dt.date]:
        """Sorted dates that have both a fine and a coarse image (possible references)."""
        return sorted(set(self.fine) & set(self.coarse))

    def nearest_reference(self, date: DateLike, exclude: Iterable[DateLike] = ()) -> dt.date:
        """The date with a fine and a coarse image nearest to ``date`` (ties: the earlier one).

        ``date`` itself and the dates in ``exclude`` are never chosen.
        """
        try:
            day = parse_date(date)
            skip = {parse_date(d) for d in exclude} | {day}
        except ValueError as exc:
            raise EstStfmError(f"{exc}: write dates as YYYY-MM-DD") from None
        candidates = [d for d in self.pairs_dates() if d not in skip]
        if not candidates:
            raise EstStfmError(
                f"no reference for {day} in {self.path}: it needs another date with both a fine "
                f"and a coarse image (dates with both: {dates_text(self.pairs_dates())})"
            )
        return min(candidates, key=lambda d: (abs((d - day).days), d))


def _read_spec(path: Path) -> SceneSpec:
    """The validated content of the scene file at the absolute ``path``."""
    if not path.exists():
        raise EstStfmError(f"scene file not found: {path} (give the path of a scene YAML file)")
    if path.is_dir():
        hint = " (did you mean scene.yaml in it?)" if (path / "scene.yaml").is_file() else ""
        raise EstStfmError(f"{path} is a directory: give the scene YAML file{hint}")
    return parse_scene_spec(path, read_yaml(path, "scene file"))


def load_scene(
    path: str | Path,
    *,
    hidden_fine: Iterable[DateLike] = (),
    hidden_coarse: Iterable[DateLike] = (),
) -> Scene:
    """Read and validate a scene file; every problem is a one-line :class:`EstStfmError`.

    ``hidden_fine`` and ``hidden_coarse`` name dates whose fine (coarse) image must not be opened
    now, e.g. held-out dates or the date to predict: no check opens them, and each is checked only
    when first read (:meth:`Scene.read_fine`, :meth:`Scene.read_coarse`). Dates the scene does
    not list are ignored.
    """
    path = Path(os.path.abspath(Path(path).expanduser()))
    spec = _read_spec(path)
    kinds = ("fine", "coarse")
    hide = {"fine": set(map(user_date, hidden_fine)), "coarse": set(map(user_date, hidden_coarse))}
    images = {kind: spec.section_images(kind, path.parent) for kind in kinds}
    options = {kind: spec.section_options(kind, path.parent) for kind in kinds}
    opened = {
        kind: {day: im for day, im in images[kind].items() if day not in hide[kind]}
        for kind in kinds
    }
    if not opened["fine"]:
        raise EstStfmError(
            f"every fine image of {path} is hidden ({dates_text(images['fine'])}), but one is "
            "needed for the grid: add a fine image of another date to the scene file"
        )

    first_day, first = next(iter(opened["fine"].items()))
    grid = open_image(path, f"fine image for {first_day}", first)
    checks = ImageChecks(path, grid, first.name, spec.unit if spec.unit_given else None)
    grids: dict[tuple[str, dt.date], Grid] = {}
    sources: dict[tuple[str, dt.date], ImageSource] = {}
    for kind in kinds:
        for day, image in opened[kind].items():
            known = grid if (kind, day) == ("fine", first_day) else None
            grids[(kind, day)], source = checks.placed(kind, day, image, options[kind], known)
            if source is not None:
                sources[(kind, day)] = source
    for kind in kinds:
        for day, image in opened[kind].items():
            checks.mask(kind, day, image, grids[(kind, day)], options[kind])
    warn_georeferencing(path, grid, first.name)
    for kind in kinds:
        for day, image in opened[kind].items():
            checks.values(kind, day, image, grids[(kind, day)], options[kind])
    hidden = {
        (kind, day): image
        for kind in kinds
        for day, image in images[kind].items()
        if day in hide[kind]
    }
    return Scene(
        path=path,
        scale=options["fine"].scale,
        fine={day: image.path for day, image in images["fine"].items()},
        coarse={day: image.path for day, image in images["coarse"].items()},
        grid=grid,
        offset=options["fine"].offset,
        unit=spec.unit,
        fine_options=options["fine"],
        coarse_options=options["coarse"],
        sources=sources,
        coarse_factor_given=spec.coarse_factor,
        hidden=hidden,
        checks=checks,
    )
