"""Snapshots of the materialised counts, so that a restore reads a bounded amount.

A snapshot is a run of records in the single-partition snapshot topic
(``<changelog>.snapshots``): ``chunks`` count records, then one *footer*. The
footer carries everything but the counts: the changelog positions the state
reflects (next offset per changelog partition), the per-source-partition
figures (next source offset, max ts, idle ms), the totals, the known groups,
the changelog's topic id and partition count. It is produced only after every
chunk was acknowledged, so a snapshot without its footer (a writer killed
mid-snapshot) is never used; a footer whose chunks are not all found between
its first chunk and itself is ignored too (see :func:`assemble`).

Why loading one is exact: a snapshot is read from one RocksDB snapshot, and
the follower writes each applied batch (counts, source offsets and changelog
positions) in one write batch, so it is the state after an exact prefix of
the changelog. Every instance applies the same records in the same order
(changelog.py), so the snapshot equals what replaying that prefix gives;
following the changelog from the footer's positions continues the induction.
Counts older than the retention are left out (they are dropped anyway).

Finding the newest snapshot without trusting the broker's marks: the reader
produces a small *probe* record and takes its acknowledged offset as the end
of the topic (Tansu reports a high watermark below the data and answers
``offsets_for_times`` with 0 for any time), then reads backwards from there in
growing windows until it meets a footer. The snapshots of a deployment live
as long as its changelog; a footer names the changelog's topic id, so a
snapshot of a deleted and recreated changelog is never applied to the new one.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

import msgspec
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from services import kafka
from services.errors import InvalidInputError, UpstreamError

log = logging.getLogger(__name__)

CHUNK: Final = 10
FOOTER: Final = 11
PROBE: Final = 12
CHUNK_ENTRIES: Final = 8_000  # ~250 kB per chunk: below every broker's default message limit
SNAPSHOT_FORMAT: Final = 1

Count = tuple[str, int, str, int]  # (group, bucket_s, type, count)
PartitionFigures = tuple[int, int, int, int]  # (source partition, next offset, max ts, idle ms)


class Chunk(msgspec.Struct, array_like=True, frozen=True):
    kind: int
    snapshot: str
    index: int
    counts: list[Count]


class Footer(msgspec.Struct, array_like=True, frozen=True):
    kind: int
    snapshot: str
    first_offset: int  # offset of chunk 0 in the snapshot topic
    chunks: int
    changelog_id: str  # topic id of the changelog the positions refer to
    changelog_partitions: int
    positions: dict[int, int]  # changelog partition -> next offset the state needs
    partitions: list[PartitionFigures]
    counted: int
    rejected: int
    groups: list[str]
    taken_ms: int
    writer: str
    format: int = SNAPSHOT_FORMAT


class Probe(msgspec.Struct, array_like=True, frozen=True):
    kind: int
    writer: str


_encoder = msgspec.msgpack.Encoder()


class _Kinded(msgspec.Struct, array_like=True):
    kind: int


_kind = msgspec.msgpack.Decoder(_Kinded)
_TYPES: dict[int, type[Chunk] | type[Footer] | type[Probe]] = {
    CHUNK: Chunk,
    FOOTER: Footer,
    PROBE: Probe,
}


def decode(raw: bytes | None) -> Chunk | Footer | Probe:
    """One snapshot-topic record; anything foreign is an :class:`InvalidInputError`."""
    try:
        kind = _kind.decode(raw or b"").kind
        target = _TYPES[kind]
        return msgspec.msgpack.decode(raw or b"", type=target)
    except (msgspec.DecodeError, KeyError) as exc:
        raise InvalidInputError("snapshot", f"undecodable record: {exc}") from exc


@dataclass
class Snapshot:
    """A complete snapshot: its footer and every count it holds."""

    footer: Footer
    footer_offset: int
    counts: list[Count]
    records: int  # snapshot-topic records read to find and load it


@dataclass
class Contents:
    """What a writer puts in a snapshot (read from one RocksDB snapshot)."""

    positions: dict[int, int]
    partitions: list[PartitionFigures]
    counted: int
    rejected: int
    groups: list[str]
    counts: Iterator[Count] = field(default_factory=lambda: iter(()))


def assemble(footer: Footer, footer_offset: int, chunks: dict[int, Chunk]) -> list[Count] | None:
    """The counts of ``footer``'s snapshot, or None when a chunk is missing."""
    if set(chunks) != set(range(footer.chunks)):
        return None
    return [count for index in range(footer.chunks) for count in chunks[index].counts]


