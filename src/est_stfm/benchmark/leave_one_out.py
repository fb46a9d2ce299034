"""Leave one date out: every pair date of a scene becomes a target in turn (protocol version 2).

For a scene with pair dates (a fine and a coarse image) ``d_1 < ... < d_n``, each ``d_i`` is a
target whose fine image is the truth, predicted from

* ``earlier``: the nearest earlier pair ``d_{i-1}``,
* ``later``: the nearest later pair ``d_{i+1}``,
* ``both``: those two pairs together (only where both exist),

as the protocol's ``pairs`` list asks. Every case of one target forms a *group*: a trainable
method fits once per group, on every other pair date (the target held out), and predicts every
case of it. The first and last dates only have one side, so a scene with two pair dates gives two
cases and one with three gives five.

The quick subset (``benchmark --quick``) takes one case per scene: the ``both`` case of the
middle target (the one nearest the middle of the series, the earlier on a tie) where a target has
pairs on both sides, else the latest target from its earlier pair (as protocol version 1 did).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from est_stfm.benchmark.protocol import CaseSpec, PairChoice, SceneSpec
from est_stfm.errors import EstStfmError
from est_stfm.scene import Scene


def case_id(scene_id: str, target: dt.date, pairs: PairChoice) -> str:
    """The id of a leave-one-date-out case, e.g. ``cia.2001-10-17.both``."""
    return f"{scene_id}.{target.isoformat()}.{pairs}"


def _quick_case(dates: Sequence[dt.date], targets: Sequence[dt.date]) -> tuple[dt.date, str]:
    """The (target, pairs) of a scene's quick case."""
    inner = [d for d in targets if dates[0] < d < dates[-1]]
    if inner:
        middle = (len(dates) - 1) / 2
        target = min(inner, key=lambda d: (abs(dates.index(d) - middle), d))
        return target, "both"
    return max(targets), "earlier" if max(targets) > dates[0] else "later"


def expand_scene(
    spec: SceneSpec, scene: Scene, pairs: Sequence[PairChoice] = ("earlier", "later", "both")
) -> list[CaseSpec]:
    """The leave-one-date-out cases of one scene, by target date then in ``pairs`` order."""
    dates = scene.pairs_dates()
    if len(dates) < 2:
        raise EstStfmError(
            f"scene {spec.id}: leave one date out needs at least 2 dates with a fine and a coarse "
            f"image in {scene.path}; it has {len(dates)}"
        )
    targets = dates if spec.targets is None else sorted(set(spec.targets))
    missing = [d for d in targets if d not in dates]
    if missing:
        raise EstStfmError(
            f"scene {spec.id}: target {missing[0]} has no fine and coarse pair in {scene.path}"
        )
    quick = _quick_case(dates, targets)
    cases = []
    for target in targets:
        has = {
            "earlier": target > dates[0],
            "later": target < dates[-1],
            "both": dates[0] < target < dates[-1],
        }
        for choice in pairs:
            if not has[choice]:
                continue
            cases.append(
                CaseSpec(
                    id=case_id(spec.id, target, choice),
                    scene=spec.scene,
                    target=target,
                    pairs=choice,
                    group=f"{spec.id}.{target.isoformat()}",
                    scene_id=spec.id,
                    quick=(target, choice) == quick,
                    data_range=spec.data_range,
                    ergas_ratio=spec.ergas_ratio,
                    unit=spec.unit,
                    coarse=spec.coarse,
                    description=spec.description,
                )
            )
    if not any(c.quick for c in cases):  # the quick choice is not in `pairs`: take the first
        cases[0] = cases[0].model_copy(update={"quick": True})
    return cases
