"""Schemathesis against a real ``counter-service`` process that has counted events.

Every operation gets a few dozen schema-valid and schema-invalid requests,
checked as in the unit test over the fake view
(tests/unit/counter_service/test_openapi_fuzz.py), but answered from the
process's RocksDB state fed through Kafka. The fuzzed document is built from
the code at import (schemathesis's lazy fixture loader does not work with
this pytest); the first test proves it is exactly the one the process serves.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

from counter_service.api import create_app
from services.kafka import TopicSpec, ensure_topics
from services.local.tansu import TansuBroker
from services.local.zookeeper import ZooKeeperServer
from tests.integration.counter_service.conftest import PARTITIONS
from tests.integration.counter_service.harness import (
    CounterProcess,
    Deployment,
    encode,
    make_events,
    produce,
)
from tests.unit.blender.helpers import fuzz_settings
from tests.unit.counter_service.helpers import FakeView, call_and_validate

EVENTS = 500
DOCUMENT = create_app(FakeView()).openapi()  # the granularity is the deployment's: 60 s
assert FakeView.bucket_seconds == Deployment.bucket_seconds
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def live_counter(
    kafka_broker: TansuBroker, zk_server: ZooKeeperServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CounterProcess]:
    """One ready instance with ``EVENTS`` counted impressions, shared by the module."""
    if not zk_server.running:
        zk_server.start()
    topic = f"t{uuid.uuid4().hex[:10]}.impressions"
    ensure_topics(kafka_broker.bootstrap, [TopicSpec(topic, PARTITIONS)])
    workdir = Path(tmp_path_factory.mktemp("counter-fuzz"))
    root = f"/cd-test-{uuid.uuid4().hex[:12]}"
    deployment = Deployment(
        kafka_broker.bootstrap, topic, zk_server.hosts, root, workdir, group_id=f"{topic}.c"
    )
    counter = CounterProcess(deployment, "fuzz")
    try:
        counter.start()
        events = make_events(EVENTS, int(time.time() * 1000), seed=7)
        produce(deployment.bootstrap, topic, encode(events))
        counter.wait_counted(EVENTS)
        yield counter
    finally:
        counter.kill()


def test_served_document_is_the_fuzzed_one_and_counts_are_there(
    live_counter: CounterProcess,
) -> None:
    assert httpx.get(f"{live_counter.url}/openapi.json", timeout=5).json() == DOCUMENT
    # The instance really holds counts, so 200 bodies are not all empty.
    assert sum(live_counter.counts().values()) == EVENTS


@SCHEMA.parametrize()
@fuzz_settings(30)
def test_live_api_conforms(case: schemathesis.Case[Any], live_counter: CounterProcess) -> None:
    call_and_validate(case, live_counter.url)
