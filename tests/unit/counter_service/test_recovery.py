"""The start-up decision (recovery.plan) and the snapshot record format, as pure logic."""

from __future__ import annotations

import pytest

from counter_service import recovery, snapshot, topics
from services.errors import InvalidInputError

ENDS = {0: 500, 1: 700}
LOWS = {0: 0, 1: 0}


def plan(
    positions: dict[int, int], snap: dict[int, int] | None, lows: dict[int, int] = LOWS
) -> recovery.Plan:
    return recovery.plan("cl", positions, lows, ENDS, snap)


def test_a_fresh_folder_loads_a_snapshot_that_saves_work() -> None:
    assert plan({}, {0: 400, 1: 650}).action == "snapshot"
    assert plan({}, None).action == "replay"
    assert plan({}, {0: 10, 1: 5}).action == "snapshot"  # fresh: always bounded
    assert plan({0: 1, 1: 1}, {0: 10, 1: 5}).action == "replay"  # too little to gain


def test_a_folder_past_the_logs_end_is_rebuilt_and_says_where() -> None:
    decision = plan({0: 501, 1: 10}, {0: 400, 1: 650})
    assert decision.action == "rebuild"
    assert "partition 0 ends at offset 500 but the local state has read to 501" in decision.reason


def test_a_snapshot_behind_the_folder_or_past_the_end_is_not_used() -> None:
    assert plan({0: 450, 1: 690}, {0: 400, 1: 650}).action == "replay"
    assert plan({}, {0: 400, 1: 900}).action == "replay"  # not this log's (recreated)


def test_a_truncated_log_continues_from_a_covering_snapshot_or_refuses() -> None:
    lows = {0: 300, 1: 0}
    assert plan({0: 100, 1: 100}, {0: 400, 1: 650}, lows).action == "snapshot"
    decision = plan({0: 100, 1: 100}, {0: 200, 1: 650}, lows)
    assert decision.action == "refuse"
    assert "partition 0 starts at offset 300 but the state needs 100" in decision.reason


def test_snapshot_records_round_trip_and_foreign_ones_are_refused() -> None:
    chunk = snapshot.Chunk(snapshot.CHUNK, "s", 0, [("g", 60, "video", 3)])
    assert snapshot.decode(snapshot._encoder.encode(chunk)) == chunk
    with pytest.raises(InvalidInputError):
        snapshot.decode(b"\x93\x63\x00\x00")
    with pytest.raises(InvalidInputError):
        snapshot.decode(None)


def test_a_snapshot_with_a_missing_chunk_is_incomplete() -> None:
    footer = snapshot.Footer(snapshot.FOOTER, "s", 0, 2, "id", 1, {0: 5}, [], 0, 0, [], 0, "w")
    one = snapshot.Chunk(snapshot.CHUNK, "s", 0, [("g", 60, "v", 1)])
    two = snapshot.Chunk(snapshot.CHUNK, "s", 1, [("g", 120, "v", 2)])
    assert snapshot.assemble(footer, 9, {0: one}) is None
    assert snapshot.assemble(footer, 9, {0: one, 1: two}) == [("g", 60, "v", 1), ("g", 120, "v", 2)]


@pytest.mark.parametrize(
    ("found", "named"),
    [
        ({"cleanup.policy": "compact"}, "cleanup.policy=compact"),
        ({"cleanup.policy": "compact,delete"}, "cleanup.policy=compact,delete"),
        ({"retention.ms": "604800000"}, "retention.ms=604800000"),
        ({"retention.bytes": "1073741824"}, "retention.bytes=1073741824"),
    ],
)
def test_topic_settings_that_lose_records_are_refused_by_name(
    found: dict[str, str | None], named: str
) -> None:
    with pytest.raises(topics.TopicMismatchError, match=named):
        topics.check_configs("cl", found)
    topics.check_configs("cl", {"cleanup.policy": "delete", "retention.ms": "-1"})


def test_a_changed_partition_count_is_refused() -> None:
    with pytest.raises(topics.TopicMismatchError, match="has 2 partitions but the state"):
        topics.check_partitions("cl", 2, 1, "the state")
    topics.check_partitions("cl", 2, None, "the state")  # not recorded yet
    topics.check_partitions("cl", 2, 2, "the state")
