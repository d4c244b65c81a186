"""Retention and refusal against a real RocksDB folder and the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from counter_service import changelog
from counter_service.restore import ChangelogFollower
from counter_service.service import open_state
from counter_service.state import CounterState, StateDamagedError
from services import kafka
from tests.conftest import TopicFactory

META = {"source": "s", "changelog": "c", "bucket_seconds": 60}
HOUR = 3600


def record(
    partition: int, start: int, end: int, counts: dict[tuple[str, int, str], int]
) -> changelog.Record:
    return changelog.data_record(
        partition, start, end, "w", 1, counts, counted=sum(counts.values()), rejected=0, max_ts=-1
    )


def test_buckets_older_than_the_retention_are_dropped(
    tmp_path: Path, kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    now = 1_000 * HOUR
    state = CounterState.open(tmp_path / "db", META)
    old, edge, fresh = now - 3 * HOUR, now - 2 * HOUR, now - 60
    state.apply(
        [(0, 0, record(0, 0, 3, {("g", old, "v"): 1, ("g", edge, "v"): 2, ("g", fresh, "v"): 3}))]
    )
    topic = topic_factory("changelog", 1)
    consumer = kafka.make_consumer(kafka.consumer_config(kafka_bootstrap, "retention"))
    producer = kafka.make_producer(kafka.producer_config(kafka_bootstrap))
    follower = ChangelogFollower(
        state,
        consumer,
        producer,
        topic,
        1,
        "w",
        retention_seconds=2 * HOUR,
        bucket_seconds=60,
        clock=lambda: float(now),
    )
    try:
        follower.sweep()
        rows = state.counts(["g"], 0, now + HOUR)["g"]
        assert rows == [(edge, "v", 2), (fresh, "v", 3)]
        assert state.counted == 6  # totals are history, not buckets
    finally:
        consumer.close()
        state.close()


def test_a_folder_that_is_not_ours_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "state"
    state = CounterState.open(path, META)
    state.apply([(0, 0, record(0, 0, 1, {("g", 60, "v"): 1}))])
    state.close()
    with pytest.raises(StateDamagedError):
        CounterState.open(path, {**META, "bucket_seconds": 30})
    rebuilt = open_state(path, {**META, "bucket_seconds": 30}, clock=lambda: 5.0)
    try:
        assert rebuilt.counted == 0 and rebuilt.next_offset(0) == 0
        assert (tmp_path / "state.damaged-5").is_dir()
    finally:
        rebuilt.close()


# A changelog that lost its beginning (or its end) under a folder: recovery.plan's unit
# tests (Tansu never moves a log's start) and test_broker_lost.py (a broker that forgot).
