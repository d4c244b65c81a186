"""The real Prometheus of the local stack, with the shipped rules: an alert fires for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.local.process import free_port
from services.local.stack import Stack, status
from services.zk import Delete, ZkStore
from tests.integration.monitoring.conftest import (
    WINDOW_SECONDS,
    firing,
    publish_constants,
    query,
    wait_for,
)

PID = str(Path(sys.executable).parent / "pid-controller")


def test_constants_go_stale_when_the_controller_stops_publishing(
    monitored_stack: Stack,
    prom: httpx.Client,
    stack_store: ZkStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = publish_constants(stack_store, generation=41)
    wait_for(
        "Prometheus scraped the new generation",
        lambda: query(prom, f"cd_blender_constants_generation == {doc.generation}"),
    )
    # Fresh constants: the rule is loaded and evaluated, and quiet.
    assert query(prom, "cd:controller_interval_seconds")[0]["value"][1] == str(WINDOW_SECONDS)
    assert firing(prom, "CDConstantsStale") == []
    # No controller publishes: after two windows the constants are stale.
    [alert] = wait_for("CDConstantsStale firing", lambda: firing(prom, "CDConstantsStale"))
    assert alert["labels"]["job"] == "blender" and alert["labels"]["severity"] == "page"
    assert alert["labels"]["instance"] == f"127.0.0.1:{monitored_stack.ports.blender}"
    assert float(alert["value"]) > 2 * WINDOW_SECONDS
    # `make status` shows it.
    capsys.readouterr()
    status(monitored_stack)
    assert "FIRING CDConstantsStale (page)" in capsys.readouterr().out
    # A new generation clears it.
    publish_constants(stack_store, generation=42)
    wait_for("CDConstantsStale resolved", lambda: not firing(prom, "CDConstantsStale"))


def controller_run(stack: Stack, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PID, "run"],
        check=False,
        env={**os.environ, **stack.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_controller_runs_reach_prometheus_through_the_pushgateway(
    monitored_stack: Stack, prom: httpx.Client, stack_store: ZkStore
) -> None:
    stack_store.create(
        stack_store.paths.paused, b'{"reason": "test", "since": "2026-12-01T00:00:00Z"}'
    )
    try:
        paused = controller_run(monitored_stack)
        assert paused.returncode == 0 and "paused" in paused.stdout, paused.stderr
        [success] = wait_for(
            "the paused run's metrics in Prometheus",
            lambda: query(prom, 'cd_controller_outcome{outcome="paused"} == 1'),
        )
        assert success["metric"]["job"] == "pid-controller"
        last_success = query(prom, "cd_controller_last_success_timestamp_seconds")[0]["value"][1]
        # The Pushgateway down: the run still does its job and exits 0, saying so.
        dead = controller_run(monitored_stack, CD_PUSHGATEWAY_URL=f"http://127.0.0.1:{free_port()}")
        assert dead.returncode == 0 and "paused" in dead.stdout
        assert "not pushed to the Pushgateway" in dead.stderr
    finally:
        node = stack_store.read(stack_store.paths.paused)
        assert node is not None
        stack_store.commit([Delete(stack_store.paths.paused, node.version)])
    # No targets: the run fails, writes nothing, and the failure alert fires.
    failed = controller_run(monitored_stack)
    assert failed.returncode == 1 and "no targets" in failed.stderr
    wait_for("CDControllerRunsFailing firing", lambda: firing(prom, "CDControllerRunsFailing"))
    # The failed run did not erase the last success (pushed with push-add).
    kept = query(prom, "cd_controller_last_success_timestamp_seconds")[0]["value"][1]
    assert kept == last_success