class SnapshotStore:
    """Writes snapshots and finds the newest complete one, in one snapshot topic."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        producer: Producer,
        writer: str,
        *,
        clock: Callable[[], float] = time.time,
        make_consumer: Callable[[], Consumer] | None = None,
    ) -> None:
        self.topic = topic
        self.producer = producer
        self.writer = writer
        self.clock = clock
        self._make_consumer = make_consumer or (
            lambda: kafka.make_consumer(
                kafka.consumer_config(
                    bootstrap,
                    f"snapshot-reader-{uuid.uuid4().hex[:8]}",
                    {"auto.offset.reset": "error"},
                )
            )
        )

    # -- writing --------------------------------------------------------------------
    def write(
        self, contents: Contents, changelog_id: str, changelog_partitions: int
    ) -> tuple[Footer, int]:
        """The chunks, then (all acknowledged) the footer; returns the footer and its offset."""
        snapshot_id = uuid.uuid4().hex
        offsets: list[int] = []
        index = 0
        batch: list[Count] = []
        for count in contents.counts:
            batch.append(count)
            if len(batch) >= CHUNK_ENTRIES:
                self._produce(Chunk(CHUNK, snapshot_id, index, batch), offsets)
                index, batch = index + 1, []
        if batch or index == 0:
            self._produce(Chunk(CHUNK, snapshot_id, index, batch), offsets)
            index += 1
        self._flush(offsets, index)
        footer = Footer(
            FOOTER,
            snapshot_id,
            min(offsets),
            index,
            changelog_id,
            changelog_partitions,
            contents.positions,
            contents.partitions,
            contents.counted,
            contents.rejected,
            contents.groups,
            int(self.clock() * 1000),
            self.writer,
        )
        done: list[int] = []
        self._produce(footer, done)
        self._flush(done, 1)
        return footer, done[0]

    def _produce(self, record: Chunk | Footer | Probe, offsets: list[int]) -> None:
        failures: list[str] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failures.append(err.str())
            else:
                offsets.append(msg.offset() or 0)

        payload = _encoder.encode(record)
        while True:
            try:
                with kafka.translated(f"producing to {self.topic}"):
                    self.producer.produce(self.topic, payload, partition=0, on_delivery=delivered)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)
        if failures:
            raise UpstreamError(f"kafka: snapshot record not delivered: {failures[0]}")

    def _flush(self, offsets: list[int], expected: int, timeout: float = 60.0) -> None:
        with kafka.translated(f"flushing {self.topic}"):
            remaining = self.producer.flush(timeout)
        if remaining or len(offsets) < expected:
            raise UpstreamError(
                f"kafka: {expected - len(offsets)} records to {self.topic} not acknowledged"
            )

    # -- finding --------------------------------------------------------------------
    def end(self) -> int:
        """The topic's end, as the offset of a probe we produce (never the broker's mark)."""
        offsets: list[int] = []
        self._produce(Probe(PROBE, self.writer), offsets)
        self._flush(offsets, 1)
        return offsets[0]

    def latest(self, changelog_id: str) -> Snapshot | None:
        """The newest complete snapshot of the changelog ``changelog_id``, or None."""
        end = self.end()
        consumer = self._make_consumer()
        try:
            return self._search(consumer, end, changelog_id)
        finally:
            consumer.close()

    def _search(self, consumer: Consumer, end: int, changelog_id: str) -> Snapshot | None:
        read = 0
        low, _ = kafka.watermarks(consumer, self.topic, 0)  # exact where it matters (Kafka)
        stop, window = end, 64
        while stop > low:
            start = max(low, stop - window)
            records = read_range(consumer, self.topic, start, stop)
            read += stop - start
            for offset, record in reversed(records):
                if not isinstance(record, Footer) or record.changelog_id != changelog_id:
                    continue
                if record.format != SNAPSHOT_FORMAT:
                    continue
                chunks = {
                    r.index: r
                    for _, r in read_range(consumer, self.topic, record.first_offset, offset)
                    if isinstance(r, Chunk) and r.snapshot == record.snapshot
                }
                read += offset - record.first_offset
                counts = assemble(record, offset, chunks)
                if counts is not None:
                    return Snapshot(record, offset, counts, read)
                log.warning(
                    "snapshot %s at %s/0@%s is incomplete: skipped",
                    record.snapshot,
                    self.topic,
                    offset,
                )
            stop, window = start, window * 4
        return None


def read_range(
    consumer: Consumer, topic: str, start: int, stop: int, timeout: float = 30.0
) -> list[tuple[int, Chunk | Footer | Probe]]:
    """Records at offsets ``[start, stop)`` of partition 0 (``stop`` is known to exist)."""
    found: list[tuple[int, Chunk | Footer | Probe]] = []
    if start >= stop:
        return found
    with kafka.translated(f"assigning {topic}"):
        consumer.assign([TopicPartition(topic, 0, start)])
    deadline = time.monotonic() + timeout
    last = start - 1
    while last < stop - 1:
        if time.monotonic() > deadline:
            raise UpstreamError(f"kafka: reading {topic} [{start}, {stop}) took over {timeout}s")
        for msg in consumer.consume(1000, 0.2):
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise UpstreamError(f"kafka: reading {topic} failed: {error.str()}")
            offset = msg.offset() or 0
            last = max(last, offset)
            if offset >= stop:
                continue
            try:
                found.append((offset, decode(msg.value())))
            except InvalidInputError as exc:
                log.error("%s/0@%s: skipping: %s", topic, offset, exc)
    consumer.unassign()
    return found
