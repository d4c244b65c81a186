"""The consume loop: source batch -> dead letters -> one changelog record per partition.

The loop never writes counts itself; it only publishes what a range of source
offsets adds (changelog.py explains why that is exact). Ownership of a
partition starts with a fence: the instance waits until it has read the
changelog through its own fence, then starts at the *materialised* next offset,
not at the group's committed offset (those commits are only for monitoring).
When the follower reports one of our records skipped (a zombie or the previous
owner got there first), the partition is fenced and re-seeked the same way.

Dead letters of a range are acknowledged before the changelog record that
covers the range is produced, so a crash can duplicate a dead letter
(recognisable by ``cd-source``) but never lose one. The record waits in an
:class:`~counter_service.outbox.Outbox` meanwhile, while the loop goes on with
the next batches.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from counter_service import changelog
from counter_service.changelog import Record
from counter_service.events import Rejection, Validator, record_time
from counter_service.fetch_evidence import FetchEvidence
from counter_service.outbox import Headers, Letter, Outbox
from counter_service.restore import ChangelogFollower
from services import kafka
from services.errors import UpstreamError
from services.retry import Retry

log = logging.getLogger(__name__)

FENCE_TIMEOUT = 30.0
# Each heartbeat is a changelog record every restore replays: few, but enough for
# complete_through to follow an idle partition within seconds.
HEARTBEAT_SECONDS = 5.0
COMMIT_SECONDS = 1.0
# Rejections logged one by one per batch; the rest of the batch's go in one line.
LOGGED_PER_BATCH = 3


@dataclass
class Topics:
    source: str
    dlq: str
    changelog: str
    changelog_partitions: int
    # The dead letters of source partition p go to partition p mod this (0: by key),
    # so a batch's letters make one message set and keep the source's order.
    dlq_partitions: int = 0


@dataclass
class Ownership:
    """What this instance believes about one owned source partition."""

    position: int  # next source offset the next record will start at
    generation: int
    idle_ms: int = -1  # when last seen fully read (position at the fetch's high mark)
    last_heartbeat: float = 0.0
    taken_ms: int = 0  # when this instance (re)took it: older fetch answers say nothing


@dataclass
class Processor:
    consumer: Consumer
    producer: Producer
    follower: ChangelogFollower
    validator: Validator
    topics: Topics
    writer: str
    batch_size: int
    clock: Callable[[], float] = time.time
    retry: Retry = field(default_factory=lambda: Retry(attempts=8, deadline=60.0))
    owned: dict[int, Ownership] = field(default_factory=dict)
    generations: dict[int, int] = field(default_factory=dict)
    assigned: bool = False  # a first assignment (possibly empty) arrived: readiness
    stopping: threading.Event = field(default_factory=threading.Event)
    _resync: queue.SimpleQueue[tuple[int, int]] = field(default_factory=queue.SimpleQueue)
    _last_commit: float = 0.0
    # Fed by the consumer's stats_cb; None: no evidence, so no idle claims.
    evidence: FetchEvidence | None = None
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.follower.on_skipped_own = self._skipped
        self.outbox = Outbox(self.producer, self.topics.dlq, self._produce_record, self.retry)

    def subscribe(self) -> None:
        with kafka.translated(f"subscribing to {self.topics.source}"):
            self.consumer.subscribe(
                [self.topics.source],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )

    def _skipped(self, record: Record) -> None:
        # Runs on the follower thread: hand over, never touch the consumer here.
        self._resync.put((record.partition, record.generation))

    def _cpart(self, partition: int) -> int:
        return changelog.changelog_partition(partition, self.topics.changelog_partitions)

    def _wait_fence(self, partitions: list[int]) -> None:
        """Block until the changelog is read through fresh fences for ``partitions``."""
        while True:
            waiter = self.follower.fence({self._cpart(p) for p in partitions})
            with kafka.translated("flushing fences"):
                self.producer.flush(FENCE_TIMEOUT)
            if waiter.wait(FENCE_TIMEOUT):
                return
            if self.follower.failure is not None:
                raise UpstreamError("changelog follower failed") from self.follower.failure
            if self.stopping.is_set():
                raise UpstreamError("stopping while waiting for a changelog fence")
            log.warning(
                "fence for partitions %s not read back in %ss; retrying", partitions, FENCE_TIMEOUT
            )

    def _take(self, partitions: list[int]) -> list[TopicPartition]:
        self.outbox.drain()  # our held records go before the fence
        self._wait_fence(partitions)
        assignment = []
        for p in partitions:
            generation = self.generations.get(p, 0) + 1
            self.generations[p] = generation
            position = self.follower.state.next_offset(p)
            self.owned[p] = Ownership(position, generation, taken_ms=int(self.clock() * 1000))
            assignment.append(TopicPartition(self.topics.source, p, position))
        return assignment

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        numbers = sorted(tp.partition for tp in partitions)
        log.info(
            "assigned %s partitions %s; reading the changelog through a fence",
            self.topics.source,
            numbers,
        )
        consumer.assign(self._take(numbers))
        self.assigned = True
        log.info("now counting %s", {p: self.owned[p].position for p in numbers})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Flush first so our last records precede the next owner's fence.
        self.outbox.drain()
        self.producer.flush(10.0)
        self.commit(asynchronous=False)
        self._release(consumer, partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._release(consumer, partitions)

    def _release(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.owned.pop(tp.partition, None)
        log.info("released partitions %s", sorted(tp.partition for tp in partitions))
        consumer.unassign()

    def step(self) -> None:
        self._handle_resyncs()
        self.outbox.pump()
        # Held records are released on the next pump: do not sleep long on them.
        messages = self.consumer.consume(self.batch_size, 0.05 if self.outbox.holding else 0.5)
        now = self.clock()
        by_partition: dict[int, list[Message]] = {}
        for msg in messages:
            partition, offset = msg.partition() or 0, msg.offset() or 0
            if msg.error() is not None:
                self._on_error(msg)
                continue
            own = self.owned.get(partition)
            if own is None or offset < own.position:
                continue  # revoked, or prefetched before a seek: another record covers it
            by_partition.setdefault(partition, []).append(msg)
        for partition, batch in by_partition.items():
            self._process(partition, batch, now)
        self._mark_idle(set(by_partition), now)
        self._heartbeats(now)
        if now - self._last_commit >= COMMIT_SECONDS:
            self.commit(asynchronous=True)

    def _mark_idle(self, busy: set[int], now: float) -> None:
        """A partition is idle when we stand at the high mark of its last fetch response.

        That mark comes from the fetch itself (librdkafka's cached value), which is
        exact on Tansu, unlike the ListOffsets answer. End-of-partition events
        would say the same but halve the consumer's rate on Tansu. The claim is
        stamped with the time of the last answer from the partition's leader,
        not with ``now`` (fetch_evidence.py says why).
        """
        del now  # the clock proves nothing about what was read
        for partition, own in self.owned.items():
            if partition in busy:
                continue
            _, high = self.consumer.get_watermark_offsets(
                TopicPartition(self.topics.source, partition), cached=True
            )
            own.idle_ms = (
                -1
                if self.evidence is None
                else self.evidence.idle_since(partition, high, own.position, own.taken_ms)
            )

    def _on_error(self, msg: Message) -> None:
        error = msg.error()
        if error is None or error.code() == KafkaError._PARTITION_EOF:
            return
        log.error(
            "%s/%s@%s: consumer error: %s", msg.topic(), msg.partition(), msg.offset(), error.str()
        )

    def _process(self, partition: int, batch: list[Message], now: float) -> None:
        own = self.owned[partition]
        now_ms = int(now * 1000)
        result = self.validator.batch(
            [m.value() for m in batch], [record_time(m.timestamp(), now_ms) for m in batch]
        )
        letters = self._dead_letters(batch, result.rejections) if result.rejections else []
        last = (batch[-1].offset() or 0) + 1
        record = changelog.data_record(
            partition,
            own.position,
            last,
            self.writer,
            own.generation,
            result.counts,
            counted=result.counted,
            rejected=len(result.rejections),
            max_ts=min(result.max_ts, now_ms),  # never past what has been read by now
        )
        dlq_partitions = self.topics.dlq_partitions
        self.outbox.add(record, letters, partition % dlq_partitions if dlq_partitions else -1)
        own.position = last
        own.idle_ms = -1

    def _produce_record(self, record: Record) -> None:
        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.error(
                    "changelog record for %s/%s [%s, %s) lost: %s",
                    self.topics.source,
                    record.partition,
                    record.from_offset,
                    record.to_offset,
                    err.str(),
                )
                self._resync.put((record.partition, record.generation))

        payload = changelog.encode(record)
        cpart = self._cpart(record.partition)
        key = changelog.record_key(record.partition)
        while True:
            try:
                self.producer.produce(
                    self.topics.changelog, payload, key, partition=cpart, on_delivery=delivered
                )
                break
            except BufferError:
                self.producer.poll(0.05)  # local queue full: let deliveries drain
        self.producer.poll(0)

    def _dead_letters(self, batch: list[Message], rejections: list[Rejection]) -> list[Letter]:
        """The dead letters of one partition's batch, in the contract's form.

        Per bad event only what differs is built: the source string from a prefix
        shared by the batch, the headers in one dict, or, if the event has headers
        of its own, one list of pairs with the event's first."""
        first = batch[0]
        prefix = f"{first.topic()}/{first.partition()}/"
        letters: list[Letter] = []
        for rejection in rejections:
            msg = batch[rejection.at]
            # A dict holding only strings is no container to the collector; a list
            # of pairs is four (a tenth of a letter's instructions went on them).
            ours: dict[str, str | bytes | None] = {
                "cd-error": rejection.reason,
                "cd-error-detail": rejection.detail,
                "cd-source": f"{prefix}{msg.offset()}",
            }
            own = msg.headers()
            timestamp = msg.timestamp()[1]
            # None stamped: 0, the broker's time (a conditional costs half of max()).
            timestamp = timestamp if timestamp > 0 else 0
            headers: Headers = ours
            if own:  # pairs, the event's own first (the stubs allow a dict too)
                pairs = own.items() if isinstance(own, dict) else own
                headers = [*pairs, *ours.items()]
            letters.append((msg.value(), msg.key(), headers, timestamp))
        if log.isEnabledFor(logging.INFO):
            log_rejections(prefix, [batch[r.at].offset() or 0 for r in rejections], rejections)
        return letters

    def _heartbeats(self, now: float) -> None:
        for partition, own in self.owned.items():
            if own.idle_ms < 0 or now - own.last_heartbeat < HEARTBEAT_SECONDS:
                continue
            own.last_heartbeat = now
            record = changelog.heartbeat(
                partition, own.position, self.writer, own.generation, own.idle_ms
            )
            self.outbox.add(record)

    def _handle_resyncs(self) -> None:
        stale: set[int] = set()
        while not self._resync.empty():
            partition, generation = self._resync.get()
            own = self.owned.get(partition)
            if own is not None and own.generation == generation:
                stale.add(partition)
        if not stale:
            return
        log.warning(
            "our changelog records for %s were skipped: re-reading through a fence", sorted(stale)
        )
        for tp in self._take(sorted(stale)):
            with kafka.translated(f"seeking {tp.topic}/{tp.partition}"):
                self.consumer.seek(tp)

    def commit(self, *, asynchronous: bool) -> None:
        """Commit the applied (materialised) offsets: only what is fully counted."""
        self._last_commit = self.clock()
        offsets = [
            TopicPartition(self.topics.source, p, self.follower.state.next_offset(p))
            for p in self.owned
            if self.follower.state.next_offset(p) > 0
        ]
        if not offsets:
            return
        try:
            if asynchronous:  # two calls: confluent-kafka's stubs overload on the literal
                self.consumer.commit(offsets=offsets, asynchronous=True)
            else:
                self.consumer.commit(offsets=offsets, asynchronous=False)
        except Exception as exc:  # a failed commit only delays monitoring, never counting
            log.warning("committing offsets failed: %s", exc)

    def finish(self) -> None:
        """Graceful stop: the last batch is done; make sure its records are applied."""
        self.outbox.drain()
        with kafka.translated("flushing the producer"):
            self.producer.flush(30.0)
        if self.owned:
            waiter = self.follower.fence({self._cpart(p) for p in self.owned})
            self.producer.flush(10.0)
            waiter.wait(10.0)
        self.commit(asynchronous=False)
        self.consumer.close()


def log_rejections(prefix: str, offsets: list[int], rejections: list[Rejection]) -> None:
    """Each of the first few rejections of a batch with its source, then one line for the rest.

    One line per bad event cost the loop more than sending its dead letter does;
    every bad event is in the dead-letter topic, named by ``cd-source``."""
    for offset, rejection in zip(offsets[:LOGGED_PER_BATCH], rejections, strict=False):
        log.info("%s%s: rejected (%s): %s", prefix, offset, rejection.reason, rejection.detail)
    rest = rejections[LOGGED_PER_BATCH:]
    if rest:
        reasons = Counter(r.reason for r in rest)
        log.info(
            "%s: %d more rejected at offsets %s..%s (%s); each in the dead-letter topic",
            prefix.rstrip("/"),
            len(rest),
            offsets[LOGGED_PER_BATCH],
            offsets[-1],
            ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items())),
        )
