"""Changelog records held behind the dead letters they depend on, without stopping the loop.

A batch's changelog record says "offsets [f, t) are done", so it may only reach
the changelog once the batch's dead letters are acknowledged by the broker: a
crash in between then repeats the batch (a dead letter may repeat, recognisable
by ``cd-source``) but never loses one. Waiting for those acknowledgements with a
flush per batch halved the counter's rate at 10% bad events, so instead:

* the dead letters are produced with delivery callbacks, and the record is
  *held* here, in source order, behind every record held before it (a
  partition's records must reach the changelog in order, and a heartbeat must
  not overtake the data record before it);
* the consume loop goes on with the next batches and calls :meth:`Outbox.pump`,
  which serves delivery reports, re-sends a failed dead letter after a backoff
  (the :class:`~services.retry.Retry` policy: attempts and deadline), and
  releases held records from the front as their dead letters come in;
* a dead letter that exhausts its retries raises :class:`UpstreamError`: the
  service stops with the record unwritten, so a restart repeats the batch.

At most ``max_held`` records wait at once; past that :meth:`pump` blocks until
the front is released, which bounds memory when the dead-letter topic is slow.

A bad event costs the loop its share of the rate, so the first send of a letter
is as cheap as it can be: a plain tuple, and one delivery callback shared by
the whole batch (a closure and a retry object per letter cost about a fifth of
the dead-letter path), a plain function rather than a ``functools.partial`` of a
method (a tenth of a letter's instructions, measured), and ``produce`` called
with positional arguments. A
delivery report carries the value and key but not the headers, so when a first
send fails every letter of the batch with that value and key is sent again with
its own retry state: a letter may repeat (``cd-source`` tells), none is lost.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, Producer

from counter_service.changelog import Record
from services.errors import UpstreamError
from services.retry import Retry

Headers = list[tuple[str, str | bytes | None]] | dict[str, str | bytes | None]
# value, key, headers (ending with cd-source), timestamp (0: the producer's clock)
Letter = tuple[bytes | None, bytes | None, Headers, int]


@dataclass
class DeadLetter:
    """A letter whose send failed: its retry state."""

    value: bytes | None
    key: bytes | None
    headers: Headers
    timestamp: int
    partition: int = -1  # of the dead-letter topic; -1: by key
    attempts: int = 0
    first_failure: float | None = None
    error: str = ""
    due: float = 0.0  # when it is sent again

    @property
    def source(self) -> str:
        """topic/partition/offset of the bad event, from its cd-source header."""
        pairs = self.headers.items() if isinstance(self.headers, dict) else self.headers
        for name, value in reversed(list(pairs)):
            if name == "cd-source":
                return value.decode() if isinstance(value, bytes) else str(value)
        return "an unknown source"


@dataclass(eq=False)
class _Held:
    record: Record
    letters: Sequence[Letter]  # kept to send again the one a failed report names
    waiting: int  # delivery reports of this record's dead letters still to come
    partition: int  # of the dead-letter topic, for all of them


@dataclass
class Outbox:
    producer: Producer
    dlq_topic: str
    emit: Callable[[Record], None]  # produces one changelog record
    retry: Retry
    clock: Callable[[], float] = time.monotonic
    max_held: int = 8
    _held: deque[_Held] = field(default_factory=deque)
    _failed: list[tuple[DeadLetter, _Held]] = field(default_factory=list)

    @property
    def holding(self) -> int:
        return len(self._held)

    def add(self, record: Record, letters: Sequence[Letter] = (), partition: int = -1) -> None:
        """Send ``letters`` to dead-letter ``partition`` (-1: by key), and ``record`` once
        they are acknowledged (at once if none)."""
        if not letters and not self._held:
            self.emit(record)
            return
        held = _Held(record, letters, len(letters), partition)
        self._held.append(held)
        if letters:
            failed = self._first_failed

            def delivered(err: KafkaError | None, msg: Message) -> None:
                # On this thread, inside poll(): bookkeeping only. One plain function
                # per batch: called directly, cheaper than a partial of a method.
                held.waiting -= 1
                if err is not None:
                    failed(held, err, msg)

            produce, topic = self.producer.produce, self.dlq_topic
            for value, key, headers, timestamp in letters:
                try:
                    # Positional, in the C signature's order (topic, value, key,
                    # partition, callback, on_delivery (its alias), timestamp, headers):
                    # parsing keywords cost a fifth of a letter's instructions here.
                    produce(topic, value, key, partition, delivered, None, timestamp, headers)
                except BufferError:  # local queue full: the slow path waits for room
                    self._send(value, key, headers, timestamp, partition, delivered)
        self.pump()

    def pump(self, timeout: float = 0.0) -> None:
        """Serve delivery reports, re-send failed letters when due, release what is done;
        blocks while more than ``max_held`` records wait."""
        self._step(timeout)
        while len(self._held) > self.max_held:
            self._step(0.05)

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until every held record is released (before a flush, revoke or fence)."""
        deadline = self.clock() + timeout
        while self._held:
            if self.clock() > deadline:
                raise UpstreamError(
                    f"{len(self._held)} changelog records still wait on dead letters"
                )
            self._step(0.05)

    def _step(self, timeout: float) -> None:
        self.producer.poll(timeout)
        self._resend_due()
        while self._held and self._held[0].waiting == 0:
            self.emit(self._held.popleft().record)

    def _first_failed(self, held: _Held, err: KafkaError, msg: Message) -> None:
        value, key = msg.value(), msg.key()
        again = [x for x in held.letters if x[0] == value and x[1] == key] or held.letters
        now = self.clock()
        for value, key, headers, timestamp in again:
            letter = DeadLetter(value, key, headers, timestamp, held.partition, 1, now, err.str())
            letter.due = now + self.retry.delay(1)
            held.waiting += 1
            self._failed.append((letter, held))

    def _produce(self, letter: DeadLetter, held: _Held) -> None:
        def delivered(err: KafkaError | None, _msg: Message) -> None:
            # On this thread, inside poll(): only bookkeeping here.
            if err is None:
                held.waiting -= 1
                return
            now = self.clock()
            letter.attempts += 1
            letter.error = err.str()
            if letter.first_failure is None:
                letter.first_failure = now
            letter.due = now + self.retry.delay(letter.attempts)
            self._failed.append((letter, held))

        self._send(
            letter.value, letter.key, letter.headers, letter.timestamp, letter.partition, delivered
        )

    def _send(
        self,
        value: bytes | None,
        key: bytes | None,
        headers: Headers,
        timestamp: int,
        partition: int,
        delivered: Callable[[KafkaError | None, Message], None],
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    self.dlq_topic, value, key, partition, delivered, None, timestamp, headers
                )
                return
            except BufferError:
                self.producer.poll(0.05)  # local queue full: let deliveries drain

    def _resend_due(self) -> None:
        if not self._failed:
            return
        now = self.clock()
        failed, self._failed = self._failed, []
        for letter, held in failed:
            self._give_up_if_spent(letter, now)
            if now < letter.due:
                self._failed.append((letter, held))
            else:
                self._produce(letter, held)

    def _give_up_if_spent(self, letter: DeadLetter, now: float) -> None:
        assert letter.first_failure is not None
        deadline = self.retry.deadline
        if letter.attempts >= self.retry.attempts or (
            deadline is not None and now - letter.first_failure > deadline
        ):
            raise UpstreamError(
                f"dead letter for {letter.source} not delivered after {letter.attempts} "
                f"attempts: {letter.error}"
            )
