"""The blender's Prometheus metrics (contract section 9), one registry per app.

A registry per app, not the process-global one, so several blender apps can
live in one process (tests, benchmarks) without clashing names. The constants
gauges are computed at scrape time from the current snapshot, so they are never
stale and the request path does not touch them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from blender.constants_source import Snapshot
from blender.document_metrics import DocumentCollector

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
    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        clock: Callable[[], float],
        connected: Callable[[], bool | None] = lambda: None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(DocumentCollector(snapshot, connected))
        self._requests = Counter(
            "cd_blender_requests",
            "POST /v1/blend requests by HTTP status code",
            ["code"],
            registry=self.registry,
        )
        self._seconds = Histogram(
            "cd_blender_request_seconds",
            "Time to handle POST /v1/blend: receive the body, blend, send the response",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        generation = Gauge(
            "cd_blender_constants_generation",
            "Generation of the constants in use (NaN: none)",
            registry=self.registry,
        )
        generation.set_function(lambda: _or_nan(snapshot().generation))
        age = Gauge(
            "cd_blender_constants_age_seconds",
            "Seconds since the constants in use were computed (NaN: none)",
            registry=self.registry,
        )
        age.set_function(lambda: _or_nan(snapshot().age_seconds(clock())))
        self._by_code: dict[int, Counter] = {}
        self._samples = Counter(
            "cd_blender_samples",
            "Sampled blend requests: sent (acknowledged by the broker) or dropped",
            ["result"],
            registry=self.registry,
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


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
