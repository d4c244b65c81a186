"""Candidate sampling (contract section 10): a few blend requests, published off the request path.

The blend path makes one call, :meth:`BlendSampler.offer`, and for the ~99% of
requests that are not sampled it costs one random draw and a compare. A
sampled request costs a token from the per-second bucket, a copy of its score
column and a ``put_nowait``: the JSON encoding and the Kafka produce happen on
a background thread (:class:`SampleSender`). Nothing here can make a blend
wait or fail: a full queue, a full producer buffer, a missing topic and a dead
broker all end as ``cd_blender_samples_total{result="dropped"}``.

Scores go out raw, before constants, so a sample stays useful whatever
constants were in force when it was taken (:mod:`services.samples`).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from confluent_kafka import KafkaError, Message

from blender.constants_source import Snapshot
from blender.request import BlendRequest
from services import kafka
from services.errors import CDError
from services.names import DEFAULT_POLICY
from services.samples import SampledRequest, encode_sample
from services.settings import BlenderSettings

log = logging.getLogger(__name__)

# How long librdkafka keeps trying to deliver one sample (a dead broker's samples
# are dropped after this), and how many it buffers meanwhile. Samples are
# statistics: a late one is worth little, a lost one nothing.
DELIVERY_TIMEOUT_MS = 10_000
PRODUCER_BUFFER = 10_000
TOPIC_RETRY_SECONDS = 10.0


class TokenBucket:
    """At most ``per_second`` takes per second on average, bursts up to one second's worth."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_second
        self._capacity = max(1.0, per_second)
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


@dataclass(frozen=True, slots=True)
class _Taken:
    """What the request path hands over: cheap to build, encoded later."""

    ts_ms: int
    policy: str
    request: BlendRequest
    scores: npt.NDArray[np.float64]  # a copy: the blend path owns the request's arrays


