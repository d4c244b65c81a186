"""Exactly once across kill -9, an instance lost for good, a zombie, and a lost folder.

Every check is exact equality per (group, bucket, type) with what was produced.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

import httpx
import pytest
from confluent_kafka import Producer

from counter_service import changelog
from tests.integration.counter_service.conftest import PARTITIONS, CounterFactory
from tests.integration.counter_service.harness import (
    CounterProcess,
    Deployment,
    encode,
    expected_counts,
    make_events,
    produce,
    read_topic,
)


class Load(threading.Thread):
    """Produces ``values`` in chunks with pauses, so the load spans the faults."""

    def __init__(self, deployment: Deployment, values: Sequence[bytes], chunks: int, pause: float):
        super().__init__(daemon=True)
        self.deployment, self.values, self.chunks, self.pause = deployment, values, chunks, pause
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            size = -(-len(self.values) // self.chunks)
            for start in range(0, len(self.values), size):
                produce(
                    self.deployment.bootstrap,
                    self.deployment.topic,
                    self.values[start : start + size],
                )
                time.sleep(self.pause)
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def finish(self) -> None:
        self.join(120)
        assert not self.is_alive() and self.error is None, self.error


def owned(counter: CounterProcess) -> int:
    return sum(p["owned"] for p in counter.status()["partitions"])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate``; an instance that does not answer yet (HTTP errors) is waited
    for, any other exception (a bug in the test or the answer) fails at once."""
    deadline = time.monotonic() + timeout
    last: httpx.HTTPError | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last HTTP error: {last!r})")


@pytest.mark.slow
def test_kill_9_five_times_during_a_200k_load(
    deployment: Deployment, counters: CounterFactory
) -> None:
    rng = random.Random(20261123)
    now = int(time.time() * 1000)
    events = make_events(200_000, now, seed=5)
    values = encode(events)
    bad_at = set(rng.sample(range(len(values)), 300))
    for i in bad_at:
        values[i] = b'{"ts": "bad", "content_type": "video"}'
    good = [e for i, e in enumerate(events) if i not in bad_at]

    counter = counters("a")
    counter.start()
    load = Load(deployment, values, chunks=40, pause=0.25)
    load.start()
    for kill in range(5):
        time.sleep(rng.uniform(0.5, 3.0))
        counter.kill()
        counter.start(ready=kill % 2 == 0)  # odd kills hit restore or the group join
    load.finish()
    counter.wait_ready()
    counter.wait_counted(len(good), rejected=len(bad_at), timeout=120)

    assert counter.counts() == expected_counts(good)
    status = counter.status()
    assert (status["events_counted"], status["events_rejected"]) == (len(good), len(bad_at))
    # Dead letters may repeat after a kill, recognisable by cd-source; none is missing.
    letters = read_topic(deployment.bootstrap, deployment.dlq, PARTITIONS)
    sources = Counter(dict(m.headers())["cd-source"] for m in letters)
    assert len(sources) == len(bad_at)


@pytest.mark.slow
def test_an_instance_lost_for_good(deployment: Deployment, counters: CounterFactory) -> None:
    a, b = counters("a"), counters("b")
    a.start()
    b.start()
    wait_for(lambda: owned(a) + owned(b) == PARTITIONS and owned(b) > 0, 30, "a shared load")
    events = make_events(60_000, int(time.time() * 1000), seed=6)
    load = Load(deployment, encode(events), chunks=20, pause=0.2)
    load.start()
    time.sleep(2.0)
    b.kill()
    load.finish()
    a.wait_counted(len(events), timeout=90)
    assert a.counts() == expected_counts(events)
    assert owned(a) == PARTITIONS


