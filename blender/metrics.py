"""The blender's Prometheus metrics (contract section 9), one registry per app.

A registry per app, not the process-global one, so several blender apps can
live in one process (tests, benchmarks) without clashing names. The constants
gauges are computed at scrape time from the current snapshot, so they are never
stale and the request path does not touch them.

With several worker processes (``CD_BLENDER_WORKERS``) a scrape reaches one of
them, so the request counters use Prometheus' multiprocess mode: every worker
writes its counts to its own memory-mapped file in one directory and whichever
worker answers ``/metrics`` sums them all. The totals are the whole server's and
never go down when a worker is replaced (its file stays). The constants gauges
are the answering worker's own view: every worker watches ZooKeeper and holds
the same generation within a second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from blender.constants_source import Snapshot
from blender.document_metrics import DocumentCollector
from services.errors import CDError

# Sub-millisecond resolution: the target is a p99 of a few milliseconds.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class BlenderMetrics:
    """``multiprocess_dir``: the shared directory of multiprocess mode, which must be
    in ``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is first imported."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        clock: Callable[[], float],
        connected: Callable[[], bool | None] = lambda: None,
        *,
        multiprocess_dir: Path | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(DocumentCollector(snapshot, connected))
        # In multiprocess mode the counters live in files, read back by the collector.
        own: CollectorRegistry | None = self.registry
        if multiprocess_dir is not None:
            if not getattr(values.ValueClass, "_multiprocess", False):
                raise CDError(
                    "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set"
                )
            MultiProcessCollector(self.registry, str(multiprocess_dir))  # type: ignore[no-untyped-call]
            own = None
        self._requests = Counter(
            "cd_blender_requests",
            "POST /v1/blend requests by HTTP status code",
            ["code"],
            registry=own,
        )
        self._seconds = Histogram(
            "cd_blender_request_seconds",
            "Time to handle POST /v1/blend: receive the body, blend, send the response",
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.registry.register(_ConstantsCollector(snapshot, clock))
        self._by_code: dict[int, Counter] = {}
        self._samples = Counter(
            "cd_blender_samples",
            "Sampled blend requests: sent (acknowledged by the broker) or dropped",
            ["result"],
            registry=own,
        )
        for result in ("sent", "dropped"):
            self._samples.labels(result=result)  # both shown from the start, at 0

    def observe(self, code: int, seconds: float) -> None:
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._requests.labels(code=str(code))
        child.inc()
        self._seconds.observe(seconds)

    def count_samples(self, result: str, n: int) -> None:
        """Called off the request path (the sampler's sender), or on a dropped sample."""
        self._samples.labels(result=result).inc(n)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ConstantsCollector(Collector):
    """The constants gauges, computed from the snapshot at scrape time."""

    def __init__(self, snapshot: Callable[[], Snapshot], clock: Callable[[], float]) -> None:
        self._snapshot = snapshot
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        yield GaugeMetricFamily(
            "cd_blender_constants_generation",
            "Generation of the constants in use (NaN: none)",
            value=_or_nan(snap.generation),
        )
        yield GaugeMetricFamily(
            "cd_blender_constants_age_seconds",
            "Seconds since the constants in use were computed (NaN: none)",
            value=_or_nan(snap.age_seconds(self._clock())),
        )


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
