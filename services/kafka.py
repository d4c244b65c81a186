"""Thin confluent-kafka helpers: client configs, topic creation, error translation.

Every service builds its clients here so the settings that matter for
correctness (idempotent producer, no auto-commit, earliest reset) are set in
one place, and librdkafka's ``KafkaException`` becomes a
:class:`services.errors.UpstreamError` at our boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from services.errors import UpstreamError

log = logging.getLogger(__name__)

# librdkafka waits fetch.queue.backoff.ms (default 1000) before fetching again
# once its queue is "full enough"; that caps one consumer at ~135k events/s.
# Tansu holds a fetch for fetch.wait.max.ms (default 500) even when data is
# there; 50 ms roughly doubles a consumer's rate on it.
FAST_FETCH: Mapping[str, Any] = {"fetch.queue.backoff.ms": 10, "fetch.wait.max.ms": 50}


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise librdkafka errors as :class:`UpstreamError` naming ``what`` failed."""
    try:
        yield
    except KafkaException as exc:
        raise UpstreamError(f"kafka: {what} failed: {describe(exc)}") from exc


def describe(exc: KafkaException) -> str:
    err = exc.args[0] if exc.args else None
    if isinstance(err, KafkaError):
        return f"{err.name()}: {err.str()}"
    return repr(exc)


def consumer_config(
    bootstrap: str, group_id: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A consumer that commits only what the caller says was processed."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        **FAST_FETCH,
        **(extra or {}),
    }


def producer_config(bootstrap: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Idempotent: a retried send never duplicates or reorders within a partition."""
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        **(extra or {}),
    }


def make_consumer(config: Mapping[str, Any]) -> Consumer:
    with translated("creating a consumer"):
        return Consumer(dict(config))


def make_producer(config: Mapping[str, Any]) -> Producer:
    with translated("creating a producer"):
        return Producer(dict(config))


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int = 1
    config: Mapping[str, str] | None = None


def topic_partitions(admin: AdminClient, topic: str, timeout: float = 10.0) -> int | None:
    """How many partitions ``topic`` has, or None when it does not exist.

    Asks for every topic, not for ``topic`` by name: a request naming a missing topic
    lets the broker create it with its defaults (Tansu does: 4 partitions, no settings),
    which would leave ``ensure_topics`` nothing to create."""
    with translated(f"reading metadata of {topic}"):
        meta = admin.list_topics(timeout=timeout)
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        return None
    return len(info.partitions)


def partitions_of(bootstrap: str, topic: str, timeout: float = 10.0) -> int | None:
    return topic_partitions(AdminClient({"bootstrap.servers": bootstrap}), topic, timeout)


def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout: float = 15.0) -> None:
    """Create the topics that are missing; an existing topic is left as it is."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    missing = [s for s in specs if topic_partitions(admin, s.name, timeout) is None]
    if not missing:
        return
    new = [
        NewTopic(s.name, s.partitions, s.replication, config=dict(s.config or {})) for s in missing
    ]
    with translated("creating topics"):
        futures = admin.create_topics(new, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result(timeout)
            log.info("created topic %s", name)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # another instance won the race: fine
            raise UpstreamError(f"kafka: creating topic {name} failed: {describe(exc)}") from exc


def watermarks(
    consumer: Consumer, topic: str, partition: int, timeout: float = 5.0
) -> tuple[int, int]:
    """(low, high) offsets as the broker reports them (Tansu's high mark may trail)."""
    with translated(f"reading watermarks of {topic}/{partition}"):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout, cached=False
        )
    return int(low), int(high)
