"""A month of history, then a fresh instance: its restore reads about a day's worth.

In-process on the real broker and real RocksDB, with an injected clock
(history.py): a writer's follower applies a month of hourly changelog records
(4 source partitions over 2 changelog partitions), sweeps the retention (one
day here) and takes a snapshot every 12 simulated hours, as the service does;
then a writer killed mid-snapshot leaves chunks without a footer, and a
footer with a chunk missing. A fresh instance restores with the service's own
:func:`restore`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from counter_service import snapshot
from services.local.tansu import TansuBroker
from tests.integration.counter_service.history import (
    Shape,
    live,
    make_topics,
    restore_fresh,
    simulate,
)

DAY = 86_400


@pytest.mark.slow
def test_a_month_of_history_restores_from_a_days_worth(
    kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    bootstrap, shape = kafka_broker.bootstrap, Shape()
    log_topic, snap_topic = make_topics(bootstrap, f"t{uuid.uuid4().hex[:10]}.changelog", shape)
    sim = simulate(
        bootstrap, log_topic, snap_topic, tmp_path / "a", 30 * 24, shape, start=20_700 * DAY
    )
    writer, history, store = sim.writer, sim.history, sim.store
    # A writer killed mid-snapshot: chunks without a footer, and a footer with a chunk missing.
    store._produce(
        snapshot.Chunk(snapshot.CHUNK, "killed", 0, list(writer.state.contents(0).counts)), []
    )
    half = snapshot.Footer(
        snapshot.FOOTER, "half", store.end() + 1, 2, sim.changelog.topic_id, shape.cparts,
        dict.fromkeys(range(shape.cparts), 0), [], 0, 0, [], 0, "w",
    )  # fmt: skip
    store._produce(snapshot.Chunk(snapshot.CHUNK, "half", 1, []), [])
    store._produce(half, [])
    store._flush([0], 0)

    fresh, report = restore_fresh(bootstrap, sim, snap_topic, tmp_path / "b", shape, "b")
    try:
        expected = history.live(int(sim.clock()) - DAY)
        assert live(fresh.state) == live(writer.state) == expected
        assert fresh.state.counted == writer.state.counted == sum(history.expected.values())
        assert {p: fresh.state.next_offset(p) for p in range(shape.sources)} == history.next
        assert report.from_snapshot
        per_day = 24 * shape.sources
        print(f"changelog records: {history.records}, restore read {report.records_read}")
        # A day's worth: the snapshot (a search window, its chunk) plus the six hours
        # since and the fences; a replay would read the whole month.
        assert report.records_read <= per_day + 100 < history.records // 10
    finally:
        for f in (fresh, writer):
            f.stop()
            f.state.close()
