"""Materialise the whole changelog into RocksDB, in a thread of its own.

Every instance follows every changelog partition (not only those of the source
partitions it owns), so any one ready instance answers for all partitions.
Restoring a new instance is the same loop started at the newest snapshot's
positions (restorer.py), or at offset 0 when there is none.

"Read to the end" is proved with fences (see changelog.py), never with the
broker's high watermark, which Tansu may report below the data. A fresh
folder starts from a snapshot (snapshot.py, recovery.py), so a restore reads
a bounded amount whatever the uptime.

The follower never skips a gap: it reads with ``auto.offset.reset=error``, so
an offset below the log's start (records deleted under it) is an error, not a
silent jump; and because Tansu answers a fetch past the end with nothing
rather than an error, it also produces a fence every ``END_CHECK_SECONDS``
and compares the offset the broker gives it with the position it had read
(a log that now ends before that position was recreated or lost data). Either
makes the instance unhealthy and not ready (log line, ``changelog_gaps`` in
the status, ``cd_counter_changelog_gaps_total``); the service then exits with
code 3 and its next start continues from a snapshot or rebuilds from what the
broker holds (recovery.py), never from a guess.

``complete_through`` (epoch s): for each source partition take the larger of
the newest counted event time and the newest heartbeat, capped at the clock.
A heartbeat is the wall time its owner stood at the high mark of its last
fetch response (exact on Tansu, unlike ListOffsets) with nothing newer
fetched; it is an empty record, so it applies only after every earlier
record of the partition (nothing in flight). The owner sends one every 5 s
while idle. complete_through is the minimum over all partitions, minus the
allowed lateness (CD_COUNTER_ALLOWED_LATENESS_SECONDS, default 5), floored
to seconds, never decreasing within a process; null while some partition has
neither mark. An event that reaches Kafka more than the allowed lateness
after its ``ts`` may be counted into a window already reported complete.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from counter_service import changelog
from counter_service.changelog import Record
from counter_service.state import CounterState, StateDamagedError
from services import kafka
from services.errors import InvalidInputError, UpstreamError
from services.timebuckets import floor_to

log = logging.getLogger(__name__)

SkipHandler = Callable[[Record], None]
END_CHECK_SECONDS = 15.0
_GAP_CODES = {KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET}


class ChangelogGapError(StateDamagedError):
    """The changelog no longer holds what this instance has read or still needs to read."""


@dataclass
class Fence:
    """Waits until the follower has read back a set of fences."""

    pending: set[tuple[int, int]]  # (changelog partition, token)
    done: threading.Event = field(default_factory=threading.Event)
    offsets: dict[int, int] = field(default_factory=dict)  # changelog partition -> acked offset

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout)


class ChangelogFollower:
    def __init__(
        self,
        state: CounterState,
        consumer: Consumer,
        producer: Producer,
        topic: str,
        partitions: int,
        writer: str,
        *,
        retention_seconds: int,
        bucket_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.consumer = consumer
        self.producer = producer
        self.topic = topic
        self.partitions = partitions
        self.writer = writer
        self.retention_seconds = retention_seconds
        self.bucket_seconds = bucket_seconds
        self.clock = clock
        self.on_skipped_own: SkipHandler = lambda record: None
        self._tokens = itertools.count(1)
        self._fences: list[Fence] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.records_read = 0
        self.records_skipped = 0  # duplicates and zombies' records: exposed for operators
        self.source: str | None = None  # the impressions topic, whose marks we refresh
        self.source_highs: dict[int, int] = {}
        self.gaps = 0  # gaps found in the changelog (exposed as a metric)

    def lows(self) -> dict[int, int]:
        return {
            c: kafka.watermarks(self.consumer, self.topic, c)[0] for c in range(self.partitions)
        }

    def start(self) -> None:
        assignment = [
            TopicPartition(self.topic, c, self.state.positions.get(c, 0))
            for c in range(self.partitions)
        ]
        with kafka.translated(f"assigning {self.topic}"):
            self.consumer.assign(assignment)
        self._thread = threading.Thread(target=self._run, name="changelog-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.consumer.close()

    def fence(self, cpartitions: set[int], *, check_end: bool = True) -> Fence:
        """Produce one fence per changelog partition; the result is set once all are read.

        ``check_end=False`` at start-up: there the caller compares the fences' offsets
        with the state itself (recovery.py) instead of treating a short log as a gap."""
        items = {(c, next(self._tokens)) for c in cpartitions}
        waiter = Fence(set(items))
        with self._lock:
            self._fences.append(waiter)
        self._produce_fences(items, waiter.offsets, check_end)
        if not items:
            waiter.done.set()
        return waiter

    def _produce_fences(
        self, items: set[tuple[int, int]], offsets: dict[int, int], check_end: bool = True
    ) -> None:
        for cpart, token in items:
            record = changelog.fence(cpart, self.writer, token)
            read = self.state.positions.get(cpart, 0)  # before the fence exists: <= its offset

            def delivered(
                err: KafkaError | None, msg: Message, cpart: int = cpart, read: int = read
            ) -> None:
                if err is not None:  # a lost fence is produced again by whoever waits for it
                    log.warning("fence to %s/%s not delivered: %s", self.topic, cpart, err.str())
                    return
                offsets[cpart] = msg.offset() or 0
                if check_end and offsets[cpart] < read:
                    self._gap(
                        f"changelog {self.topic}/{cpart} now ends at offset {offsets[cpart]} but "
                        f"this instance had read to {read}: the topic was recreated or lost records"
                    )

            with kafka.translated(f"producing a fence to {self.topic}/{cpart}"):
                self.producer.produce(
                    self.topic, changelog.encode(record), partition=cpart, on_delivery=delivered
                )
        self.producer.poll(0)

    def _gap(self, message: str) -> None:
        if self.failure is None:
            self.gaps += 1
            log.error(
                "%s; not ready: the next start continues from a snapshot or rebuilds", message
            )
            self.failure = ChangelogGapError(message)

    def _check_end(self) -> None:
        """A fence per partition, nobody waits for it: its offset says where the log ends."""
        self._produce_fences({(c, next(self._tokens)) for c in range(self.partitions)}, {})

    def _run(self) -> None:
        try:
            last_sweep = last_marks = 0.0
            last_check = time.monotonic()
            while not self._stop.is_set() and self.failure is None:
                messages = self.consumer.consume(1000, 0.2)
                if messages:
                    self._apply(messages)
                if time.monotonic() - last_check >= END_CHECK_SECONDS:
                    last_check = time.monotonic()
                    self._check_end()
                if self.clock() - last_marks >= 1.0:
                    last_marks = self.clock()
                    self._refresh_marks()
                if self.clock() - last_sweep >= 10.0:
                    last_sweep = self.clock()
                    self.sweep()
        except BaseException as exc:
            self.failure = exc
            log.exception("changelog follower stopped; the instance is no longer ready")

    def _apply(self, messages: list[Message]) -> None:
        entries: list[tuple[int, int, Record | None]] = []
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() in _GAP_CODES:
                    self._gap(
                        f"changelog {self.topic}/{msg.partition()}: offset "
                        f"{self.state.positions.get(msg.partition() or 0, 0)} is out of range "
                        f"(records deleted under it): {error.str()}"
                    )
                    break
                if error.code() != KafkaError._PARTITION_EOF:
                    raise UpstreamError(f"kafka: reading {self.topic} failed: {error.str()}")
                continue
            try:
                record: Record | None = changelog.decode(msg.value())
            except InvalidInputError as exc:
                log.error("%s/%s@%s: skipping: %s", msg.topic(), msg.partition(), msg.offset(), exc)
                record = None
            entries.append((msg.partition() or 0, msg.offset() or 0, record))
        self.records_read += len(entries)
        outcome = self.state.apply(entries)
        for record, applied in outcome:
            if record.kind == changelog.FENCE:
                self._fence_seen(record)
            elif not applied:
                self.records_skipped += 1
                log.info(
                    "skipped changelog record %s/%s [%s, %s) by %s",
                    self.source,
                    record.partition,
                    record.from_offset,
                    record.to_offset,
                    record.writer,
                )
                if record.writer == self.writer:
                    self.on_skipped_own(record)

    def _fence_seen(self, record: Record) -> None:
        if record.writer != self.writer:
            return
        with self._lock:
            for waiter in self._fences:
                waiter.pending.discard((record.partition, record.generation))
                if not waiter.pending:
                    waiter.done.set()
            self._fences = [w for w in self._fences if not w.done.is_set()]

    def _refresh_marks(self) -> None:
        """Source partition count and high marks, for lag (status only, never for counting)."""
        if self.source is None:
            return
        try:
            meta = self.consumer.list_topics(self.source, timeout=2.0)
            info = meta.topics.get(self.source)
            count = len(info.partitions) if info is not None and info.error is None else 0
            self.source_highs = {
                p: kafka.watermarks(self.consumer, self.source, p, 2.0)[1] for p in range(count)
            }
        except (KafkaException, UpstreamError) as exc:
            log.warning("reading %s watermarks failed: %s", self.source, exc)

    def sweep(self) -> None:
        """Retention: drop buckets that ended before now minus the retention."""
        cutoff = floor_to(int(self.clock()) - self.retention_seconds, self.bucket_seconds)
        self.state.drop_before(cutoff)
