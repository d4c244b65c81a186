"""The counter's internal topics: created when missing, checked (never assumed) at start.

The changelog and the snapshot topic must keep every record until the counter
itself deletes it (DeleteRecords after a newer snapshot, where the broker
supports it), and must keep their partition count for ever:

- ``cleanup.policy`` must be ``delete``: compaction keeps only the newest
  record per key, and every record of one source partition has the same key.
- ``retention.ms`` and ``retention.bytes`` must be ``-1``: time or size
  retention would, after a long enough outage, delete records written after
  the last snapshot, and then no state can be rebuilt exactly.
- the changelog's partition count must be the one the local state (and the
  newest snapshot) was built on: a source partition's records go to
  ``p % count``, so a new count splits one partition's order over two logs.
- the snapshot topic has one partition (one order for chunks and footers).

What Tansu (the local broker, 0.6.0) does, found with a probe (see the
README): it stores and reports ``retention.ms`` and ``cleanup.policy`` but
enforces neither (records with ``retention.ms=2000`` or ``compact`` are all
still there later); DescribeConfigs lists only the keys set explicitly (an
absent key is taken as the broker default, which for Kafka means checking
the topic created by hand; ours are created with every key set); DeleteRecords
and CreatePartitions are unsupported (the connection is closed, or an
"unsupported" error); ``offsets_for_times`` answers 0 for any time; ListOffsets
reports a high mark below the data; produce acknowledgements carry the true
offset; DescribeTopics gives a topic id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from confluent_kafka import KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]

from services import kafka
from services.errors import CDError, UpstreamError

KEEP_EVERYTHING: Final = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}


# Tansu closes the connection on DeleteRecords; other brokers may say "unsupported".
_UNSUPPORTED: Final = {
    KafkaError._TRANSPORT,
    KafkaError.UNSUPPORTED_VERSION,
    KafkaError._UNSUPPORTED_FEATURE,
}


class TopicMismatchError(CDError):
    """An internal topic is not what exact counting needs; the message names the setting."""


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    topic_id: str


def specs(
    changelog: str, snapshots: str, partitions: int, replication: int
) -> list[kafka.TopicSpec]:
    return [
        kafka.TopicSpec(changelog, partitions, replication, KEEP_EVERYTHING),
        kafka.TopicSpec(snapshots, 1, replication, KEEP_EVERYTHING),
    ]


def describe(admin: AdminClient, topic: str, timeout: float = 10.0) -> TopicInfo:
    """Partition count and topic id (the id tells a recreated topic from the old one)."""
    try:
        futures = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)
        found = futures[topic].result(timeout)
    except KafkaException as exc:
        raise UpstreamError(f"kafka: describing {topic} failed: {kafka.describe(exc)}") from exc
    return TopicInfo(topic, len(found.partitions), str(found.topic_id))


def configs(admin: AdminClient, topic: str, timeout: float = 10.0) -> dict[str, str | None]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result(
            timeout
        )
    except KafkaException as exc:
        raise UpstreamError(
            f"kafka: reading the settings of {topic} failed: {kafka.describe(exc)}"
        ) from exc
    return {name: entry.value for name, entry in entries.items()}


def check_configs(topic: str, found: dict[str, str | None]) -> None:
    """Refuse, naming the setting, unless the topic keeps every record."""
    for key, wanted in KEEP_EVERYTHING.items():
        value = found.get(key)
        if value is None:
            continue  # not reported: the broker's default (Tansu reports only explicit keys)
        if key == "cleanup.policy" and set(value.split(",")) != {"delete"}:
            raise TopicMismatchError(
                f"topic {topic} has cleanup.policy={value}; the counter needs cleanup.policy="
                "delete (compaction would drop changelog records: they share a key per partition)"
            )
        if key != "cleanup.policy" and value != wanted:
            raise TopicMismatchError(
                f"topic {topic} has {key}={value}; the counter needs {key}=-1 (it deletes what "
                "a newer snapshot covers itself; retention could delete records no snapshot covers)"
            )


def check_partitions(topic: str, actual: int, expected: int | None, source: str) -> None:
    if expected is not None and actual != expected:
        raise TopicMismatchError(
            f"topic {topic} has {actual} partitions but {source} was built on {expected}: the "
            "partition count of the changelog must never change (set it back, or delete the "
            "changelog, its snapshot topic and every counter's data folder to start over)"
        )


def delete_below(
    admin: AdminClient, topic: str, offsets: dict[int, int], timeout: float = 30.0
) -> bool:
    """DeleteRecords below ``offsets``; False if the broker cannot (Tansu); raise otherwise."""
    wanted = [TopicPartition(topic, p, o) for p, o in offsets.items() if o > 0]
    if not wanted:
        return True
    try:
        for future in admin.delete_records(wanted, request_timeout=timeout).values():
            future.result(timeout)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        code = error.code() if isinstance(error, KafkaError) else None
        if code in _UNSUPPORTED:
            return False
        raise UpstreamError(
            f"kafka: deleting records of {topic} failed: {kafka.describe(exc)}"
        ) from exc
    return True
