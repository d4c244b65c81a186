"""Simulated counter history on the real broker and RocksDB, with an injected clock.

Shared by ``test_bounded_restore.py`` and ``bench/restore.py``: what counter
instances would have written to the changelog over days or months (one record
per source partition per simulated hour), applied by a writer's follower that
sweeps the retention and takes a snapshot every ``snapshot_hours``, as the
service does.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from counter_service import changelog, topics
from counter_service.restore import ChangelogFollower
from counter_service.restorer import RestoreReport, Snapshotter, restore
from counter_service.snapshot import SnapshotStore
from counter_service.state import CounterState
from services import kafka

HOUR = 3600
GROUPS, TYPES = ("control", "video_heavy", "default"), ("video", "image", "fresh", "product")
Key = tuple[str, int, str]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Shape:
    sources: int = 4  # source partitions
    cparts: int = 2  # changelog partitions
    bucket_seconds: int = 60
    buckets_per_record: int = 1  # distinct buckets one hourly record touches
    retention_seconds: int = 86_400
    snapshot_hours: int = 12

    @property
    def meta(self) -> dict[str, object]:
        return {"source": "s", "changelog": "c", "bucket_seconds": self.bucket_seconds}


class History:
    """Produces one record per source partition per hour and tracks the true counts."""

    def __init__(self, producer: Producer, topic: str, shape: Shape, seed: int) -> None:
        self.producer, self.topic, self.shape = producer, topic, shape
        self.rng = random.Random(seed)
        self.next = dict.fromkeys(range(shape.sources), 0)
        self.expected: Counter[Key] = Counter()
        self.records = 0

    def hour(self, start: int) -> None:
        s = self.shape
        slots = HOUR // s.bucket_seconds
        for p in range(s.sources):
            picks = self.rng.sample(range(slots), min(s.buckets_per_record, slots))
            counts = {
                (g, start + s.bucket_seconds * slot, t): self.rng.randint(1, 50)
                for slot in picks
                for g in GROUPS
                for t in TYPES
            }
            n = sum(counts.values())
            record = changelog.data_record(
                p, self.next[p], self.next[p] + n, "history/1", 1, counts,
                counted=n, rejected=0, max_ts=(start + HOUR - 1) * 1000,
            )  # fmt: skip
            self.next[p] += n
            self.expected.update(counts)
            while True:
                try:
                    self.producer.produce(
                        self.topic,
                        changelog.encode(record),
                        changelog.record_key(p),
                        partition=changelog.changelog_partition(p, s.cparts),
                    )
                    break
                except BufferError:
                    self.producer.poll(0.05)
            self.records += 1
        self.producer.poll(0)

    def live(self, cutoff: int) -> Counter[Key]:
        return Counter({k: n for k, n in self.expected.items() if k[1] >= cutoff})


def follower(
    bootstrap: str, state: CounterState, topic: str, name: str, clock: Clock, shape: Shape
) -> ChangelogFollower:
    config = kafka.consumer_config(bootstrap, f"restore-{name}", {"auto.offset.reset": "error"})
    return ChangelogFollower(
        state,
        kafka.make_consumer(config),
        kafka.make_producer(kafka.producer_config(bootstrap)),
        topic,
        shape.cparts,
        name,
        retention_seconds=shape.retention_seconds,
        bucket_seconds=shape.bucket_seconds,
        clock=clock,
    )


def make_topics(bootstrap: str, name: str, shape: Shape) -> tuple[str, str]:
    kafka.ensure_topics(bootstrap, topics.specs(name, f"{name}.snapshots", shape.cparts, 1))
    return name, f"{name}.snapshots"


@dataclass
class Simulation:
    writer: ChangelogFollower
    history: History
    store: SnapshotStore
    changelog: topics.TopicInfo
    clock: Clock


def simulate(
    bootstrap: str, log_topic: str, snap_topic: str, folder: Path, hours: int, shape: Shape,
    *, start: int, tail_hours: int = 6, seed: int = 13,
) -> Simulation:  # fmt: skip
    """``hours`` of history with a snapshot every ``shape.snapshot_hours``, then
    ``tail_hours`` that only the changelog holds; the writer has applied all of it."""
    clock = Clock(float(start))
    info = topics.describe(AdminClient({"bootstrap.servers": bootstrap}), log_topic)
    writer = follower(
        bootstrap, CounterState.open(folder, shape.meta), log_topic, "w", clock, shape
    )
    writer.start()
    store = SnapshotStore(bootstrap, snap_topic, writer.producer, "w", clock=clock)
    snapshotter = Snapshotter(
        lambda: writer.state,
        store,
        AdminClient({"bootstrap.servers": bootstrap}),
        info,
        retention_seconds=shape.retention_seconds,
        bucket_seconds=shape.bucket_seconds,
        clock=clock,
    )
    history = History(writer.producer, log_topic, shape, seed)
    block = shape.snapshot_hours
    for first in range(0, hours, block):
        for h in range(first, min(first + block, hours)):
            history.hour(start + h * HOUR)
        clock.now = start + min(first + block, hours) * HOUR
        settle(writer)
        snapshotter.take()
    for h in range(hours, hours + tail_hours):
        history.hour(start + h * HOUR)
    clock.now = start + (hours + tail_hours) * HOUR
    settle(writer)
    return Simulation(writer, history, store, info, clock)


def settle(writer: ChangelogFollower) -> None:
    """Wait until the writer has applied everything produced so far, then sweep."""
    writer.producer.flush(60)
    assert writer.fence(set(range(writer.partitions))).wait(60), "changelog not read back"
    writer.sweep()


def restore_fresh(
    bootstrap: str, sim: Simulation, snap_topic: str, folder: Path, shape: Shape, name: str,
    *, snapshots: bool = True,
) -> tuple[ChangelogFollower, RestoreReport]:  # fmt: skip
    """A fresh instance's restore, as the service does it (``snapshots=False``: a
    snapshot topic of its own, empty, i.e. a full replay, for comparison)."""
    fresh = follower(
        bootstrap, CounterState.open(folder, shape.meta), sim.writer.topic, name, sim.clock, shape
    )
    topic = snap_topic if snapshots else make_topics(bootstrap, f"{snap_topic}.{name}", shape)[1]

    def no_rebuild(reason: str) -> CounterState:
        raise AssertionError(f"unexpected rebuild: {reason}")

    store = SnapshotStore(bootstrap, topic, fresh.producer, name, clock=sim.clock)
    report = restore(fresh, store, sim.changelog.topic_id, no_rebuild, timeout=600)
    fresh.sweep()
    return fresh, report


def live(state: CounterState, cutoff: int = 0) -> Counter[Key]:
    found: Counter[Key] = Counter()
    for group, rows in state.counts(state.groups(), cutoff, 2**40).items():
        for bucket, kind, n in rows:
            if n:
                found[(group, bucket, kind)] = n
    return found
