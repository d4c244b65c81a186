"""Bucket arithmetic and time parsing (services.timebuckets)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import InvalidInputError
from services.timebuckets import (
    bucket_of_ms,
    buckets,
    ceil_to,
    check_bucket,
    floor_to,
    is_aligned,
    iso,
    last_full_window_end,
    parse_time,
)


@given(st.integers(-(10**15), 10**15), st.integers(1, 10**6))
def test_floor_and_ceil_bracket_the_value(value: int, step: int) -> None:
    low, high = floor_to(value, step), ceil_to(value, step)
    assert low <= value <= high
    assert is_aligned(low, step) and is_aligned(high, step)
    assert high - low in (0, step)


@given(st.integers(0, 10**13), st.integers(1, 86_400))
def test_bucket_of_ms_contains_the_event(ts_ms: int, seconds: int) -> None:
    start = bucket_of_ms(ts_ms, seconds)
    assert start * 1000 <= ts_ms < (start + seconds) * 1000
    assert start % seconds == 0


def test_buckets_cover_the_range() -> None:
    assert list(buckets(3590, 7300, 3600)) == [0, 3600, 7200]
    assert list(buckets(3600, 3600, 3600)) == []


def test_last_full_window_end() -> None:
    assert last_full_window_end(7199, 3600) == 3600
    assert last_full_window_end(7200, 3600) == 7200


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1763820000", 1763820000),
        ("2025-11-22T14:00:00Z", 1763820000),
        ("2025-11-22T15:00:00+01:00", 1763820000),
        ("2025-11-22T14:00:00.999Z", 1763820000),
        ("0", 0),
    ],
)
def test_parse_time(text: str, seconds: int) -> None:
    assert parse_time(text, "start") == seconds


@pytest.mark.parametrize(
    "text", ["", "  ", "2025-11-22T14:00:00", "yesterday", "-5", "²", "1" * 40, "1e9"]
)
def test_parse_time_refuses_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_time(text, "end")
    assert info.value.field == "end"


@given(st.text(max_size=40))
def test_parse_time_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(InvalidInputError):
        parse_time(text, "start")


def test_check_bucket() -> None:
    assert check_bucket(3600, 60) == 3600
    for bad in (0, -60, 90, 10**13):
        with pytest.raises(InvalidInputError):
            check_bucket(bad, 60)


# Years 1000 to 9999: where strftime's %Y has four digits, as ISO-8601 wants.
@given(st.floats(-30_610_224_000, 253_402_300_799.9, allow_nan=False))
def test_iso_writes_what_strftime_writes(epoch: float) -> None:
    expected = datetime.fromtimestamp(int(epoch // 1), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert iso(epoch) == expected


@pytest.mark.parametrize("epoch", [float("nan"), float("inf"), 10.0**20, -(10.0**20)])
def test_iso_refuses_what_no_calendar_has(epoch: float) -> None:
    with pytest.raises((OverflowError, ValueError)):
        iso(epoch)
