"""Counter deployments on the session's real broker and ZooKeeper, cleaned up after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from tests.conftest import TopicFactory
from tests.integration.counter_service.harness import CounterProcess, Deployment

PARTITIONS = 4
CounterFactory = Callable[[str], CounterProcess]


@pytest.fixture
def deployment(
    kafka_broker: TansuBroker,
    zk: ZooKeeperServer,
    zk_root: str,
    topic_factory: TopicFactory,
    tmp_path: Path,
) -> Deployment:
    topic = topic_factory("impressions", PARTITIONS)
    # A group of its own: a killed member of another test's group would delay joins.
    return Deployment(
        kafka_broker.bootstrap, topic, zk.hosts, zk_root, tmp_path, group_id=f"{topic}.counter"
    )


@pytest.fixture
def counters(deployment: Deployment, request: pytest.FixtureRequest) -> Iterator[CounterFactory]:
    """``counters("a")`` makes an instance (not started); all are killed after the test."""
    made: list[CounterProcess] = []

    def make(instance: str) -> CounterProcess:
        counter = CounterProcess(deployment, instance)
        made.append(counter)
        return counter

    yield make
    failed = getattr(request.node, "rep_call_failed", False)
    for counter in made:
        if failed:
            print(f"--- {counter.instance} log tail ---\n{counter.server.log_tail(80)}")
        counter.kill()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if call.when == "call":
        item.rep_call_failed = report.failed  # type: ignore[attr-defined]
    return report