class SampleSink(Protocol):
    """Where encoded samples go (Kafka in production; see :class:`KafkaSampleSink`)."""

    def send(self, key: bytes, value: bytes, ts_ms: int) -> None:
        """Queue one record; raise :class:`SampleDroppedError` if it cannot be queued."""
        ...

    def poll(self) -> None:
        """Serve delivery reports; never blocks."""
        ...

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` for deliveries; the number still undelivered."""
        ...


SinkFactory = Callable[[Callable[[bool], None]], "SampleSink"]


class SampleDroppedError(CDError):
    """A sample could not even be queued for sending (buffer full, topic unknown)."""


def sample_record(taken: _Taken) -> SampledRequest:
    """The record of section 10 for one sampled request (types per candidate, raw scores)."""
    r = taken.request
    names = r.type_names
    return SampledRequest(
        ts_ms=taken.ts_ms,
        experiment_group=r.group or DEFAULT_POLICY,
        policy=taken.policy,
        score_space=r.space,
        slots=r.limit,
        types=tuple(map(names.__getitem__, r.type_codes.tolist())),
        scores=taken.scores,
    )


class SampleCounts:
    """Sent and dropped samples, mirrored to ``report`` (the app's
    ``cd_blender_samples_total``) when one is attached. Bumped by the sender and,
    for a full queue, by the request path: a lock keeps both counts exact (it is
    taken only for a sample, never for an unsampled request)."""

    def __init__(self) -> None:
        self.sent = 0
        self.dropped = 0
        self.report: Callable[[str, int], None] | None = None
        self._lock = threading.Lock()

    def add(self, result: str, n: int = 1) -> None:
        if n <= 0:
            return
        with self._lock:
            if result == "sent":
                self.sent += n
            else:
                self.dropped += n
        if self.report is not None:
            self.report(result, n)


class SampleSender:
    """The background thread: encode what the request path queued, hand it to the sink.

    ``sent`` counts deliveries the broker acknowledged; ``dropped`` everything
    lost after the request path let go of it (encode failures, sink refusals,
    failed deliveries, what a stop could not flush in time).
    """

    def __init__(
        self, pending: queue.Queue[_Taken], sink_factory: SinkFactory, counts: SampleCounts
    ) -> None:
        self._pending = pending
        self._counts = counts
        self._sink = sink_factory(self.delivered)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blend-samples", daemon=True)
        # A stop that gave up waiting for the thread must still see every sample the
        # thread hands to the sink: once closed, the thread drops (and counts) instead
        # of producing into a producer nobody flushes any more.
        self._send_lock = threading.Lock()
        self._closed = False

    def delivered(self, ok: bool) -> None:
        """Delivery report from the sink (called on this thread, inside ``poll``)."""
        self._counts.add("sent" if ok else "dropped")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                taken = self._pending.get(timeout=0.1)
            except queue.Empty:
                self._sink.poll()
                continue
            self._send(taken)

    def _send(self, taken: _Taken, *, closing: bool = False) -> None:
        try:
            record = sample_record(taken)
            with self._send_lock:
                if self._closed and not closing:
                    raise SampleDroppedError("the sampler has stopped")
                self._sink.send(record.policy.encode(), encode_sample(record), record.ts_ms)
        except SampleDroppedError as exc:
            self._counts.add("dropped")
            log.debug("sample dropped: %s", exc)
        except Exception:  # a bug must not kill the thread (and with it all sampling)
            self._counts.add("dropped")
            log.exception("sample could not be encoded")
        self._sink.poll()

    def stop(self, timeout: float) -> None:
        """Send what is queued, then wait for deliveries; give up after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        # Waits at most for one send the thread is making (its topic check is bounded).
        with self._send_lock:
            self._closed = True
        while time.monotonic() < deadline:
            try:
                self._send(self._pending.get_nowait(), closing=True)
            except queue.Empty:
                break
        self._counts.add("dropped", self._pending.qsize())
        left = self._sink.flush(max(0.0, deadline - time.monotonic()))
        self._counts.add("dropped", left)
        if left:
            log.warning("%d samples still undelivered at stop: dropped", left)


class KafkaSampleSink:
    """librdkafka's producer: ``produce`` only queues, so ``send`` never waits on the broker."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        partitions: int,
        on_delivery: Callable[[bool], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._partitions = partitions
        self._on_delivery = on_delivery
        self._clock = clock
        self._topic_checked_at: float | None = None
        self._producer = kafka.make_producer(
            kafka.producer_config(
                bootstrap,
                {
                    # A duplicate sample after a retry is harmless; an idempotent
                    # producer can turn fatal after timed-out batches (a long broker
                    # outage) and would then drop every sample until a restart.
                    "enable.idempotence": False,
                    "acks": 1,
                    "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                    "queue.buffering.max.messages": PRODUCER_BUFFER,
                    "linger.ms": 50,
                },
            )
        )

    def _ensure_topic(self) -> None:
        """Create the topic once (retried now and then while the broker is away)."""
        now = self._clock()
        if self._topic_checked_at is not None and (
            self._topic_checked_at == -1.0 or now - self._topic_checked_at < TOPIC_RETRY_SECONDS
        ):
            return
        self._topic_checked_at = now
        try:
            kafka.ensure_topics(
                self._bootstrap, [kafka.TopicSpec(self._topic, self._partitions)], timeout=2.0
            )
            self._topic_checked_at = -1.0  # exists: never check again
        except CDError as exc:
            log.warning("samples topic %s not ready, samples are dropped: %s", self._topic, exc)

    def send(self, key: bytes, value: bytes, ts_ms: int) -> None:
        self._ensure_topic()
        try:
            self._producer.produce(
                self._topic, value, key, timestamp=ts_ms, on_delivery=self._report
            )
        except BufferError as exc:
            raise SampleDroppedError(f"producer buffer full ({PRODUCER_BUFFER})") from exc
        except Exception as exc:  # KafkaException: e.g. unknown topic
            raise SampleDroppedError(str(exc)) from exc

    def _report(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            log.debug("sample not delivered to %s: %s", self._topic, err)
        self._on_delivery(err is None)

    def poll(self) -> None:
        self._producer.poll(0)

    def flush(self, timeout: float) -> int:
        return int(self._producer.flush(timeout))


class BlendSampler:
    """The one call on the blend path, plus the sender behind it.

    ``rate`` is the probability of sampling a request, ``per_second`` the cap
    per instance; either at 0 turns sampling off (and starts no thread).
    ``policy_of`` maps a request's experiment group to the policy it was
    served under (the key of the record).
    """

    def __init__(
        self,
        *,
        rate: float,
        per_second: float,
        sink_factory: SinkFactory | None,
        policy_of: Callable[[str | None], str],
        queue_size: int = 1000,
        stop_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.enabled = rate > 0 and per_second > 0 and sink_factory is not None
        self._rate = rate
        self._bucket = TokenBucket(per_second, monotonic)
        self._policy_of = policy_of
        self._pending: queue.Queue[_Taken] = queue.Queue(maxsize=queue_size)
        self._stop_seconds = stop_seconds
        self._clock = clock
        self._draw = draw
        self.counts = SampleCounts()
        self._sender: SampleSender | None = None
        self._sink_factory = sink_factory

    def start(self) -> None:
        """Build the sink (no I/O in librdkafka's constructor) and start the sender."""
        if not self.enabled or self._sender is not None or self._sink_factory is None:
            return
        sender = SampleSender(self._pending, self._sink_factory, self.counts)
        sender.start()
        self._sender = sender

    def stop(self) -> None:
        if self._sender is not None:
            self._sender.stop(self._stop_seconds)

    def offer(self, request: BlendRequest) -> None:
        """Maybe sample ``request`` (already blended). Never blocks, never raises.

        A request that says ``"sample": true`` or ``false`` decides for itself,
        past the rate and the cap (a simulator or a replay choosing its own
        sample); the queue bound still holds. Sampling turned off stays off.
        """
        if not self.enabled:
            return
        chosen = request.sample
        if chosen is None:
            if self._draw() >= self._rate or not self._bucket.take():
                return
        elif not chosen:
            return
        if request.limit == 0:
            return  # shows nothing: no impressions for a sample to model
        ts_ms = request.ts_ms if request.ts_ms is not None else int(self._clock() * 1000)
        taken = _Taken(ts_ms, self._policy_of(request.group), request, request.scores.copy())
        try:
            self._pending.put_nowait(taken)
        except queue.Full:
            self.counts.add("dropped")

    @property
    def sent(self) -> int:
        return self.counts.sent

    @property
    def dropped(self) -> int:
        return self.counts.dropped


def sampler_from(settings: BlenderSettings, snapshot: Callable[[], Snapshot]) -> BlendSampler:
    """The blender's sampler as its settings say (off when the rate or the cap is 0)."""

    def sink(on_delivery: Callable[[bool], None]) -> SampleSink:
        return KafkaSampleSink(
            settings.kafka_bootstrap,
            settings.samples_topic,
            settings.blender_samples_partitions,
            on_delivery,
        )

    return BlendSampler(
        rate=settings.blender_sample_rate,
        per_second=settings.blender_samples_per_second,
        sink_factory=sink,
        policy_of=lambda group: snapshot().policy_for(group),
        queue_size=settings.blender_samples_queue,
        stop_seconds=settings.blender_samples_stop_seconds,
    )
