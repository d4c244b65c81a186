"""Five-minute windows end to end: ``cd-simulate --live`` with ``window_seconds: 300`` on
the real stack (broker, counters bucketing events, ``pid-controller run`` per 300 s
window, blender), with range targets, against the in-process loop on the same draws."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import pytest

from pid_controller.simulator.engine import simulate
from pid_controller.simulator.live import simulate_live
from pid_controller.simulator.scenario import load_scenario
from services.docstore import read_constants
from services.intervals import Interval
from services.ledger import read_history
from services.local.stack import free_ports, running_stack
from services.timebuckets import parse_time
from services.zk import ZkStore
from tests.integration.pid_controller.stack_endpoints import stack_endpoints

WINDOW = 300
WINDOWS = 4


@pytest.mark.slow
def test_five_minute_windows_with_ranges_run_live_like_in_process(tmp_path: Path) -> None:
    scenario = load_scenario("ranges").model_copy(
        update={"hours": WINDOWS, "requests_per_hour": 300, "window_seconds": WINDOW}
    )
    with running_stack(tmp_path / "stack", ports=free_ports()) as stack:
        endpoints = stack_endpoints(stack.ports)
        # Taken after the stack is up: its start-up can cross a 300 s boundary.
        called = time.time()
        live = simulate_live(scenario, endpoints)
        with ZkStore(endpoints.zk_hosts, endpoints.zk_root) as store:
            published = read_constants(store)
            history, refused = read_history(store, 10)
    assert published is not None and not refused
    # One generation per 5-minute window, windows 300 s apart, the last one ending
    # at the last 300 s boundary before the call (or just after ``called``, should
    # the call itself land on one).
    ends = sorted(parse_time(e.constants.window_end or "", "window_end") for e in history)
    assert len(ends) == WINDOWS and published.doc.generation == WINDOWS
    assert [b - a for a, b in itertools.pairwise(ends)] == [WINDOW] * (WINDOWS - 1)
    assert ends[-1] % WINDOW == 0 and -1 < called - ends[-1] < WINDOW
    # Each window's counts are that window's impressions only (300 requests x 20 slots).
    diags = published.doc.diagnostics["default"]
    assert diags["video"].impressions == 300 * scenario.slots
    # Range targets through the real controller: the range is the target, error 0 inside.
    idea = diags["idea"]
    assert idea.interval() == Interval(0.2, 0.35)
    assert idea.share is not None and 0.2 <= idea.share <= 0.35 and idea.error == 0.0
    assert published.doc.policies["default"]["idea"] == 0.0  # never pushed
    fresh = diags["fresh"]
    assert fresh.interval() == Interval(0.10, 1.0)
    assert published.doc.policies["default"]["fresh"] > 0  # was below its min: pushed up
    # The same loop in process (where the window length is only a label) agrees.
    local = simulate(scenario)
    for lv, lc in zip(live.series, local.series, strict=True):
        assert (lv.policy, lv.type) == (lc.policy, lc.type)
        for a, b in zip(lv.share, lc.share, strict=True):
            assert math.isclose(a, b, rel_tol=0.02)
        assert lv.u == pytest.approx(lc.u, rel=1e-9, abs=1e-12)
