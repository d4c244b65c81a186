"""Run real ``counter-service`` processes and produce real events for the tests (and bench)."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from services.local.process import BIN, ServerProcess, free_port, port_open
from services.timebuckets import bucket_of_ms

GROUPS = ("control", "video_heavy", "default")
TYPES = ("video", "image", "fresh", "product")
Key = tuple[str, int, str]


@dataclass
class Deployment:
    """What several instances of one deployment share."""

    bootstrap: str
    topic: str
    zk_hosts: str
    zk_root: str
    workdir: Path
    group_id: str = "counter-test"
    bucket_seconds: int = 60
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    def env(self, instance: str, port: int) -> dict[str, str]:
        return {
            "CD_KAFKA_BOOTSTRAP": self.bootstrap,
            "CD_KAFKA_TOPIC": self.topic,
            "CD_DLQ_TOPIC": self.dlq,
            "CD_ZK_HOSTS": self.zk_hosts,
            "CD_ZK_ROOT": self.zk_root,
            "CD_COUNTER_HOST": "127.0.0.1",
            "CD_COUNTER_ADVERTISED_HOST": "127.0.0.1",
            "CD_COUNTER_PORT": str(port),
            "CD_COUNTER_INSTANCE": instance,
            "CD_COUNTER_GROUP_ID": self.group_id,
            "CD_COUNTER_DATA_DIR": str(self.workdir / instance / "state"),
            "CD_COUNTER_BUCKET_SECONDS": str(self.bucket_seconds),
            "CD_LOG_LEVEL": "INFO",
            **self.extra,
        }


class CounterProcess:
    """One ``counter-service`` process; keeps its port and data folder across restarts."""

    def __init__(self, deployment: Deployment, instance: str) -> None:
        self.instance = instance
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = deployment.workdir / instance / "state"
        self.server = ServerProcess(
            f"counter-{instance}",
            [str(BIN / "counter-service")],
            deployment.workdir / instance / "counter.log",
            lambda: port_open("127.0.0.1", self.port),
            env=deployment.env(instance, self.port),
        )

    def start(self, ready: bool = True, timeout: float = 60.0) -> None:
        self.server.start(timeout)
        if ready:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.server.running:
                raise AssertionError(f"{self.instance} exited:\n{self.server.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.instance} not ready in {timeout}s:\n{self.server.log_tail()}")

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=10)

    def status(self) -> dict[str, Any]:
        response = self.get("/v1/status")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def counts(self, groups: Sequence[str] = ()) -> Counter[Key]:
        """Every stored count at the stored granularity, as ``{(group, bucket, type): n}``."""
        params: dict[str, Any] = {"start": 0, "end": 4_000_000_020, "bucket": 60}
        if groups:
            params["group"] = list(groups)
        response = self.get("/v1/counts", **params)
        response.raise_for_status()
        found: Counter[Key] = Counter()
        for group, rows in response.json()["groups"].items():
            for row in rows:
                for kind, n in row["by_type"].items():
                    found[(group, row["start"], kind)] += n
        return found

    def wait_counted(self, total: int, timeout: float = 120.0, rejected: int = 0) -> None:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status = self.status()
                if status["events_counted"] + status["events_rejected"] >= total + rejected:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(
            f"{self.instance}: not all counted in {timeout}s: {status}\n{self.server.log_tail()}"
        )

    def stop(self) -> None:
        self.server.stop()

    def kill(self) -> None:
        self.server.kill()


def make_events(
    n: int, now_ms: int, seed: int = 1, spread_ms: int = 3_600_000
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        event: dict[str, Any] = {
            "ts": now_ms - rng.randrange(spread_ms),
            "content_type": rng.choice(TYPES),
            "event_id": f"e-{seed}-{i}",
        }
        group = rng.choice(GROUPS)
        if group != "default" or rng.random() < 0.5:
            event["experiment_group"] = group  # "default" both explicit and absent
        events.append(event)
    return events


def expected_counts(events: Iterable[dict[str, Any]], bucket_seconds: int = 60) -> Counter[Key]:
    found: Counter[Key] = Counter()
    for e in events:
        group = e.get("experiment_group") or "default"
        found[(group, bucket_of_ms(e["ts"], bucket_seconds), e["content_type"])] += 1
    return found


def produce(bootstrap: str, topic: str, values: Iterable[bytes], keys: bool = True) -> int:
    """Produce with confluent-kafka; keys spread events over partitions like user ids would."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    )
    count = 0
    for count, value in enumerate(values, 1):
        key = f"u-{count % 977}".encode() if keys else None
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        if count % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    return count


def kcat_env() -> dict[str, str]:
    """Debian's kcat links librdkafka 2.0.2, which cannot parse Tansu's ApiVersion v3
    answer ("Read underflow"); run the same kcat binary on the librdkafka 2.16 that
    confluent-kafka's wheel bundles (same soname, compatible ABI)."""
    import confluent_kafka

    libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so.1"))
    if not found:
        return {}
    shim = Path(tempfile.gettempdir()) / "cd-kcat-librdkafka"
    shim.mkdir(exist_ok=True)
    link = shim / "librdkafka.so.1"
    if not link.exists():  # absent, or dangling: left by a venv since removed
        link.unlink(missing_ok=True)
        with contextlib.suppress(FileExistsError):  # another test process made it meanwhile
            link.symlink_to(found[0])
    return {**os.environ, "LD_LIBRARY_PATH": str(shim)}


def kcat_produce(bootstrap: str, topic: str, values: Sequence[bytes]) -> None:
    """Produce with kcat, a different real Kafka client: ``key<TAB>value`` per line."""
    lines = b"".join(b"k-%d\t%s\n" % (i, v) for i, v in enumerate(values))
    done = subprocess.run(
        ["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t"],
        input=lines,
        capture_output=True,
        timeout=60,
        check=False,
        env=kcat_env() or None,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def encode(events: Iterable[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(e) for e in events]


def read_topic(bootstrap: str, topic: str, partitions: int = 1, idle: float = 2.0) -> list[Any]:
    """Every message of ``topic``, read until fetches come back empty for ``idle`` seconds."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reader",
            "enable.auto.commit": False,
            "fetch.queue.backoff.ms": 10,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    found: list[Any] = []
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < idle:
        batch = consumer.consume(1000, 0.2)
        for msg in batch:
            error = msg.error()
            if error is None:
                found.append(msg)
                quiet_since = time.monotonic()
            elif error.code() != KafkaError._PARTITION_EOF:
                raise AssertionError(str(error))
    consumer.close()
    return found
