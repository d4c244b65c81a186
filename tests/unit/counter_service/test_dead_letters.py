"""The dead letters a batch's rejections become (contract section 2), and how they are logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from counter_service import events, processor
from counter_service.events import Rejection


class FakeMessage:
    def __init__(self, offset: int, headers: Any = None, timestamp: int = 1_000) -> None:
        self._offset, self._headers, self._timestamp = offset, headers, timestamp

    def topic(self) -> str:
        return "impressions"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return b"{oops%d" % self._offset

    def key(self) -> bytes:
        return b"user-%d" % self._offset

    def headers(self) -> Any:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp) if self._timestamp >= 0 else (0, -1)


def dead_letters(batch: list[FakeMessage], rejections: list[Rejection]) -> Any:
    return processor.Processor._dead_letters(None, batch, rejections)  # type: ignore[arg-type]


def test_a_dead_letter_is_the_event_unchanged_with_the_contract_headers_last() -> None:
    batch = [FakeMessage(40), FakeMessage(41, [("trace", b"t-1")]), FakeMessage(42, timestamp=-1)]
    rejections = [
        Rejection(1, events.BAD_JSON, "not valid UTF-8 JSON"),
        Rejection(2, events.TOO_OLD, "ts 1000 is older than the retention"),
    ]
    letters = dead_letters(batch, rejections)
    assert letters == [
        (
            b"{oops41",
            b"user-41",
            [
                ("trace", b"t-1"),
                ("cd-error", events.BAD_JSON),
                ("cd-error-detail", "not valid UTF-8 JSON"),
                ("cd-source", "impressions/2/41"),
            ],
            1_000,
        ),
        (
            b"{oops42",
            b"user-42",
            # Without headers of its own: a dict (no pairs for the collector to walk)
            {
                "cd-error": events.TOO_OLD,
                "cd-error-detail": "ts 1000 is older than the retention",
                "cd-source": "impressions/2/42",
            },
            0,  # no record time: the producer stamps it
        ),
    ]
    assert list(letters[1][2]) == ["cd-error", "cd-error-detail", "cd-source"]  # sent in order
    assert batch[1].headers() == [("trace", b"t-1")]  # the event's own list is not changed


def test_a_batch_logs_its_first_rejections_then_one_line_for_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    batch = [FakeMessage(100 + i) for i in range(10)]
    reasons = [events.BAD_JSON, events.BAD_NAME] * 5
    rejections = [Rejection(i, reason, f"detail {i}") for i, reason in enumerate(reasons)]
    with caplog.at_level(logging.INFO, logger="counter_service.processor"):
        dead_letters(batch, rejections)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "impressions/2/100: rejected (bad_json): detail 0",
        "impressions/2/101: rejected (bad_name): detail 1",
        "impressions/2/102: rejected (bad_json): detail 2",
        "impressions/2: 7 more rejected at offsets 103..109 (bad_json 3, bad_name 4); "
        "each in the dead-letter topic",
    ]
