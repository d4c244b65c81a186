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
from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import accumulate
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client import metrics as metrics_module
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


REQUESTS = "cd_blender_requests"
REQUESTS_HELP = "POST /v1/blend requests by HTTP status code"
SECONDS = "cd_blender_request_seconds"
SECONDS_HELP = "Time to handle POST /v1/blend: receive the body, blend, send the response"


class BlenderMetrics:
    """``multiprocess_dir``: the shared directory of multiprocess mode, which must be
    in ``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is first imported.

    ``observe(code, seconds)`` counts one ``POST /v1/blend``. With one process the
    counts are plain numbers (:class:`RequestTally`) turned into the metrics at
    scrape time; in multiprocess mode every worker writes them to its files at once,
    so a scrape answered by any worker sees all of them.
    """

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
        self.observe: Callable[[int, float], None]
        # In multiprocess mode the counters live in files, read back by the collector.
        own: CollectorRegistry | None = self.registry
        if multiprocess_dir is not None:
            if not getattr(values.ValueClass, "_multiprocess", False):
                raise CDError(
                    "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set"
                )
            MultiProcessCollector(self.registry, str(multiprocess_dir))  # type: ignore[no-untyped-call]
            own = None
            self.observe = _FileRequests().observe
        else:
            tally = RequestTally(clock)
            self.registry.register(_TallyCollector(tally))
            self.observe = tally.observe
        self.registry.register(_ConstantsCollector(snapshot, clock))
        self._samples = Counter(
            "cd_blender_samples",
            "Sampled blend requests: sent (acknowledged by the broker) or dropped",
            ["result"],
            registry=own,
        )
        for result in ("sent", "dropped"):
            self._samples.labels(result=result)  # both shown from the start, at 0

    def count_samples(self, result: str, n: int) -> None:
        """Called off the request path (the sampler's sender), or on a dropped sample."""
        self._samples.labels(result=result).inc(n)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestTally:
    """One process's request counts and latency histogram as plain numbers.

    prometheus_client's counter and histogram cost about 3 microseconds per request
    (locks, a Python loop over the buckets: profiled), a visible share of a small
    blend; this is a dict update, a bisect and two additions. Only the event loop's
    thread observes and scrapes, so nothing needs a lock.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.created = clock()
        self.by_code: dict[int, int] = {}
        self.code_created: dict[int, float] = {}
        # Per bucket of LATENCY_BUCKETS (plus +Inf), not cumulative: le is "<=".
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, code: int, seconds: float) -> None:
        by_code = self.by_code
        if code in by_code:
            by_code[code] += 1
        else:
            by_code[code] = 1
            self.code_created[code] = self._clock()
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds


class _TallyCollector(Collector):
    """The tally in the exposition prometheus_client's Counter and Histogram give."""

    def __init__(self, tally: RequestTally) -> None:
        self._tally = tally

    def collect(self) -> Iterator[Metric]:
        tally = self._tally
        created = getattr(metrics_module, "_use_created", True)
        requests = CounterMetricFamily(REQUESTS, REQUESTS_HELP, labels=["code"])
        for code, count in tally.by_code.items():
            since = tally.code_created[code] if created else None
            requests.add_metric([str(code)], count, created=since)
        yield requests
        seconds = HistogramMetricFamily(SECONDS, SECONDS_HELP)
        bounds = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]
        seconds.add_metric([], list(zip(bounds, accumulate(tally.buckets), strict=True)), tally.sum)
        if created:
            seconds.add_sample(SECONDS + "_created", {}, tally.created)
        yield seconds


class _FileRequests:
    """Multiprocess mode: each request written to this worker's memory-mapped files."""

    def __init__(self) -> None:
        self._requests = Counter(REQUESTS, REQUESTS_HELP, ["code"], registry=None)
        self._seconds = Histogram(SECONDS, SECONDS_HELP, buckets=LATENCY_BUCKETS, registry=None)
        self._by_code: dict[int, Counter] = {}

    def observe(self, code: int, seconds: float) -> None:
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._requests.labels(code=str(code))
        child.inc()
        self._seconds.observe(seconds)


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
