"""The samples reader's per-group cap: uniform, bounded, and independent of arrival order."""

from __future__ import annotations

import random
import statistics

import numpy as np

from pid_controller.samples_source import _Reservoir
from services.samples import SampledRequest


def sample(ts: int) -> SampledRequest:
    return SampledRequest(ts, "g", "default", "log", 25, ("video",), np.array([0.0]))


def test_same_records_in_any_order_keep_the_same_samples() -> None:
    records = [(i, i % 3, i // 3) for i in range(3000)]  # (ts, partition, offset)
    kept = []
    for order_seed in (1, 2):
        shuffled = records[:]
        random.Random(order_seed).shuffle(shuffled)  # partitions fetched interleaved
        reservoir = _Reservoir(cap=100, seed=7)
        for ts, partition, offset in shuffled:
            reservoir.offer(ts, partition, offset, sample(ts))
        kept.append([s.ts_ms for s in reservoir.samples()])
        assert reservoir.seen == 3000 and len(reservoir.heap) == 100
    assert kept[0] == kept[1] == sorted(kept[0])


def test_the_cap_takes_a_uniform_sample() -> None:
    reservoir = _Reservoir(cap=1000, seed=3)
    for i in range(20000):
        reservoir.offer(i, 0, i, sample(i))
    kept = [s.ts_ms for s in reservoir.samples()]
    assert len(kept) == 1000
    assert abs(statistics.mean(kept) - 10000) < 600  # ~3 standard errors of 183
    quarters = np.histogram(kept, bins=4, range=(0, 20000))[0]
    assert all(200 < q < 300 for q in quarters)
