"""The real processes under test: broker, ZooKeeper, two counters, one blender.

Everything runs on free loopback ports with names unique to the run (topic,
consumer group, ZooKeeper roots), so a soak can share a machine, or a test
session's servers, with anything else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.docstore import write_targets
from services.documents import TargetsDocument, validate_document
from services.kafka import TopicSpec, ensure_topics
from services.local.process import ServerProcess, blender_process, free_port
from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from services.zk import ZkStore
from tests.integration.counter_service.harness import CounterProcess, Deployment

# Away from the measured mix (video ~10%, fresh ~20%), so every window moves the constants.
TARGETS: dict[str, Any] = {
    "schema": 1,
    "policies": {
        "default": {"targets": {"video": 0.2, "fresh": 0.1}},
        "video_heavy": {"targets": {"video": 0.3, "product": 0.05}},
    },
}


SNAPSHOT_SECONDS = 0.5


@dataclass
class Cluster:
    broker: TansuBroker
    zk: ZooKeeperServer
    deployment: Deployment
    counters: list[CounterProcess]
    blender: ServerProcess
    blender_port: int
    clean_root: str  # the fault-free reference run's root, same targets

    @property
    def blender_url(self) -> str:
        return f"http://127.0.0.1:{self.blender_port}"

    @property
    def counter_urls(self) -> list[str]:
        return [c.url for c in self.counters]


def set_targets(zk_hosts: str, root: str) -> None:
    with ZkStore(zk_hosts, root) as store:
        write_targets(store, validate_document(TargetsDocument, TARGETS), None)


def start_blender(workdir: Path, zk_hosts: str, root: str) -> tuple[ServerProcess, int]:
    port = free_port()
    blender = blender_process(port, zk_hosts, root, workdir / "blender", CD_LOG_LEVEL="INFO")
    blender.start(60)
    return blender, port


@contextmanager
def running_cluster(workdir: Path, partitions: int) -> Iterator[Cluster]:
    """Start everything; stop (kill) everything on the way out, whatever happened."""
    run_id = uuid.uuid4().hex[:10]
    with ExitStack() as stack:
        broker = TansuBroker(workdir / "tansu")
        broker.start()
        stack.callback(broker.stop)
        zk = ZooKeeperServer(workdir / "zookeeper")
        zk.start()
        stack.callback(zk.stop)
        topic = f"chaos-{run_id}.impressions"
        ensure_topics(broker.bootstrap, [TopicSpec(topic, partitions)])
        root, clean_root = f"/chaos-{run_id}", f"/chaos-{run_id}-clean"
        for r in (root, clean_root):
            set_targets(zk.hosts, r)
        deployment = Deployment(
            broker.bootstrap,
            topic,
            zk.hosts,
            root,
            workdir,
            group_id=f"chaos-{run_id}",
            # A snapshot every half second, so that kills land during snapshots and the
            # restart after the wipe restores from one (the snapshot path is in play).
            extra={"CD_COUNTER_SNAPSHOT_SECONDS": str(SNAPSHOT_SECONDS)},
        )
        counters = [CounterProcess(deployment, name) for name in ("a", "b")]
        for counter in counters:
            stack.callback(counter.kill)
            counter.start()
        blender, port = start_blender(workdir, zk.hosts, root)
        stack.callback(blender.stop)
        yield Cluster(broker, zk, deployment, counters, blender, port, clean_root)
