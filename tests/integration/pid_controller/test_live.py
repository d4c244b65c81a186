"""``cd-simulate --live`` on the real stack (ZooKeeper, broker, two counters, blender,
the real ``pid-controller run``) against the in-process loop on the same draws."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from pid_controller.simulator.engine import simulate
from pid_controller.simulator.live import feed, simulate_live
from pid_controller.simulator.live_stack import Endpoints, wait_until
from pid_controller.simulator.scenario import load_scenario
from services.docstore import read_constants, read_targets
from services.errors import InvalidInputError
from services.local.stack import free_ports, running_stack, status
from services.target_edits import apply_edit, set_targets
from services.zk import ZkStore
from tests.integration.pid_controller.stack_endpoints import stack_endpoints


def _status(endpoints: Endpoints) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{endpoints.counter_url}/v1/status", timeout=5).json()
    return body


@pytest.mark.slow
def test_live_loop_converges_and_agrees_with_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = load_scenario("blog-video").model_copy(update={"hours": 5, "requests_per_hour": 400})
    with running_stack(tmp_path / "stack", ports=free_ports()) as stack:
        p = stack.ports
        endpoints = stack_endpoints(p, counter=1)  # not the first: any one answers
        assert status(stack) == 0  # make status: every component up and ready
        shown = capsys.readouterr().out
        assert all(f"port {port}" in shown for port in (p.zookeeper, p.kafka, *p.counters))
        assert shown.count(" ready ") == 5 and f"http://127.0.0.1:{p.blender}/" in shown
        with ZkStore(endpoints.zk_hosts, endpoints.zk_root) as store:
            # An operator's policy: replaced only because the run is told to.
            apply_edit(store, set_targets("pol2", {"video": 0.05}, {}))
        live = simulate_live(scenario, endpoints, replace_targets=True)
        with ZkStore(endpoints.zk_hosts, endpoints.zk_root) as store:
            published = read_constants(store)
            # Only the scenario's targets: the loop's gains went to the controller as
            # settings, so no override is left behind in the stack.
            targets = read_targets(store).doc.model_dump(by_alias=True, exclude_none=True)
        assert targets == {"schema": 1, "policies": {"default": {"targets": {"video": 0.155}}}}
        with pytest.raises(InvalidInputError, match="fresh stack"):
            simulate_live(scenario, endpoints)
        counted = _status(endpoints)["events_counted"]
        stop = threading.Event()
        timer = threading.Timer(0.5, stop.set)
        timer.start()
        sent = feed(scenario, endpoints, stop, slice_seconds=3)
        timer.join()
        # Real-time traffic is counted too, every impression exactly once.
        expected = counted + sent * scenario.slots
        wait_until(
            "the fed traffic to be counted",
            lambda: _status(endpoints)["events_counted"] == expected,
            30,
        )
    # The live loop's controller solved on the samples the blender published; the
    # in-process one on the same draws: the same requests sampled, the same constants.
    local = simulate(scenario)
    (lv,), (lc,) = live.series, local.series
    assert lv.share[0] > 0.19  # starts near 20 %
    # Solved on the first window's samples, the very next window is on target (5 %).
    assert all(abs(x - 0.155) / 0.155 < 0.05 for x in lv.share[1:]), lv.share
    for a, b in zip(lv.share, lc.share, strict=True):
        assert math.isclose(a, b, rel_tol=0.02)
    assert lv.u == pytest.approx(lc.u, rel=1e-9, abs=1e-12)
    # The last published document describes the last window exactly: one
    # generation per window, the share the counter measured, the same step.
    assert published is not None and published.doc.generation == scenario.hours
    diag = published.doc.diagnostics["default"]["video"]
    assert diag.share == pytest.approx(lc.share[-1], rel=1e-12)
    assert diag.error == pytest.approx(math.log(0.155 / lc.share[-1]), rel=1e-9)
    assert diag.saturated is None and diag.skipped is None
    assert diag.mode == "predictive" and diag.fallback is None
    assert diag.samples == pytest.approx(scenario.requests_per_hour * scenario.sample_rate, rel=0.3)
