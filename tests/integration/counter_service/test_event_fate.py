"""An event's fate does not depend on who handled it, or when (issue 13).

Two attempts at the same real Kafka record (a retry, a restart, a zombie) run
the processor's own path with clocks far apart: both reach the same verdict.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from counter_service import changelog
from counter_service.events import Validator
from counter_service.processor import Ownership, Processor, Topics
from counter_service.restore import ChangelogFollower
from counter_service.state import CounterState
from services import kafka
from tests.conftest import TopicFactory
from tests.integration.counter_service.harness import read_topic

HOUR_MS = 3_600_000
MINUTE_MS = 60_000


@pytest.mark.parametrize(
    ("ts_offset_ms", "handler_offsets_ms"),
    [
        # 1.5 h older than its record (retention 2 h), handled 1 s and 1 h after it.
        (-90 * MINUTE_MS, (1_000, HOUR_MS)),
        # 9 min ahead of its record (limit 10), handled by clocks 2 min apart.
        (9 * MINUTE_MS, (0, -2 * MINUTE_MS)),
    ],
    ids=["old", "ahead"],
)
def test_two_attempts_at_one_record_reach_the_same_verdict(
    tmp_path: Path,
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    ts_offset_ms: int,
    handler_offsets_ms: tuple[int, int],
) -> None:
    source, dlq, log = (topic_factory(name, 1) for name in ("impressions", "dlq", "changelog"))
    record_ms = int(time.time() * 1000) - 10 * MINUTE_MS
    event = {"ts": record_ms + ts_offset_ms, "content_type": "video"}
    sender = Producer({"bootstrap.servers": kafka_bootstrap})
    sender.produce(source, orjson.dumps(event), partition=0, timestamp=record_ms)
    assert sender.flush(30) == 0
    (message,) = read_topic(kafka_bootstrap, source)
    assert message.timestamp()[1] == record_ms

    state = CounterState.open(tmp_path / "db", {"source": source})
    follower_consumer = kafka.make_consumer(kafka.consumer_config(kafka_bootstrap, "fate-f"))
    consumer = kafka.make_consumer(kafka.consumer_config(kafka_bootstrap, "fate"))
    producer = kafka.make_producer(kafka.producer_config(kafka_bootstrap))
    follower = ChangelogFollower(
        state, follower_consumer, producer, log, 1, "w", retention_seconds=7200, bucket_seconds=60
    )
    processor = Processor(
        consumer,
        producer,
        follower,
        Validator(60, 2 * HOUR_MS),
        Topics(source, dlq, log, 1),
        "w",
        10,
    )
    try:
        for offset in handler_offsets_ms:
            processor.owned[0] = Ownership(position=0, generation=1)  # the same range again
            processor._process(0, [message], (record_ms + offset) / 1000)
        assert producer.flush(30) == 0
    finally:
        consumer.close()
        follower_consumer.close()
        state.close()
    records = [changelog.decode(m.value()) for m in read_topic(kafka_bootstrap, log)]
    assert [(r.from_offset, r.to_offset, r.counted, r.rejected) for r in records] == [
        (0, 1, 1, 0),
        (0, 1, 1, 0),
    ]
    assert read_topic(kafka_bootstrap, dlq, partitions=4) == []
