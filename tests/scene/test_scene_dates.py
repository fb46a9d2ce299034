"""Dates in every form the scene file and the API accept, and the one-line error for others."""

from __future__ import annotations

import datetime as dt

import pytest

from est_stfm.errors import EstStfmError
from est_stfm.scene import user_date
from est_stfm.scene.dates import dates_text, parse_date

DAY = dt.date(2001, 5, 24)


@pytest.mark.parametrize(
    "value", [DAY, dt.datetime(2001, 5, 24, 10, 30), "2001-05-24", " 20010524 ", 20010524]
)
def test_parse_date_forms(value: object) -> None:
    assert parse_date(value) == DAY


@pytest.mark.parametrize("value", ["May 24", "2001-5-24", True, 2001.0524, None, "2001-02-30"])
def test_parse_date_rejects_other_values(value: object) -> None:
    with pytest.raises(ValueError):
        parse_date(value)


def test_user_date_says_how_to_write_it() -> None:
    assert user_date("2001-05-24") == DAY
    with pytest.raises(EstStfmError, match="'yesterday' is not a date: write it as YYYY-MM-DD"):
        user_date("yesterday")


def test_dates_text_is_sorted_or_none() -> None:
    assert dates_text([dt.date(2001, 8, 12), DAY]) == "2001-05-24, 2001-08-12"
    assert dates_text([]) == "none"
