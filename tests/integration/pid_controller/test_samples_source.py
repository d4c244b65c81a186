"""The window's samples read back from the real broker (Tansu) by time."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from confluent_kafka import Producer

from pid_controller.samples_source import SamplesSource
from services import kafka
from services.local.process import free_port
from services.samples import SampledRequest, SamplesUnavailableError, encode_sample
from tests.conftest import TopicFactory

START = 1_763_816_400  # a window long gone: the wall clock is past it and its grace
END = START + 3600


def sample(ts_ms: int, group: str = "control", score: float = -1.0) -> SampledRequest:
    return SampledRequest(
        ts_ms=ts_ms,
        experiment_group=group,
        policy="default",
        score_space="log",
        slots=25,
        types=("video", "image"),
        scores=np.array([score, -2.0]),
    )


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, int, int]]) -> None:
    """``(value, timestamp ms, partition)`` each, flushed."""
    producer = Producer(kafka.producer_config(bootstrap))
    for value, ts, partition in records:
        producer.produce(topic, value, b"default", partition=partition, timestamp=ts)
    assert producer.flush(15) == 0


def source(bootstrap: str, topic: str, **kw: float) -> SamplesSource:
    return SamplesSource(bootstrap, topic, **{"timeout": 20.0, **kw})  # type: ignore[arg-type]


def test_reads_the_window_by_group_skipping_garbage(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("samples", 3)
    ms = START * 1000
    inside = [sample(ms + i * 1000, "control" if i % 3 else "video_heavy", -i) for i in range(30)]
    records: list[tuple[bytes, int, int]] = [
        (encode_sample(s), s.ts_ms, i % 3) for i, s in enumerate(inside)
    ]
    records += [
        (encode_sample(sample(ms - 1)), ms - 1, 0),  # just before the window
        (encode_sample(sample(END * 1000)), END * 1000, 1),  # at its end: the next window's
        (b"not json", ms + 5, 2),
        (b'{"ts": 1, "policy": "default"}', ms + 6, 0),  # JSON, not a sample
    ]
    produce(kafka_bootstrap, topic, records)
    got = source(kafka_bootstrap, topic)(START, END)
    assert got.skipped == 2
    assert sorted(got.by_group) == ["control", "video_heavy"]
    for group, samples in got.by_group.items():
        want = [s for s in inside if s.experiment_group == group]
        assert [s.ts_ms for s in samples] == [s.ts_ms for s in want]  # all, in time order
        assert [s.scores.tolist() for s in samples] == [s.scores.tolist() for s in want]


def test_a_record_after_the_window_and_grace_ends_a_partition_without_waiting(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("samples", 2)
    partitions = kafka.partitions_of(kafka_bootstrap, topic) or 0
    now = int(time.time())
    start, end = now - 60, now + 3600  # the wall clock is far from end + grace
    after = (end + 11) * 1000
    produce(
        kafka_bootstrap,
        topic,
        [(encode_sample(sample(start * 1000 + 5)), start * 1000 + 5, 0)]
        + [(encode_sample(sample(after)), after, p) for p in range(partitions)],
    )
    began = time.monotonic()
    got = source(kafka_bootstrap, topic, grace_seconds=10)(start, end)
    assert time.monotonic() - began < 10
    assert [s.ts_ms for s in got.by_group["control"]] == [start * 1000 + 5]


def test_waits_for_samples_arriving_within_the_grace(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("samples", 2)
    end = int(time.time()) + 1
    start = end - 60
    late = sample(end * 1000 - 1)

    def send_late() -> None:
        time.sleep(1.5)  # after the window's end, within its grace
        produce(kafka_bootstrap, topic, [(encode_sample(late), late.ts_ms, 1)])

    sender = threading.Thread(target=send_late)
    sender.start()
    got = source(kafka_bootstrap, topic, grace_seconds=3)(start, end)
    sender.join()
    assert [s.ts_ms for s in got.by_group["control"]] == [late.ts_ms]


def test_reservoir_caps_each_group_uniformly_and_reproducibly(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("samples", 2)
    ms = START * 1000
    many = [sample(ms + i, "control") for i in range(400)] + [sample(ms + 1, "small")]
    produce(
        kafka_bootstrap, topic, [(encode_sample(s), s.ts_ms, i % 2) for i, s in enumerate(many)]
    )
    read = source(kafka_bootstrap, topic, max_per_group=50)
    first, again = read(START, END), read(START, END)
    kept = [s.ts_ms - ms for s in first.by_group["control"]]
    assert len(kept) == 50 and len(first.by_group["small"]) == 1
    assert first.seen == {"control": 400, "small": 1}
    assert kept == sorted(set(kept))
    assert max(kept) > 300 and min(kept) < 100  # spread over the whole window, not a prefix
    assert kept == [s.ts_ms - ms for s in again.by_group["control"]]


def test_missing_topic_is_unavailable(kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    missing = topic_factory("samples", 1) + "-absent"
    with pytest.raises(SamplesUnavailableError, match="missing"):
        source(kafka_bootstrap, missing)(START, END)


def test_unreachable_broker_is_unavailable_within_the_deadline() -> None:
    began = time.monotonic()
    with pytest.raises(SamplesUnavailableError):
        source(f"127.0.0.1:{free_port()}", "homefeed.blend-samples", timeout=3)(START, END)
    assert time.monotonic() - began < 8
