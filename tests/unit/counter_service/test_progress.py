"""complete_through and lag from per-partition figures."""

from __future__ import annotations

from counter_service.progress import complete_through, lag
from counter_service.state import PartitionState


def test_complete_through_is_the_slowest_partition_minus_lateness() -> None:
    parts = {
        0: PartitionState(10, max_ts=100_000, idle_ms=-1),
        1: PartitionState(5, max_ts=50_000, idle_ms=90_000),  # idle later than its events
    }
    assert complete_through(parts, 2, lateness_seconds=5, now_ms=200_000) == 85
    assert complete_through(parts, 2, lateness_seconds=0, now_ms=200_000) == 90


def test_events_stamped_ahead_do_not_run_ahead_of_the_clock() -> None:
    parts = {0: PartitionState(10, max_ts=700_000)}
    assert complete_through(parts, 1, lateness_seconds=5, now_ms=100_000) == 95


def test_unknown_until_every_partition_has_a_mark() -> None:
    parts = {0: PartitionState(10, max_ts=100_000)}
    assert complete_through(parts, 2, 0, 10**9) is None
    assert complete_through({}, 0, 0, 10**9) is None
    assert complete_through({0: PartitionState()}, 1, 0, 10**9) is None


def test_lag_never_negative_when_the_broker_mark_trails() -> None:
    assert lag(100, 40) == 60
    assert lag(49_602, 50_000) == 0
    assert lag(None, 5) == 0
