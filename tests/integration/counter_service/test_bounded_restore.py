"""A month of history, then a fresh instance: its restore reads about a day's worth.

In-process on the real broker and real RocksDB, with an injected clock: a
writer's follower applies a month of hourly changelog records (4 source
partitions over 2 changelog partitions), sweeps the retention (one day here)
and takes a snapshot every 12 simulated hours, as the service does; a killed
snapshot writer leaves a snapshot without its footer, and one with a chunk
missing. A fresh instance restores with the service's own :func:`restore`.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from counter_service import changelog, snapshot, topics
from counter_service.restore import ChangelogFollower
from counter_service.restorer import Snapshotter, restore
from counter_service.snapshot import SnapshotStore
from counter_service.state import CounterState
from services import kafka
from services.local.tansu import TansuBroker

HOUR, DAY = 3600, 86_400
SOURCES, CPARTS = 4, 2
GROUPS, TYPES = ("control", "video_heavy", "default"), ("video", "image", "fresh", "product")
META = {"source": "s", "changelog": "c", "bucket_seconds": 60}
Key = tuple[str, int, str]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class History:
    """Produces what counter instances would have written: one record per source
    partition per hour, each covering the next source offsets, and tracks the counts."""

    def __init__(self, producer: Producer, topic: str, seed: int) -> None:
        self.producer, self.topic, self.rng = producer, topic, random.Random(seed)
        self.next = dict.fromkeys(range(SOURCES), 0)
        self.expected: Counter[Key] = Counter()
        self.records = 0

    def hour(self, start: int) -> None:
        for p in range(SOURCES):
            counts = {
                (g, start + 60 * self.rng.randrange(60), t): self.rng.randint(1, 50)
                for g in GROUPS
                for t in TYPES
            }
            n = sum(counts.values())
            record = changelog.data_record(
                p, self.next[p], self.next[p] + n, "history/1", 1, counts,
                counted=n, rejected=0, max_ts=(start + 3599) * 1000,
            )  # fmt: skip
            self.next[p] += n
            self.expected.update(counts)
            self.producer.produce(
                self.topic,
                changelog.encode(record),
                changelog.record_key(p),
                partition=changelog.changelog_partition(p, CPARTS),
            )
            self.records += 1
        self.producer.poll(0)


def follower(
    bootstrap: str, state: CounterState, topic: str, name: str, clock: Clock
) -> ChangelogFollower:
    config = kafka.consumer_config(bootstrap, f"restore-{name}", {"auto.offset.reset": "error"})
    return ChangelogFollower(
        state,
        kafka.make_consumer(config),
        kafka.make_producer(kafka.producer_config(bootstrap)),
        topic,
        CPARTS,
        name,
        retention_seconds=DAY,
        bucket_seconds=60,
        clock=clock,
    )


def live(state: CounterState, cutoff: int) -> Counter[Key]:
    found: Counter[Key] = Counter()
    for group, rows in state.counts(state.groups(), cutoff, 2**40).items():
        for bucket, kind, n in rows:
            if n:
                found[(group, bucket, kind)] = n
    return found


@pytest.fixture
def topics_pair(kafka_broker: TansuBroker) -> tuple[str, str]:
    name = f"t{uuid.uuid4().hex[:10]}.changelog"
    kafka.ensure_topics(kafka_broker.bootstrap, topics.specs(name, f"{name}.snapshots", CPARTS, 1))
    return name, f"{name}.snapshots"


@pytest.fixture
def closing() -> Iterator[list[ChangelogFollower]]:
    made: list[ChangelogFollower] = []
    yield made
    for f in made:
        f.stop()
        f.state.close()


@pytest.mark.slow
def test_a_month_of_history_restores_from_a_days_worth(
    kafka_broker: TansuBroker,
    topics_pair: tuple[str, str],
    tmp_path: Path,
    closing: list[ChangelogFollower],
) -> None:
    bootstrap, (log_topic, snap_topic) = kafka_broker.bootstrap, topics_pair
    admin = AdminClient({"bootstrap.servers": bootstrap})
    info = topics.describe(admin, log_topic)
    start = 1_790_000_000 // DAY * DAY
    clock = Clock(float(start))
    writer = follower(bootstrap, CounterState.open(tmp_path / "a", META), log_topic, "a", clock)
    closing.append(writer)
    writer.start()
    store = SnapshotStore(bootstrap, snap_topic, writer.producer, "a", clock=clock)
    snapshotter = Snapshotter(
        lambda: writer.state, store, admin, info, retention_seconds=DAY, bucket_seconds=60,
        clock=clock,
    )  # fmt: skip
    history = History(writer.producer, log_topic, seed=13)
    for block in range(60):  # 30 days, a snapshot every 12 hours
        for h in range(12):
            history.hour(start + (block * 12 + h) * HOUR)
        clock.now = start + (block + 1) * 12 * HOUR
        assert writer.fence(set(range(CPARTS))).wait(30)
        writer.sweep()
        snapshotter.take()
    for h in range(6):  # six more hours that only the changelog holds
        history.hour(start + (720 + h) * HOUR)
    clock.now = start + 726 * HOUR
    assert writer.fence(set(range(CPARTS))).wait(30)
    writer.sweep()
    # A writer killed mid-snapshot: chunks without a footer, and a footer with a chunk missing.
    broken = writer.state.contents(0)
    orphan = snapshot.Chunk(snapshot.CHUNK, "killed", 0, list(broken.counts))
    store._produce(orphan, [])
    half = snapshot.Footer(
        snapshot.FOOTER, "half", store.end() + 1, 2, info.topic_id, CPARTS,
        {c: 0 for c in range(CPARTS)}, [], 0, 0, [], 0, "a",
    )  # fmt: skip
    store._produce(snapshot.Chunk(snapshot.CHUNK, "half", 1, []), [])
    store._produce(half, [])
    store._flush([0], 0)

    fresh = follower(bootstrap, CounterState.open(tmp_path / "b", META), log_topic, "b", clock)
    closing.append(fresh)

    def no_rebuild(reason: str) -> CounterState:
        raise AssertionError(f"unexpected rebuild: {reason}")

    report = restore(
        fresh,
        SnapshotStore(bootstrap, snap_topic, fresh.producer, "b", clock=clock),
        info.topic_id,
        no_rebuild,
        timeout=120,
    )
    fresh.sweep()
    cutoff = int(clock.now) - DAY
    expected = Counter({k: n for k, n in history.expected.items() if k[1] >= cutoff})
    assert live(fresh.state, 0) == live(writer.state, 0) == expected
    assert fresh.state.counted == writer.state.counted == sum(history.expected.values())
    assert {p: fresh.state.next_offset(p) for p in range(SOURCES)} == history.next
    assert report.from_snapshot
    per_day = 24 * SOURCES
    print(f"changelog records: {history.records}, restore read {report.records_read}")
    # A day's worth: the snapshot (a search window, its chunk) plus the six hours since
    # and the fences; a replay would read the whole month.
    assert report.records_read <= per_day + 100 < history.records // 10
