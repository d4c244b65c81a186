"""The outbox: a changelog record never reaches the changelog before its dead letters
are acknowledged, records keep their order, and the loop is not held up meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from counter_service import changelog
from counter_service.changelog import Record
from counter_service.outbox import Headers, Letter, Outbox
from services.errors import UpstreamError
from services.retry import Retry

Callback = Callable[[Any, Any], None]


class FakeError:
    def str(self) -> str:
        return "broker down"


class FakeMessage:
    """What a delivery report carries: value and key, no headers."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value

    def key(self) -> None:
        return None


class FakeProducer:
    """Queues deliveries; ``poll`` reports them, failing the first ``fail[value]`` times."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []  # dead letters the broker acknowledged, in order
        self.queued: list[tuple[bytes, Callback]] = []
        self.partitions: list[int] = []  # of every send, in order
        self.fail: dict[bytes, int] = {}
        self.paused = False  # the broker does not answer
        self.headers: list[Any] = []  # of every send, in order

    def produce(  # confluent-kafka's signature, positions and names alike
        self,
        topic: str,
        value: bytes | None = None,
        key: Any = None,
        partition: int = -1,
        callback: Callback | None = None,
        on_delivery: Callback | None = None,
        timestamp: int = 0,
        headers: Any = None,
    ) -> None:
        assert topic == "dlq"
        report = callback or on_delivery
        assert report is not None, "every dead letter needs its delivery report"
        self.queued.append((value or b"", report))
        self.headers.append(headers)
        self.partitions.append(partition)

    def poll(self, _timeout: float = 0.0) -> int:
        if self.paused:
            return 0
        queued, self.queued = self.queued, []
        for value, callback in queued:
            if self.fail.get(value, 0) > 0:
                self.fail[value] -= 1
                callback(FakeError(), FakeMessage(value))
            else:
                self.sent.append(value)
                callback(None, None)
        return len(queued)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.01  # every look at the clock lets a little time pass
        return self.now


def record(start: int, end: int) -> Record:
    return changelog.data_record(0, start, end, "w", 1, {}, counted=0, rejected=0, max_ts=0)


def letter(value: bytes, source: str = "") -> Letter:
    return value, None, [("cd-source", source or value.decode())], 0


def outbox(
    producer: FakeProducer, emitted: list[Record], retry: Retry | None = None, max_held: int = 8
) -> Outbox:
    return Outbox(
        producer,  # type: ignore[arg-type]
        "dlq",
        emitted.append,
        retry or Retry(attempts=4, base_delay=0.01, max_delay=0.02, deadline=5.0),
        clock=Clock(),
        max_held=max_held,
    )


def test_records_wait_for_their_dead_letters_and_keep_their_order() -> None:
    producer, emitted = FakeProducer(), list[Record]()
    box = outbox(producer, emitted)
    producer.paused = True
    box.add(record(0, 10), [letter(b"0/3"), letter(b"0/7")])
    box.add(record(10, 20))  # clean, but behind a held one
    box.add(record(20, 20))  # a heartbeat must not overtake either
    assert emitted == [] and box.holding == 3
    producer.paused = False
    box.pump()
    assert producer.sent == [b"0/3", b"0/7"]
    assert [(r.from_offset, r.to_offset) for r in emitted] == [(0, 10), (10, 20), (20, 20)]
    box.add(record(20, 30))  # nothing held: straight through
    assert len(emitted) == 4 and box.holding == 0


def test_a_failed_dead_letter_is_sent_again_before_its_record() -> None:
    producer, emitted = FakeProducer(), list[Record]()
    box = outbox(producer, emitted)
    producer.fail[b"0/3"] = 2
    box.add(record(0, 10), [letter(b"0/3")], partition=2)
    for _ in range(100):
        if emitted:
            break
        assert b"0/3" not in producer.sent  # not delivered: the record must still wait
        box.pump()
    assert producer.sent == [b"0/3"] and len(emitted) == 1
    assert producer.partitions == [2, 2, 2]  # every attempt to the batch's partition


def test_a_dead_letter_out_of_retries_stops_the_loop_with_its_record_unwritten() -> None:
    producer, emitted = FakeProducer(), list[Record]()
    box = outbox(producer, emitted, Retry(attempts=3, base_delay=0.0, max_delay=0.0))
    producer.fail[b"0/3"] = 99
    headers: Headers = {"cd-error": "bad_json", "cd-source": "impressions/1/3"}  # the usual form
    box.add(record(0, 10), [(b"0/3", None, headers, 0)])
    with pytest.raises(UpstreamError, match="for impressions/1/3 not delivered"):
        for _ in range(20):
            box.pump()
    assert emitted == []


def test_too_many_held_records_hold_the_loop_until_the_front_is_released() -> None:
    producer, emitted = FakeProducer(), list[Record]()
    box = outbox(producer, emitted, max_held=2)
    producer.paused = True
    box.add(record(0, 1), [letter(b"0/0")])
    box.add(record(1, 2), [letter(b"0/1")])
    assert box.holding == 2
    polls = 0

    def answer_later(_timeout: float = 0.0) -> int:
        nonlocal polls
        polls += 1
        producer.paused = polls < 3
        return FakeProducer.poll(producer)

    producer.poll = answer_later  # type: ignore[method-assign]
    box.add(record(2, 3), [letter(b"0/2")])  # a third: waits for the broker
    assert polls >= 3 and box.holding <= 2
    box.drain()
    assert [r.to_offset for r in emitted] == [1, 2, 3]


def test_a_failed_first_send_is_repeated_for_every_letter_it_may_be() -> None:
    """A delivery report names value and key, not cd-source: both letters that share
    them are sent again (one repeats, recognisable by cd-source), so neither is lost."""
    producer, emitted = FakeProducer(), list[Record]()
    box = outbox(producer, emitted)
    producer.fail[b"{oops"] = 1
    box.add(record(0, 10), [letter(b"{oops", "t/0/3"), letter(b"{oops", "t/0/7"), letter(b"ok")])
    box.drain()
    resent = [dict(h)["cd-source"] for h in producer.headers[3:]]
    assert sorted(resent) == ["t/0/3", "t/0/7"]
    assert len(emitted) == 1
