"""One window's candidate samples, read from Kafka by time (contract section 10).

:class:`SamplesSource` is the ``samples(start, end)`` callable the runner
takes: it reads ``homefeed.blend-samples`` for the window ``[start, end)``
(epoch seconds), groups the samples by experiment group into
:class:`services.samples.WindowSamples`, skips and counts records that do not
decode, and keeps at most ``max_per_group`` samples per group by (order-independent) reservoir
sampling, so memory stays bounded whatever the traffic. Anything that keeps the
window from being read completely (topic missing, broker unreachable, the read
not finished by the deadline) raises :class:`SamplesUnavailableError`, and the
controller falls back to the PID step for that window.

Where to start. ``offsets_for_times`` finds each partition's first record
stamped at or after ``start - grace``. What Tansu does with it (checked against
the broker the tests run, ``--storage-engine memory://``): it answers offset 0
for every timestamp, i.e. the log start, and it does not apply ``retention.ms``.
Starting at the log start is still correct, only slower (records before the
window are read and ignored), so the reader relies on the answer only as a
lower bound and filters by each sample's own ``ts``. On Apache Kafka the same
call skips everything older.

A missing topic is asked about with a consumer's metadata request, which
never creates it (librdkafka's ``allow.auto.create.topics`` is off for
consumers). Tansu does auto-create a topic, with 4 partitions, when a producer
or an ``AdminClient`` asks for its metadata, so ``services.kafka.ensure_topics``
gets 4 partitions there whatever it asks for; nothing here depends on the count.

Where to stop. Tansu's high watermark trails the data (after producing 30
records, ``ListOffsets`` said 21; after a single batch of 10 it said 1), so
"position reached the high watermark" proves nothing there. A partition counts
as read when either

* a record stamped at or after ``end + grace`` has been seen (every blender
  stamps with its clock; ``grace`` covers clock skew and the sender's queue), or
* the fetch reported the end of the partition (librdkafka's partition EOF,
  which follows what fetches return, not ``ListOffsets``), no record arrived
  for ``settle_seconds`` after it, the reported high watermark is not beyond
  that position, and the wall clock is past ``end + grace`` (a blender may still
  hold samples of the window before then).
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import (
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from services import kafka
from services.errors import InvalidInputError, UpstreamError
from services.samples import SampledRequest, SamplesUnavailableError, WindowSamples, decode_sample
from services.settings import ControllerSettings

log = logging.getLogger(__name__)
LOGGED_BAD_RECORDS = 5  # per read: the rest are only counted


@dataclass
class _Reservoir:
    """A uniform sample of at most ``cap`` of the items offered: the ``cap`` with the
    lowest pseudo-random priority, a hash of the record's place (partition, offset).

    Unlike Algorithm R this does not depend on the order items arrive in, which
    varies with how the partitions' fetches interleave: the same window read twice
    keeps the same samples, so a re-run of a window solves the same problem.
    """

    cap: int
    seed: int
    seen: int = 0
    heap: list[tuple[int, int, int, int, SampledRequest]] = field(default_factory=list)

    def offer(self, ts: int, partition: int, offset: int, sample: SampledRequest) -> None:
        self.seen += 1
        entry = (-_priority(self.seed, partition, offset), ts, partition, offset, sample)
        if len(self.heap) < self.cap:
            heapq.heappush(self.heap, entry)
        elif entry[0] > self.heap[0][0]:  # a lower priority than the highest kept
            heapq.heapreplace(self.heap, entry)

    def samples(self) -> list[SampledRequest]:
        return [e[4] for e in sorted(self.heap, key=lambda e: e[1:4])]  # time order


MASK64 = (1 << 64) - 1


def _priority(seed: int, partition: int, offset: int) -> int:
    """splitmix64 of the record's place: uniform, and the same on every read."""
    z = (seed * 0x9E3779B97F4A7C15 + (partition << 48) + offset) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


@dataclass
class _Partition:
    done: bool = False
    eof_offset: int | None = None
    eof_at: float = 0.0


@dataclass
class _Window:
    """Accumulates one read: the reservoirs by group and the garbage count."""

    start_ms: int
    end_ms: int
    cap: int
    seed: int
    by_group: dict[str, _Reservoir] = field(default_factory=dict)
    skipped: int = 0

    def take(self, msg: Message) -> None:
        try:
            sample = decode_sample(msg.value() or b"")
        except InvalidInputError as exc:
            self.skipped += 1
            if self.skipped <= LOGGED_BAD_RECORDS:
                log.warning(
                    "skipping a record that is not a sample: %s/%s@%s: %s",
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    exc,
                )
            return
        if not self.start_ms <= sample.ts_ms < self.end_ms:
            return
        group = self.by_group.get(sample.experiment_group)
        if group is None:
            group = self.by_group[sample.experiment_group] = _Reservoir(self.cap, self.seed)
        group.offer(sample.ts_ms, msg.partition() or 0, msg.offset() or 0, sample)

    def result(self) -> WindowSamples:
        groups = sorted(self.by_group.items())
        return WindowSamples(
            by_group={g: r.samples() for g, r in groups},
            skipped=self.skipped,
            seen={g: r.seen for g, r in groups},
        )


