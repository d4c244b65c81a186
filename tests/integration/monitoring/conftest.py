"""One local stack with Prometheus and the Pushgateway for this folder: fast scrapes,
fast rule evaluation, and a five-second controller window for the rules' thresholds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from pid_controller.simulator.live_stack import wait_until
from services.documents import ConstantsDocument, dump_document
from services.local.prometheus import Monitoring
from services.local.stack import Stack, free_ports, running_stack
from services.zk import ZkStore

WINDOW_SECONDS = 5
MONITORING = Monitoring(
    scrape_seconds=1, evaluation_seconds=1, controller_interval_seconds=WINDOW_SECONDS
)


@pytest.fixture(scope="package")
def monitored_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("monitored-stack")
    with running_stack(home, ports=free_ports(), monitoring=MONITORING) as stack:
        yield stack


@pytest.fixture
def prom(monitored_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=monitored_stack.prometheus_url, timeout=10) as client:
        yield client


@pytest.fixture
def stack_store(monitored_stack: Stack) -> Iterator[ZkStore]:
    store = ZkStore(monitored_stack.env["CD_ZK_HOSTS"], "/controllable-distribution", timeout=5.0)
    store.start()
    yield store
    store.stop()


def query(prom: httpx.Client, expr: str) -> list[dict[str, Any]]:
    """An instant query; a query Prometheus refuses fails the test with its error."""
    response = prom.get("/api/v1/query", params={"query": expr})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def firing(prom: httpx.Client, alertname: str) -> list[dict[str, Any]]:
    alerts = prom.get("/api/v1/alerts").json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll until ``check`` returns something truthy; generous: the machine is shared."""
    return wait_until(what, check, timeout, interval=0.25)


def publish_constants(store: ZkStore, generation: int, **extra: Any) -> ConstantsDocument:
    """A constants document computed now, with diagnostics for every gauge."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = ConstantsDocument.model_validate(
        {
            "generation": generation,
            "computed_at": now,
            "window_end": now,
            "policies": {"default": {"video": 5.0, "fresh": -0.3}},
            "diagnostics": {
                "default": {
                    "video": {
                        "target": 0.3,
                        "share": 0.1,
                        "saturated": "upper",
                        "reachable": [0.01, 0.2],
                    },
                    "fresh": {"target": 0.1, "share": 0.11},
                }
            },
            **extra,
        }
    )
    node = store.read(store.paths.constants)
    store.put(store.paths.constants, dump_document(doc), node)
    return doc
