"""``cd-simulate --live`` leaves an operator's targets alone (real ZooKeeper and broker).

A live run refuses a stack whose targets it did not write (unless told to replace
them), writes only the scenario's targets (no gains or bounds nobody asked for),
never overwrites a change made during the run, and says how to get a fresh stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pid_controller.simulator.engine import (
    LoopSettings,
    default_bounds,
    default_gains,
    policy_configs,
)
from pid_controller.simulator.live import LiveController, simulate_live
from pid_controller.simulator.live_stack import Endpoints, EventSink, claim_targets
from pid_controller.simulator.scenario import load_scenario
from services.documents import Bounds, ConstantsDocument, dump_document
from services.errors import CDError, InvalidInputError
from services.local.process import free_port
from services.local.zookeeper import ZooKeeperServer
from services.target_edits import apply_edit, set_targets
from services.zk import ZkStore

FRESH = "make down && make clean && make up"
SIMULATE = str(Path(sys.executable).parent / "cd-simulate")


def _endpoints(zk: ZooKeeperServer, root: str, kafka: str | None = None) -> Endpoints:
    """Nothing listens but ZooKeeper (and the broker if given): a refusal comes first."""
    nowhere = f"127.0.0.1:{free_port()}"
    return Endpoints(
        f"http://{nowhere}", f"http://{nowhere}", kafka or nowhere, "impressions", zk.hosts, root
    )


def _targets(store: ZkStore) -> object:
    node = store.read(store.paths.targets)
    return None if node is None else orjson.loads(node.data)


def test_a_live_run_refuses_targets_it_did_not_write(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    apply_edit(store, set_targets("pol2", {"video": 0.05}, {}))
    before = store.read(store.paths.targets)
    scenario = load_scenario("blog-video").model_copy(update={"hours": 1})
    with pytest.raises(InvalidInputError) as refused:
        simulate_live(scenario, _endpoints(zk, zk_root))
    message = str(refused.value)
    assert "--replace-targets" in message and "pol2" in message and FRESH in message
    assert store.read(store.paths.targets) == before


def test_the_already_has_constants_refusal_says_how_to_get_a_fresh_stack(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    doc = ConstantsDocument.model_validate({"generation": 1, "computed_at": "x", "policies": {}})
    store.create(store.paths.constants, dump_document(doc))
    scenario = load_scenario("blog-video").model_copy(update={"hours": 1})
    with pytest.raises(InvalidInputError, match="already has constants") as refused:
        simulate_live(scenario, _endpoints(zk, zk_root), replace_targets=True)
    assert FRESH in str(refused.value)


def test_targets_written_are_the_scenarios_only_and_a_change_during_the_run_stops_it(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, kafka_bootstrap: str
) -> None:
    pinned = {"gains": {"kp": 0.3, "ki": 0.1, "kd": 0.0}}
    apply_edit(store, set_targets("pol2", {"video": 0.05}, pinned))
    scenario = load_scenario("ab-groups")
    loop = LoopSettings(1, "pid", default_gains(), default_bounds())
    own_bounds = Bounds(min=-2.0, max=2.0)
    scenario = scenario.model_copy(update={"bounds": {"video_heavy": own_bounds}})
    endpoints = _endpoints(zk, zk_root, kafka_bootstrap)
    sink = EventSink(kafka_bootstrap, endpoints.topic)
    claimed = claim_targets(store, replace=True)
    controller = LiveController(endpoints, store, sink, 0, 3600, 1000, loop, claimed)
    controller.configure(policy_configs(scenario, 0, loop.gains, loop.bounds))
    written = _targets(store)
    # The scenario's targets; only its own override; the operator's pol2 is replaced.
    assert written == {
        "schema": 1,
        "policies": {
            p: {
                "targets": t,
                **({"bounds": {"min": -2.0, "max": 2.0}} if p == "video_heavy" else {}),
            }
            for p, t in scenario.targets.items()
        },
    }
    controller.configure(policy_configs(scenario, 0, loop.gains, loop.bounds))  # its own: fine
    apply_edit(store, set_targets("pol2", {"video": 0.05}, {}))  # an operator, mid-run
    theirs = _targets(store)
    with pytest.raises(CDError, match="changed during the live run"):
        controller.configure(policy_configs(scenario, 0, loop.gains, loop.bounds))
    assert _targets(store) == theirs


def test_cd_simulate_live_with_zookeeper_unreachable_says_where_in_one_line() -> None:
    hosts = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "CD_ZK_HOSTS": hosts, "CD_ZK_TIMEOUT_SECONDS": "1"}
    argv = [SIMULATE, "--live", "--scenario", "blog-video", "--hours", "1", "--quiet"]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"cd-simulate: ZooKeeper not reachable at {hosts} within 1 s "
        "(CD_ZK_HOSTS, CD_ZK_TIMEOUT_SECONDS)"
    )
