"""Pieces of the counter benchmark: streams with bad events and their loading, one
run's deployment, lag samples, and the exactness check.

Kept apart from bench/counter.py so that the benchmark itself stays a short script;
the harness of the integration tests provides the processes, events and readers.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from counter_service import events
from services.kafka import TopicSpec, ensure_topics
from tests.integration.counter_service.harness import (
    CounterProcess,
    Deployment,
    encode,
    expected_counts,
    make_events,
    produce,
    read_topic,
)

HOUR_MS = 3_600_000
PARTITIONS = 4
Maker = Callable[[random.Random, int], bytes]

# One maker per reason the service names (counter_service/events.py), each with a few
# variants, so that every check of the validator's slow path is exercised. Times are
# hours away from the window's edges: the verdict must not change while the benchmark
# runs (the service judges against its own clock, batch by batch).
BAD_EVENTS: dict[str, Maker] = {
    events.BAD_JSON: lambda r, now: r.choice([b"{oops", b"", b"\xff\xfe", b'{"ts": 1,']),
    events.NOT_OBJECT: lambda r, now: r.choice([b"[1, 2, 3]", b"42", b'"video"', b"null"]),
    events.MISSING_FIELD: lambda r, now: r.choice(
        [b'{"content_type": "video"}', b'{"ts": %d}' % now]
    ),
    events.MISTYPED_FIELD: lambda r, now: r.choice(
        [
            b'{"ts": "yesterday", "content_type": "video"}',
            b'{"ts": %d.5, "content_type": "video"}' % now,
            b'{"ts": %d, "content_type": 7}' % now,
            b'{"ts": %d, "content_type": "video", "experiment_group": 3}' % now,
        ]
    ),
    events.BAD_NAME: lambda r, now: r.choice(
        [
            b'{"ts": %d, "content_type": "Video!"}' % now,
            b'{"ts": %d, "content_type": "video", "experiment_group": "Bad Group"}' % now,
        ]
    ),
    events.TOO_OLD: lambda r, now: (
        b'{"ts": %d, "content_type": "video"}' % (now - 30 * 24 * HOUR_MS - r.randrange(HOUR_MS))
    ),
    events.TOO_FAR_IN_FUTURE: lambda r, now: (
        b'{"ts": %d, "content_type": "image"}' % (now + 2 * HOUR_MS + r.randrange(HOUR_MS))
    ),
}


@dataclass
class Stream:
    """The values to produce, and what the service must make of them."""

    values: list[bytes]
    good: list[dict[str, Any]]
    bad: Counter[str]  # bad events by the reason the service must give

    @property
    def rejected(self) -> int:
        return sum(self.bad.values())


def make_stream(total: int, now_ms: int, bad_fraction: float, seed: int = 1) -> Stream:
    """``total`` events of which ``bad_fraction`` are bad, spread at random positions,
    the reasons in equal shares."""
    rng = random.Random(seed)
    n_bad = round(total * bad_fraction)
    good = make_events(total - n_bad, now_ms, seed)
    good_values = iter(encode(good))
    bad_at = set(rng.sample(range(total), n_bad))
    reasons = list(BAD_EVENTS)
    bad: Counter[str] = Counter()
    values: list[bytes] = []
    for position in range(total):
        if position in bad_at:
            reason = reasons[bad.total() % len(reasons)]
            bad[reason] += 1
            values.append(BAD_EVENTS[reason](rng, now_ms))
        else:
            values.append(next(good_values))
    return Stream(values, good, bad)


@dataclass
class LagSampler:
    """Samples ``/v1/status`` in a thread while the main thread produces or waits:
    ``(seconds since start, events processed, lag)``. The lag is the service's own,
    against broker high marks it refreshes about once a second."""

    counter: CounterProcess
    interval: float = 0.25
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> LagSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.wait(self.interval):
            try:
                status = self.counter.status()
            except httpx.HTTPError:
                continue
            processed = status["events_counted"] + status["events_rejected"]
            self.samples.append((time.perf_counter() - start, processed, status["lag"]))

    @property
    def max_lag(self) -> int:
        return max((lag for _, _, lag in self.samples), default=0)

    def trace(self, points: int = 8) -> str:
        """A few samples spread over the run, to show the lag's course on one line."""
        step = max(1, len(self.samples) // points)
        chosen = self.samples[::step]
        return "  ".join(f"{t:.1f}s:{lag}" for t, _, lag in chosen)


def verify(counter: CounterProcess, bootstrap: str, dlq: str, stream: Stream) -> list[str]:
    """What is wrong with the service's result: exact counts per (group, bucket, type),
    ``events_rejected`` equal to the bad events, and every bad event in the dead-letter
    topic with the right reason (repeats allowed, recognised by ``cd-source``)."""
    problems = []
    status = counter.status()
    if status["events_counted"] != len(stream.good):
        problems.append(f"events_counted {status['events_counted']} != {len(stream.good)}")
    if status["events_rejected"] != stream.rejected:
        problems.append(f"events_rejected {status['events_rejected']} != {stream.rejected}")
    found, expected = counter.counts(), expected_counts(stream.good)
    if found != expected:
        wrong = {k for k in found.keys() | expected.keys() if found[k] != expected[k]}
        problems.append(f"counts differ on {len(wrong)} of {len(expected)} keys")
    letters = read_topic(bootstrap, dlq, partitions=len(status["partitions"]))
    by_source = {dict(m.headers())["cd-source"]: m for m in letters}
    reasons = Counter(dict(m.headers())["cd-error"].decode() for m in by_source.values())
    print(
        f"  dead letters: {len(letters)} messages, {len(by_source)} distinct cd-source, "
        f"expected {stream.rejected}",
        flush=True,
    )
    if len(by_source) != stream.rejected or reasons != stream.bad:
        problems.append(f"dead letters by reason {dict(reasons)} != {dict(stream.bad)}")
    return problems


def load(bootstrap: str, topic: str, stream: Stream) -> None:
    began = time.perf_counter()
    produce(bootstrap, topic, stream.values)
    took = time.perf_counter() - began
    print(f"  produced {len(stream.values)} events in {took:.1f}s", flush=True)


def clean_and_bad(events: int, bad_fraction: float, bootstrap: str) -> dict[str, Stream]:
    """``events`` events without and with ``bad_fraction`` bad ones, loaded into
    ``bench.clean`` and ``bench.bad``."""
    now = int(time.time() * 1000)
    streams = {
        "clean": make_stream(events, now, 0.0),
        "bad": make_stream(events, now, bad_fraction),
    }
    for name, stream in streams.items():
        ensure_topics(bootstrap, [TopicSpec(f"bench.{name}", PARTITIONS)])
        load(bootstrap, f"bench.{name}", stream)
    return streams


def deployment_for(
    args: argparse.Namespace, bootstrap: str, zk_hosts: str, work: Path, topic: str, label: str
) -> Deployment:
    """One run's deployment: its own folder, group, changelog and dead-letter topic."""
    return Deployment(
        bootstrap,
        topic,
        zk_hosts,
        "/bench",
        work / f"run{label}",
        group_id=f"bench-{label}",
        extra={
            "CD_COUNTER_CHANGELOG_TOPIC": f"{topic}.changelog-{label}",
            "CD_DLQ_TOPIC": f"{topic}.dlq-{label}",
            "CD_COUNTER_BATCH_SIZE": str(args.batch),
            "CD_LOG_LEVEL": "WARNING",
        },
    )


def dead_letters(deployment: Deployment) -> str:
    return deployment.extra.get("CD_DLQ_TOPIC", deployment.dlq)


def processed(counter: CounterProcess) -> int:
    """Events the service has counted or rejected."""
    status = counter.status()
    return int(status["events_counted"] + status["events_rejected"])


STALL_SECONDS = 600.0  # a service that stalls this long ends the bench with its log


class Stall:
    """A deadline for one measured step: past it the bench stops and prints the
    services' logs, instead of waiting for ever on a service that stopped moving."""

    def __init__(self, what: str, services: Mapping[str, CounterProcess]) -> None:
        self.what, self.services = what, services
        self.deadline = time.monotonic() + STALL_SECONDS

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            logs = "\n".join(f"{n}:\n{s.server.log_tail()}" for n, s in self.services.items())
            raise SystemExit(f"{self.what} took over {STALL_SECONDS:g} s:\n{logs}")

    def processed(self) -> dict[str, int]:
        """Events each service has counted or rejected."""
        self.check()
        return {name: processed(service) for name, service in self.services.items()}
