"""The request metrics counted as plain numbers read exactly as prometheus_client's
own Counter and Histogram would show them (contract section 9)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from blender.constants_source import StaticConstants
from blender.metrics import (
    LATENCY_BUCKETS,
    REQUESTS,
    REQUESTS_HELP,
    SECONDS,
    SECONDS_HELP,
    BlenderMetrics,
)

# On and between bucket bounds, past the last one, and at zero.
OBSERVED = [(200, 0.0005), (200, 0.0004), (422, 0.001), (200, 3.0), (413, 0.0021), (200, 0.0)]


def request_lines(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines() if "cd_blender_request" in line]


def test_tally_exposition_equals_prometheus_clients() -> None:
    metrics = BlenderMetrics(StaticConstants(None).snapshot, lambda: 1_000.0)
    registry = CollectorRegistry()
    counter = Counter(REQUESTS, REQUESTS_HELP, ["code"], registry=registry)
    histogram = Histogram(SECONDS, SECONDS_HELP, buckets=LATENCY_BUCKETS, registry=registry)
    for code, seconds in OBSERVED:
        metrics.observe(code, seconds)
        counter.labels(code=str(code)).inc()
        histogram.observe(seconds)
    ours, theirs = request_lines(metrics.render()[0]), request_lines(generate_latest(registry))
    # Identical but for the creation times, which are prometheus_client's own clock.
    assert [line for line in ours if "_created{" not in line and "_created 1" not in line] == [
        line for line in theirs if "_created{" not in line and "_created 1" not in line
    ]
    assert [line.split(" ")[0] for line in ours] == [line.split(" ")[0] for line in theirs]
    assert 'cd_blender_requests_created{code="422"} 1000.0' in ours
