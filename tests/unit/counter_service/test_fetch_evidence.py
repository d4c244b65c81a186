"""Idle claims rest on an answer actually received, never on the clock (issue 13)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from counter_service.fetch_evidence import FetchEvidence, idle_mark
from counter_service.processor import Ownership, Processor, Topics

NOW = 1_796_000_000.0


def stats(fetch_state: str = "active", broker_state: str = "UP", rxidle_us: int = 250_000) -> str:
    """The shape of librdkafka's statistics (only the fields read; others ignored)."""
    return json.dumps(
        {
            "time": int(NOW),
            "brokers": {
                "127.0.0.1:9092/111": {"nodeid": 111, "state": broker_state, "rxidle": rxidle_us},
                "GroupCoordinator": {"nodeid": -1, "state": "UP", "rxidle": 1},
            },
            "topics": {
                "src": {
                    "partitions": {
                        "0": {"leader": 111, "fetch_state": fetch_state},
                        "-1": {"leader": -1, "fetch_state": "none"},
                    }
                }
            },
        }
    )


def evidence(raw: str) -> FetchEvidence:
    found = FetchEvidence("src", clock=lambda: NOW, wall=lambda: NOW)
    found.on_stats(raw)
    return found


def test_the_claim_is_stamped_with_the_last_answer_from_the_leader() -> None:
    assert evidence(stats()).last_answer_ms == {0: int(NOW * 1000) - 250}


def test_no_claim_while_not_fetching_or_disconnected() -> None:
    assert evidence(stats(fetch_state="offset-query")).last_answer_ms == {}
    assert evidence(stats(broker_state="DOWN")).last_answer_ms == {}
    assert evidence(stats(rxidle_us=-1)).last_answer_ms == {}
    assert evidence("{not json").last_answer_ms == {}


def test_idle_only_at_the_high_mark_and_after_taking_the_partition() -> None:
    assert idle_mark(high=5, position=5, answered_ms=2_000, taken_ms=1_000) == 2_000
    assert idle_mark(high=6, position=5, answered_ms=2_000, taken_ms=1_000) == -1
    assert idle_mark(high=-1001, position=5, answered_ms=2_000, taken_ms=1_000) == -1
    assert idle_mark(high=5, position=5, answered_ms=900, taken_ms=1_000) == -1
    assert idle_mark(high=5, position=5, answered_ms=None, taken_ms=1_000) == -1


class CachedMarks:
    """A consumer whose cached high marks never move (fetching stalled)."""

    def get_watermark_offsets(self, *_: Any, **__: Any) -> tuple[int, int]:
        return 0, 5


def test_a_stale_cached_high_mark_does_not_make_a_partition_idle_now() -> None:
    follower = SimpleNamespace(on_skipped_own=None)
    found = FetchEvidence("src", clock=lambda: NOW, wall=lambda: NOW)
    processor = Processor(
        CachedMarks(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        follower,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        Topics("src", "dlq", "log", 1),
        "w",
        10,
        clock=lambda: NOW,
        evidence=found,
    )
    taken = int(NOW * 1000) - 60_000
    processor.owned[0] = Ownership(position=5, generation=1, taken_ms=taken)
    processor._mark_idle(set(), NOW)
    assert processor.owned[0].idle_ms == -1  # the cache alone proves nothing
    found.last_answer_ms = {0: taken - 1}  # an answer from before this ownership
    processor._mark_idle(set(), NOW)
    assert processor.owned[0].idle_ms == -1
    found.last_answer_ms = {0: taken + 30_000}  # answered 30 s ago: idle then, not now
    processor._mark_idle(set(), NOW)
    assert processor.owned[0].idle_ms == taken + 30_000
