"""A stop request is honoured even when the broker and ZooKeeper are gone.

A graceful stop waits for the broker (flush, fence, commit, leave the group)
and for ZooKeeper (deregistration); with both unreachable those waits have no
useful end, and an orchestrator would have to escalate to SIGKILL. The service
bounds its own stop instead: exactness never depended on a clean stop.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from services.kafka import TopicSpec, ensure_topics
from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from tests.integration.counter_service.harness import (
    CounterProcess,
    Deployment,
    encode,
    make_events,
    produce,
)


def test_stop_is_bounded_with_broker_and_zookeeper_gone(tmp_path: Path) -> None:
    broker, zk = TansuBroker(tmp_path / "tansu"), ZooKeeperServer(tmp_path / "zk")
    broker.start()
    zk.start()
    # Created, not left to the broker: a counter no longer makes Tansu auto-create it.
    ensure_topics(broker.bootstrap, [TopicSpec("stop-test", 2)])
    deployment = Deployment(
        broker.bootstrap,
        "stop-test",
        zk.hosts,
        "/stop-test",
        tmp_path,
        extra={"CD_COUNTER_STOP_GRACE_SECONDS": "3"},
    )
    counter = CounterProcess(deployment, "a")
    try:
        counter.start()
        produce(
            broker.bootstrap, deployment.topic, encode(make_events(500, int(time.time() * 1000)))
        )
        counter.wait_counted(500)
        broker.server.kill()
        zk.stop()
        started = time.monotonic()
        process = counter.server.proc
        assert process is not None
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        took = time.monotonic() - started
        assert took < 3 + 5, f"stop took {took:.1f}s"
        assert code == 1, counter.server.log_tail()
        assert "graceful stop took over 3 s" in counter.server.log_tail()
    finally:
        counter.kill()
        broker.stop()
        zk.stop()
