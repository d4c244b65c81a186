"""A broker that forgot everything under a counter's folder (issue 17), and internal
topics whose settings exact counting cannot use: the counter says so and acts.

Each test runs its own memory broker on a fixed free port, so it can be replaced
by a fresh one (all data gone) at the same address, as ``make down && make up`` does.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from counter_service.state import CounterState
from services import kafka
from services.errors import CDError
from services.local.process import free_port
from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from tests.integration.counter_service.harness import (
    CounterProcess,
    Deployment,
    encode,
    expected_counts,
    make_events,
    produce,
)

TOPIC = "homefeed.impressions"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    server = TansuBroker(tmp_path / "tansu", free_port())
    server.start()
    yield server
    server.stop()


def replace(broker: TansuBroker) -> None:
    """A fresh memory broker at the same address: every topic and offset is gone."""
    broker.stop()
    broker.start()
    kafka.ensure_topics(broker.bootstrap, [kafka.TopicSpec(TOPIC, 2)])


def deployment(broker: TansuBroker, zk: ZooKeeperServer, zk_root: str, work: Path) -> Deployment:
    kafka.ensure_topics(broker.bootstrap, [kafka.TopicSpec(TOPIC, 2)])
    return Deployment(broker.bootstrap, TOPIC, zk.hosts, zk_root, work, group_id="lost")


def exit_code(counter: CounterProcess, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while counter.server.running and time.monotonic() < deadline:
        time.sleep(0.2)
    proc = counter.server.proc
    return None if proc is None else proc.poll()


@pytest.mark.slow
def test_a_folder_past_what_the_broker_holds_is_set_aside_and_rebuilt(
    broker: TansuBroker, zk: ZooKeeperServer, zk_root: str, tmp_path: Path
) -> None:
    d = deployment(broker, zk, zk_root, tmp_path)
    counter = CounterProcess(d, "a")
    try:
        counter.start()
        before = make_events(3_000, int(time.time() * 1000), seed=31)
        produce(d.bootstrap, TOPIC, encode(before))
        counter.wait_counted(len(before))

        # As `make down && make up` did: everything stops, the memory broker forgets.
        counter.kill()
        replace(broker)
        counter.start(timeout=90)  # ready: rebuilt from what the broker holds
        log = counter.server.log_path.read_text()
        assert "moving the local state aside and rebuilding from the broker" in log
        assert list(counter.data_dir.parent.glob("state.damaged-*"))
        after = make_events(2_000, int(time.time() * 1000), seed=32)
        produce(d.bootstrap, TOPIC, encode(after))
        counter.wait_counted(len(after))
        assert counter.counts() == expected_counts(after)
        status = counter.status()
        assert status["events_counted"] == len(after)
        assert status["restore"]["from_snapshot"] is False
    finally:
        counter.kill()


def test_internal_topics_that_would_lose_records_are_refused_by_name(
    broker: TansuBroker, zk: ZooKeeperServer, zk_root: str, tmp_path: Path
) -> None:
    d = deployment(broker, zk, zk_root, tmp_path)
    changelog = f"{TOPIC}.counter-changelog"
    kafka.ensure_topics(
        d.bootstrap, [kafka.TopicSpec(changelog, 1, 1, {"cleanup.policy": "compact"})]
    )
    counter, second = CounterProcess(d, "a"), CounterProcess(d, "b")
    try:
        with contextlib.suppress(CDError):  # it exits before its port opens
            counter.server.start(30)
        assert exit_code(counter, 60) == 2
        assert "cleanup.policy=compact; the counter needs cleanup.policy=delete" in (
            counter.server.log_path.read_text()
        )

        # A folder built on two changelog partitions, a changelog that has one.
        d.extra["CD_COUNTER_CHANGELOG_TOPIC"] = other = f"{TOPIC}.other-changelog"
        second = CounterProcess(d, "b")
        meta = {"source": TOPIC, "changelog": other, "bucket_seconds": 60}
        state = CounterState.open(second.data_dir, meta)
        state.set_changelog_partitions(2)
        state.close()
        with contextlib.suppress(CDError):
            second.server.start(30)
        assert exit_code(second, 60) == 2
        assert f"topic {other} has 1 partitions but the local state" in (
            second.server.log_path.read_text()
        )
    finally:
        counter.kill()
        second.kill()
