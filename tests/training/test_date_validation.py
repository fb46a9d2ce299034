"""Date validation holds out both ends of a long series, and scores its worst held-out date."""

import datetime as dt

import numpy as np
import pytest

from est_stfm.training.samples import MIN_DATES_FOR_BOTH_ENDS, SceneStack, split_scene
from est_stfm.training.validate import worst_target_score


def _stack(count: int) -> SceneStack:
    dates = [dt.date(2015, 1, 1) + dt.timedelta(days=16 * i) for i in range(count)]
    image = np.zeros((2, 32, 32), np.float32)
    valid = np.ones((32, 32), bool)
    return SceneStack(
        "s", dates, dict.fromkeys(dates, image), dict.fromkeys(dates, image),
        dict.fromkeys(dates, valid),
    )  # fmt: skip


@pytest.mark.parametrize("count", [3, 4, MIN_DATES_FOR_BOTH_ENDS, 7])
def test_held_out_dates_are_never_trained_and_each_is_predicted_from_its_two_nearest(count):
    stack = _stack(count)
    split = split_scene(stack, "auto", 0.15)
    ends = [stack.dates[0], stack.dates[-1]]
    expected = ends if count >= MIN_DATES_FOR_BOTH_ENDS else ends[1:]
    assert split.mode == "dates" and split.val_dates == expected
    train = [d for d in stack.dates if d not in expected]
    assert {d for pair in split.train_pairs for d in pair} == set(train)
    for day in expected:
        refs = sorted(r for r, t in split.val_pairs if t == day)
        assert refs == sorted(sorted(train, key=lambda d: abs((d - day).days))[:2])
    assert len(split.val_pairs) == 2 * len(expected)


def test_the_score_is_the_worst_held_out_date_of_each_scene_averaged_over_scenes():
    a, b = dt.date(2015, 1, 1), dt.date(2015, 12, 1)
    targets = [(0, a), (0, a), (0, b), (0, b), (1, None), (1, None)]
    scores = [0.90, 0.94, 1.02, 1.00, 0.80, 0.84]
    # scene 0: date a 0.92, date b 1.01 -> 1.01; scene 1 (blocks): 0.82
    assert worst_target_score(scores, targets) == pytest.approx((1.01 + 0.82) / 2)
    # a gain on one date no longer hides a loss on the other
    better_a = [0.70, 0.70, 1.02, 1.00, 0.80, 0.84]
    assert worst_target_score(better_a, targets) == worst_target_score(scores, targets)
    # a wrecked model (NaN on one date) never looks better than anything
    assert np.isnan(worst_target_score([float("nan"), 0.5], [(0, a), (0, b)]))
