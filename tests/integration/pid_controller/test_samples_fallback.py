"""``pid-controller run`` with the samples topic absent or full of garbage: the PID
step for the window, ``fallback`` saying why, exit 0 (contract section 10)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from services import kafka
from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from services.target_edits import apply_edit, set_targets
from services.timebuckets import iso, last_full_window_end
from services.zk import ZkStore
from tests.conftest import TopicFactory
from tests.integration.counter_service.harness import CounterProcess, Deployment, produce

PID = str(Path(sys.executable).parent / "pid-controller")


def _impressions(start: int, n: int) -> list[bytes]:
    """One window of impressions of the default group: 20 % video."""
    return [
        orjson.dumps(
            {
                "ts": start * 1000 + i * 1000 * 3600 // n,
                "content_type": "video" if i % 5 == 0 else "image",
                "event_id": f"e{i}",
            }
        )
        for i in range(n)
    ]


@pytest.fixture
def counted_window(
    kafka_broker: TansuBroker,
    zk: ZooKeeperServer,
    zk_root: str,
    topic_factory: TopicFactory,
    tmp_path: Path,
) -> Iterator[tuple[int, str]]:
    """A counter that has counted the last full hour; the window's end and its URL."""
    topic = topic_factory("impressions", 1)
    deployment = Deployment(
        kafka_broker.bootstrap, topic, zk.hosts, zk_root, tmp_path, group_id=f"{topic}.c"
    )
    counter = CounterProcess(deployment, "c1")
    counter.start()
    end = last_full_window_end(int(time.time()), 3600)
    sent = produce(kafka_broker.bootstrap, topic, _impressions(end - 3600, 2000))
    counter.wait_counted(sent)
    yield end, counter.url
    counter.kill()


def _run(
    zk: ZooKeeperServer, root: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "CD_ZK_HOSTS": zk.hosts, "CD_ZK_ROOT": root, **env}
    return subprocess.run(
        [PID, "run", *args], check=False, env=full, capture_output=True, text=True, timeout=120
    )


def _printed(stdout: str) -> dict[str, Any]:
    """The document a dry run prints after its message line."""
    doc: dict[str, Any] = orjson.loads(stdout[stdout.index("{") :])
    return doc


def test_absent_or_garbage_samples_give_a_pid_step_with_fallback(
    counted_window: tuple[int, str],
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    zk: ZooKeeperServer,
    zk_root: str,
    store: ZkStore,
) -> None:
    end, counter_url = counted_window
    apply_edit(store, set_targets("default", {"video": 0.15}, {}))
    garbage = topic_factory("blend-samples", 1)
    producer = Producer(kafka.producer_config(kafka_bootstrap))
    for i, value in enumerate([b"not json", b'{"ts": 1}', b"[]"] * 30):
        producer.produce(garbage, value, timestamp=(end - 3600) * 1000 + i)  # in the window
    assert producer.flush(15) == 0
    env = {
        "CD_COUNTER_URLS": counter_url,
        "CD_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CD_CONTROLLER_MAX_WAIT_SECONDS": "0",
        "CD_CONTROLLER_SAMPLES_TIMEOUT_SECONDS": "10",
        "CD_CONTROLLER_SAMPLES_GRACE_SECONDS": "0",
    }
    at = iso(end)
    dry = _run(zk, zk_root, "--at", at, "--dry-run", CD_SAMPLES_TOPIC=garbage, **env)
    assert dry.returncode == 0, dry.stderr
    printed = _printed(dry.stdout)
    assert printed["samples_skipped"] == 90  # every record of the window, skipped and counted
    diag = printed["diagnostics"]["default"]["video"]
    assert diag["mode"] == "pid" and diag["fallback"] == "too_few_samples"
    assert diag["samples"] == 0 and diag["share"] == pytest.approx(0.2)
    assert store.read(store.paths.constants) is None  # a dry run writes nothing

    absent = _run(zk, zk_root, "--at", at, CD_SAMPLES_TOPIC=garbage + "-absent", **env)
    assert absent.returncode == 0, absent.stderr
    node = store.read(store.paths.constants)
    assert node is not None
    written = orjson.loads(node.data)["diagnostics"]["default"]["video"]
    assert written["mode"] == "pid" and written["fallback"] == "samples_unavailable"
    assert written["error"] == pytest.approx(-0.2876820724517809)  # ln(0.15 / 0.2): a PID step