@pytest.mark.slow
def test_a_zombie_resumed_after_its_partitions_moved(
    deployment: Deployment, counters: CounterFactory
) -> None:
    # A backlog keeps b busy, so SIGSTOP most likely lands mid-batch and b, resumed,
    # publishes a record for a range the new owner already covered.
    backlog = make_events(80_000, int(time.time() * 1000), seed=7)
    produce(deployment.bootstrap, deployment.topic, encode(backlog))
    a, b = counters("a"), counters("b")
    a.start()
    b.start()
    wait_for(lambda: owned(a) + owned(b) == PARTITIONS and owned(b) > 0, 30, "a shared load")
    assert b.server.proc is not None
    os.kill(b.server.proc.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: owned(a) == PARTITIONS, 40, "a to take every partition")
        a.wait_counted(len(backlog), timeout=60)
    finally:
        os.kill(b.server.proc.pid, signal.SIGCONT)
    more = make_events(20_000, int(time.time() * 1000), seed=17)
    load = Load(deployment, encode(more), chunks=10, pause=0.2)
    load.start()
    load.finish()
    expected = expected_counts(backlog + more)
    d, topic = deployment, changelog_topic(deployment)
    for counter in (a, b):
        counter.wait_counted(len(backlog) + len(more), timeout=90)
        assert counter.counts() == expected

    # Whatever the timing did, the zombie's records are skipped: every record that does
    # not start where its partition's applied ranges end is stale, and a skipped them.
    # Then one of b's own records, now behind, is written again, as a zombie would.
    records = [changelog.decode(m.value()) for m in read_topic(d.bootstrap, topic)]
    stale, ends = stale_records(records)
    zombie = next(
        r for r in records if r.kind == changelog.DATA and r.writer.startswith("b/")
        and r.from_offset < ends[r.partition]
    )  # fmt: skip
    print(f"{len(stale)} stale records, {sum(r.writer.startswith('b/') for r in stale)} by b")
    produce(d.bootstrap, topic, [changelog.encode(zombie)], keys=False)
    assert stale_records([*records, zombie])[0] == [*stale, zombie]
    # ">=": a heartbeat appended after our read may be skipped too.
    wait_for(lambda: a.status()["changelog_records_skipped"] >= len(stale) + 1, 20, "skips")
    assert a.counts() == expected
    assert a.status()["events_counted"] == len(backlog) + len(more)


def stale_records(
    records: list[changelog.Record],
) -> tuple[list[changelog.Record], dict[int, int]]:
    """The data records the apply rule skips, replaying it over the changelog's order
    (one changelog partition here, so the read order is the log's order), and where
    each source partition's applied ranges end."""
    ends: dict[int, int] = {}
    stale = []
    for record in records:
        if record.kind != changelog.DATA:
            continue
        if changelog.applies(ends.get(record.partition, 0), record):
            ends[record.partition] = record.to_offset
        else:
            stale.append(record)
    return stale, ends


def changelog_topic(deployment: Deployment) -> str:
    return f"{deployment.topic}.counter-changelog"


def test_lost_or_damaged_folder_is_rebuilt_exactly(
    deployment: Deployment, counters: CounterFactory
) -> None:
    counter = counters("a")
    counter.start()
    first = make_events(20_000, int(time.time() * 1000), seed=8)
    produce(deployment.bootstrap, deployment.topic, encode(first))
    counter.wait_counted(len(first))
    counter.stop()

    shutil.rmtree(counter.data_dir)
    counter.start()  # ready means restored: the counts must already be exact
    assert counter.counts() == expected_counts(first)
    counter.stop()

    for path in counter.data_dir.iterdir():
        if path.is_file():
            path.write_bytes(b"\x00garbage")
    counter.start()
    assert counter.counts() == expected_counts(first)
    assert list(counter.data_dir.parent.glob("state.damaged-*"))

    more = make_events(5_000, int(time.time() * 1000), seed=9)
    produce(deployment.bootstrap, deployment.topic, encode(more))
    counter.wait_counted(len(first) + len(more))
    assert counter.counts() == expected_counts(first + more)


def test_a_writer_whose_record_lost_the_race_resyncs(
    deployment: Deployment, counters: CounterFactory
) -> None:
    """Another writer covers the next range of partition 0 first: a's own record for that
    range is skipped, a re-reads through a fence, seeks past it and keeps counting exactly."""
    counter = counters("a")
    counter.start()
    warmup = make_events(1_000, int(time.time() * 1000), seed=10)
    produce(deployment.bootstrap, deployment.topic, encode(warmup))
    counter.wait_counted(len(warmup))
    start = next(p["offset"] for p in counter.status()["partitions"] if p["partition"] == 0)

    raced = make_events(500, int(time.time() * 1000), seed=11)
    counts = expected_counts(raced)
    rival = changelog.data_record(
        0,
        start,
        start + len(raced),
        "rival/1",
        1,
        dict(counts),
        counted=len(raced),
        rejected=0,
        max_ts=max(e["ts"] for e in raced),
    )
    produce(
        deployment.bootstrap, changelog_topic(deployment), [changelog.encode(rival)], keys=False
    )
    producer = Producer({"bootstrap.servers": deployment.bootstrap})
    for value in encode(raced):
        producer.produce(deployment.topic, value, partition=0)
    assert producer.flush(30) == 0

    counter.wait_counted(len(warmup) + len(raced))
    after = make_events(3_000, int(time.time() * 1000), seed=12)
    produce(deployment.bootstrap, deployment.topic, encode(after))
    counter.wait_counted(len(warmup) + len(raced) + len(after))
    assert counter.counts() == expected_counts(warmup + raced + after)
    assert counter.status()["changelog_records_skipped"] >= 1
    assert "were skipped" in counter.server.log_path.read_text()
