"""Which reference pair(s) a target date is fused from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from est_stfm.errors import EstStfmError
from est_stfm.scene import Scene, user_date
from est_stfm.scene.dates import DateLike

if TYPE_CHECKING:
    from est_stfm.methods import Method

PAIRS = ("1", "2", "auto")
DEFAULT_PAIRS = "auto"


def choose_references(
    scene: Scene,
    date: DateLike,
    method: Method,
    reference: DateLike | None = None,
    pairs: str = DEFAULT_PAIRS,
) -> tuple[dt.date, tuple[dt.date, ...]]:
    """Check that ``method`` can fuse ``date`` and pick its reference date(s).

    ``pairs="1"``: the nearest reference pair (or ``reference``). ``"2"``: the nearest pair
    before and the nearest pair after the date (an error if either is missing). ``"auto"``: two
    when both exist, else one. Giving ``reference`` means one pair.
    """
    date = user_date(date)
    scene.require_coarse(date)
    if pairs not in PAIRS:
        raise EstStfmError(f"--pairs {pairs!r}: use 1, 2 or auto")
    if method.bands is not None and method.bands != scene.bands:
        raise EstStfmError(
            f"the model was trained on {method.bands} bands but {scene.path} has {scene.bands}: "
            "fit a model on this scene"
        )
    candidates = [d for d in scene.pairs_dates() if d != date]
    if reference is not None:
        reference = user_date(reference)
        if reference not in candidates or pairs == "2":
            raise EstStfmError(
                f"reference {reference} needs a fine and a coarse image, must differ from {date} "
                f"and means one pair; candidates: {', '.join(str(d) for d in candidates)}"
            )
        return date, (reference,)
    if not candidates and pairs != "2":
        scene.nearest_reference(date)  # no reference at all: its one-line error names the scene
    return date, pair_dates(date, candidates, pairs)


def pair_dates(
    date: dt.date, candidates: Sequence[dt.date], pairs: str = DEFAULT_PAIRS
) -> tuple[dt.date, ...]:
    """The reference date(s) of ``date`` among ``candidates`` (dates with a fine and a coarse
    image, other than ``date``), chosen as :func:`choose_references` does: two (the nearest
    before and after) or the nearest one (ties: the earlier)."""
    before = [d for d in candidates if d < date]
    after = [d for d in candidates if d > date]
    if pairs == "2" and not (before and after):
        raise EstStfmError(
            f"--pairs 2 needs a reference pair before and after {date}; "
            f"dates with fine and coarse images: {', '.join(str(d) for d in candidates) or 'none'}"
        )
    if pairs != "1" and before and after:
        return (before[-1], after[0])
    if not candidates:
        raise EstStfmError(
            f"no reference for {date}: it needs another date with both a fine and a coarse image"
        )
    return (min(candidates, key=lambda d: (abs((d - date).days), d)),)
