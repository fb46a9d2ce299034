"""Which date pairs a fit trains on: each target with its nearest references only, so a long
series costs base runs linear in its dates, and a short one trains on every pair as before."""

from __future__ import annotations

import datetime as dt
import itertools

from est_stfm.scene import load_scene
from est_stfm.training.samples import load_stack, ordered_pairs, split_scene


def _days(*offsets: int) -> list[dt.date]:
    return [dt.date(2020, 1, 1) + dt.timedelta(days=o) for o in offsets]


def test_each_target_keeps_its_nearest_references_ties_to_the_earlier():
    dates = _days(0, 16, 32, 48, 64, 200)
    pairs = ordered_pairs(dates, references=2)
    assert len(pairs) == 2 * len(dates)
    refs = {t: [r for r, u in pairs if u == t] for t in dates}
    assert refs[dates[2]] == [dates[1], dates[3]]  # 16 days either side: both kept
    assert refs[dates[3]] == [dates[2], dates[4]]
    assert refs[dates[5]] == [dates[3], dates[4]]  # far from everything: still two
    assert refs[dates[0]] == [dates[1], dates[2]]
    three = ordered_pairs(_days(0, 10, 20), references=1)
    assert [r for r, t in three if t == _days(10)[0]] == _days(0)  # tie: the earlier
    all_pairs = list(itertools.permutations(dates, 2))
    assert ordered_pairs(dates) == all_pairs == ordered_pairs(dates, references=5)
    assert set(pairs) <= set(all_pairs) and pairs == [p for p in all_pairs if p in set(pairs)]


def test_a_short_series_trains_on_every_pair_a_long_one_on_near_pairs(tiny_scene):
    scene = load_scene(tiny_scene)
    stack = load_stack(scene, scene.pairs_dates())  # 4 dates: 3 references each is all
    full = split_scene(stack, "none", 0.0)
    assert split_scene(stack, "none", 0.0, references=3).train_pairs == full.train_pairs
    near = split_scene(stack, "none", 0.0, references=1)
    assert len(full.train_pairs) == 12 and len(near.train_pairs) == 4