@dataclass(frozen=True)
class SamplesSource:
    """``samples(start, end)`` for the runner: one window read from ``topic``."""

    bootstrap: str
    topic: str
    max_per_group: int = 2000
    grace_seconds: float = 10.0
    timeout: float = 30.0
    settle_seconds: float = 0.5
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic

    def __call__(self, start: int, end: int) -> WindowSamples:
        deadline = self.monotonic() + self.timeout
        try:
            consumer = kafka.make_consumer(
                kafka.consumer_config(
                    self.bootstrap,
                    "pid-controller-samples",  # never joins or commits: partitions are assigned
                    {"enable.partition.eof": True, "socket.connection.setup.timeout.ms": 5000},
                )
            )
        except UpstreamError as exc:
            raise SamplesUnavailableError(str(exc)) from exc
        try:
            return self._read(consumer, start, end, deadline)
        except KafkaException as exc:
            raise SamplesUnavailableError(
                f"kafka: reading {self.topic} failed: {kafka.describe(exc)}"
            ) from exc
        except SamplesUnavailableError:
            raise
        except UpstreamError as exc:
            raise SamplesUnavailableError(str(exc)) from exc
        finally:
            consumer.close()

    def _left(self, deadline: float) -> float:
        left = deadline - self.monotonic()
        if left <= 0:
            raise SamplesUnavailableError(
                f"kafka: {self.topic} not read to the end within {self.timeout:g}s"
            )
        return left

    def _read(self, consumer: Consumer, start: int, end: int, deadline: float) -> WindowSamples:
        meta = consumer.list_topics(self.topic, timeout=self._left(deadline))
        info = meta.topics.get(self.topic)
        if info is None or info.error is not None or not info.partitions:
            why = f" ({info.error.str()})" if info is not None and info.error else ""
            raise SamplesUnavailableError(f"kafka: samples topic {self.topic} is missing{why}")
        ids = sorted(info.partitions)
        grace_ms = round(self.grace_seconds * 1000)
        wanted = [TopicPartition(self.topic, p, start * 1000 - grace_ms) for p in ids]
        found = consumer.offsets_for_times(wanted, timeout=self._left(deadline))
        # -1: nothing stamped that late yet; read from the end, for what may still come.
        consumer.assign(
            [TopicPartition(self.topic, tp.partition, _or_end(tp.offset)) for tp in found]
        )
        window = _Window(start * 1000, end * 1000, self.max_per_group, start)
        parts = {p: _Partition() for p in ids}
        stop_ms = end * 1000 + grace_ms
        while not all(p.done for p in parts.values()):
            batch = consumer.consume(1000, min(0.2, self._left(deadline)))
            for msg in batch:
                self._handle(msg, parts, window, stop_ms)
            self._settle(consumer, parts, stop_ms)
        return window.result()

    def _handle(
        self, msg: Message, parts: dict[int, _Partition], window: _Window, stop_ms: int
    ) -> None:
        state = parts.get(msg.partition() or 0)
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF and state is not None:
                state.eof_offset, state.eof_at = msg.offset(), self.monotonic()
            elif err.fatal() or err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise SamplesUnavailableError(f"kafka: reading {self.topic}: {err.str()}")
            else:  # transient (a broker bounce): librdkafka retries until the deadline
                log.info("reading %s: %s", self.topic, err.str())
            return
        if state is None or state.done:
            return
        state.eof_offset = None  # more data came: the end is further on
        if msg.timestamp()[1] >= stop_ms:
            state.done = True  # everything of the window is before this record
            return
        window.take(msg)

    def _settle(self, consumer: Consumer, parts: dict[int, _Partition], stop_ms: int) -> None:
        """Mark partitions whose reported end has held still long enough, once the
        window (plus grace) is over by the wall clock too."""
        if self.clock() * 1000 < stop_ms:
            return
        for pid, state in parts.items():
            if state.done or state.eof_offset is None:
                continue
            if self.monotonic() - state.eof_at < self.settle_seconds:
                continue
            _, high = kafka.watermarks(consumer, self.topic, pid)
            if high <= state.eof_offset:
                state.done = True


def _or_end(offset: int) -> int:
    return offset if offset >= 0 else OFFSET_END


def samples_source(settings: ControllerSettings) -> SamplesSource:
    return SamplesSource(
        settings.kafka_bootstrap,
        settings.samples_topic,
        max_per_group=settings.controller_sample_cap,
        grace_seconds=settings.controller_samples_grace_seconds,
        timeout=settings.controller_samples_timeout_seconds,
    )
