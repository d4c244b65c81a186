"""Every query of the Grafana dashboard, run against the stack's real Prometheus.

Grafana is not available here; Prometheus is what answers Grafana's queries, so each
panel's query must parse and, where the metrics it reads have data, return something
(a panel that says "No data" while the data is there is a broken panel).
"""

from __future__ import annotations

import json
import re
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from pid_controller.run_metrics import RunPusher
from services.local.stack import Stack
from services.zk import ZkStore
from tests.integration.monitoring.conftest import publish_constants, query, wait_for

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy/grafana/controllable-distribution.json"
# Grafana's variables, as Grafana would expand them for "All" over a short range.
GRAFANA_VARIABLES = {"$__rate_interval": "15s", "$policy": ".*"}
METRIC = re.compile(r"\b(cd(?:_[a-z0-9]+)+|cd:[a-z_:]+)\b")


def panels() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        found += [panel, *panel.get("panels", [])]
    return [p for p in found if p["type"] != "row"]


def expand(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a Grafana variable the test does not expand: {expr}"
    return expr


def test_the_dashboard_covers_what_operators_watch() -> None:
    text = DASHBOARD.read_text()
    for metric in (
        "cd_share",
        "cd_target",
        "cd_constant",
        "cd_saturated",
        "cd_counter_events_total",
        "cd_counter_lag",
        "cd_blender_requests_total",
        "cd_blender_request_seconds_bucket",
        "cd_controller_outcome",
    ):
        assert metric in text, metric
    assert all(p.get("targets") and p.get("title") and p.get("description") for p in panels())


@pytest.fixture
def traffic(monitored_stack: Stack, stack_store: ZkStore, prom: httpx.Client) -> None:
    """Data for every panel: a served document, requests (one refused), a pushed run."""
    publish_constants(stack_store, generation=7, counts_complete=False)
    url = f"http://127.0.0.1:{monitored_stack.ports.blender}/v1/blend"
    with httpx.Client(timeout=10) as client:
        wait_for(
            "the blender serves generation 7",
            lambda: client.get(url.replace("blend", "constants")).json()["generation"] == 7,
        )
        for i in range(40):
            body = {"candidates": [{"id": f"c{i}", "content_type": "video", "score": -1.0}]}
            assert client.post(url, json=body).status_code == 200
        assert client.post(url, json={"candidates": "nope"}).status_code == 422
    RunPusher(monitored_stack.pushgateway_url).report("written", time.time() - 2)
    for expr in (
        'cd_blender_requests_total{code="422"}',
        "cd_constants_counts_complete == 0",
        'cd_controller_outcome{outcome="written"} == 1',
    ):
        wait_for(f"Prometheus scraped {expr}", partial(query, prom, expr))


def metrics_with_data(prom: httpx.Client) -> set[str]:
    names: list[str] = prom.get("/api/v1/label/__name__/values").json()["data"]
    return {n for n in names if n.startswith("cd") and query(prom, f"count({n})")}


def test_every_panel_query_answers(traffic: None, prom: httpx.Client) -> None:
    queries = [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]
    assert len(queries) >= 15

    def empty_where_data_exists() -> list[str]:
        have = metrics_with_data(prom)
        return [
            f"{title}: {expr}"
            for title, expr in queries
            if set(METRIC.findall(expr)) <= have and not query(prom, expand(expr))
        ]

    # Rates need two scrapes after the traffic: wait until every query with data answers.
    wait_for("every panel with data answers", lambda: not empty_where_data_exists(), 60)
    # The range-target bounds are the only metrics this document does not give.
    have = metrics_with_data(prom)
    silent = {m for _, expr in queries for m in METRIC.findall(expr)} - have
    assert silent == {"cd_target_min", "cd_target_max"}
