"""TIME on the command line (CONTRACT §8, issue 14): absolute, now, relative; seconds refused."""

from __future__ import annotations

import pytest

from pipeline.adapters.times import TimeFormatError, parse_time
from pipeline.cli import join_relative_times

NOW = 1_800_000_000_000
H = 3_600_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01", 1_704_067_200_000),
        ("2024-01-01T08:00:00+08:00", 1_704_067_200_000),
        ("2024-01-01T00:00:00Z", 1_704_067_200_000),
        ("1704067200000", 1_704_067_200_000),
        ("0", 0),
        ("now", NOW),
        ("NOW", NOW),
        ("now-24h", NOW - 24 * H),
        ("now+1h", NOW + H),
        ("now - 30m", NOW - 30 * 60_000),
        ("-7d", NOW - 7 * 24 * H),
        ("+2w", NOW + 14 * 24 * H),
        ("now-90s", NOW - 90_000),
    ],
)
def test_times_accepted(text, expected):
    assert parse_time(text, now=NOW) == expected


def test_integer_seconds_are_refused_with_the_milliseconds_to_use():
    with pytest.raises(TimeFormatError) as exc:
        parse_time("1700000000")
    assert "looks like seconds; use milliseconds 1700000000000" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "is not a time"),
        ("now-3y", "is not a time"),
        ("2024-01-01T00:00:00", "no UTC offset"),
    ],
)
def test_times_refused(text, message):
    with pytest.raises(TimeFormatError, match=message):
        parse_time(text, now=NOW)


def test_a_relative_time_after_a_time_option_is_its_value_not_an_option():
    argv = ["replay", "verify", "--from", "-7d", "--to", "now", "-v"]
    assert join_relative_times(argv) == ["replay", "verify", "--from=-7d", "--to", "now", "-v"]
