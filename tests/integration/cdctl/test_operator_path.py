"""Issue 17 from the operator's side, with the installed ``cdctl`` on a real ZooKeeper:
partial overrides on a new policy, controller status, no-op rollbacks, clearing
overrides, and an unreachable ZooKeeper."""

from __future__ import annotations

import orjson

from pid_controller.recorded import run_recorded
from services.local.process import free_port
from services.local.zookeeper import ZooKeeperServer
from services.zk import ZkStore
from tests.integration.cdctl.test_cdctl import cdctl, targets_json
from tests.integration.pid_controller.test_cli import run as pid_controller
from tests.integration.pid_controller.test_runner_ledger import CONFIG, at, counts


def test_a_partial_override_on_a_new_policy_is_filled_from_the_defaults_and_said(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    r = cdctl(zk, zk_root, "targets", "set", "pol2", "video=0.05", "--kp", "0.2")
    assert r.returncode == 0, r.stderr
    assert "note: policy pol2 had no gains override" in r.stdout
    assert "ki=0.375, kd=0 (CD_CONTROLLER_KI, CD_CONTROLLER_KD); give --ki/--kd" in r.stdout
    # A bound may stand alone (the others follow the settings): nothing filled or said.
    r = cdctl(zk, zk_root, "targets", "set", "pol2", "video=0.05", "--u-min", "-3")
    assert r.returncode == 0, r.stderr
    assert "note:" not in r.stdout
    # A block that exists takes the one field given; nothing is filled, nothing said.
    r = cdctl(zk, zk_root, "targets", "set", "pol2", "video=0.05", "--ki", "0.1")
    assert r.returncode == 0 and "note:" not in r.stdout
    assert targets_json(store) == {
        "schema": 1,
        "policies": {
            "pol2": {
                "targets": {"video": 0.05},
                "gains": {"kp": 0.2, "ki": 0.1, "kd": 0.0},
                "bounds": {"min": -3.0},
            }
        },
    }


def test_controller_status_shows_pause_and_the_last_run_with_its_outcome(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    r = cdctl(zk, zk_root, "controller", "status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "not paused: controller runs write new constants",
        "last run: none recorded (pid-controller run records each run)",
        "constants: none published yet",
    ]
    assert cdctl(zk, zk_root, "targets", "set", "default", "video=0.155").returncode == 0
    run_recorded(store, CONFIG, at=at(0), fetch=counts({"g": (10_000, {"video": 2_000})}))
    shown = cdctl(zk, zk_root, "controller", "status").stdout
    assert ", written: generation 1 for window ending 2026-11-22T15:00:00Z" in shown
    assert "constants: generation 1, computed" in shown

    dead = f"http://127.0.0.1:{free_port()}"
    failed = pid_controller(zk, zk_root, "run", CD_COUNTER_URLS=dead)
    assert failed.returncode == 1
    shown = cdctl(zk, zk_root, "controller", "status").stdout
    assert ", failed: no counter instance answered" in shown

    cdctl(zk, zk_root, "controller", "pause", "--reason", "holiday freeze")
    assert pid_controller(zk, zk_root, "run").returncode == 0
    report = orjson.loads(cdctl(zk, zk_root, "controller", "status", "--json").stdout)
    assert report["paused"]["reason"] == "holiday freeze"
    assert report["last_run"]["outcome"] == "paused"
    assert report["last_run"]["writer"].startswith("pid-controller@")
    assert report["constants"]["generation"] == 1
    since = report["paused"]["since"]
    shown = cdctl(zk, zk_root, "controller", "status").stdout
    assert shown.startswith(f"PAUSED since {since}: holiday freeze.")
    assert "PAUSED since" in cdctl(zk, zk_root, "constants", "show").stdout


def test_rolling_back_to_the_current_generation_writes_nothing_and_says_so(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    assert cdctl(zk, zk_root, "targets", "set", "default", "video=0.155").returncode == 0
    for hour, video in enumerate([2_000, 1_700]):
        run_recorded(store, CONFIG, at=at(hour), fetch=counts({"g": (10_000, {"video": video})}))
    before = store.read(store.paths.constants)
    r = cdctl(zk, zk_root, "constants", "rollback", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (
        "generation 2 is the current one: rolling back to it changes nothing; nothing written"
    )
    assert store.read(store.paths.constants) == before
    assert store.children(store.paths.history) == ["000000000001", "000000000002"]
    assert "as generation 3" in cdctl(zk, zk_root, "constants", "rollback", "1").stdout
    again = cdctl(zk, zk_root, "constants", "rollback", "1")
    assert again.returncode == 0 and "already restores generation 1" in again.stdout
    assert len(store.children(store.paths.history)) == 3


def test_overrides_are_cleared_without_unsetting_the_policy(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    pinned = ["--kp", "0.2", "--ki", "0.3", "--kd", "0", "--u-min", "-2", "--u-max", "2"]
    assert cdctl(zk, zk_root, "targets", "set", "vh", "video=0.08", *pinned).returncode == 0
    r = cdctl(zk, zk_root, "targets", "reset-overrides", "vh", "--gains")
    assert r.returncode == 0 and "gains override dropped" in r.stdout
    assert targets_json(store) == {
        "schema": 1,
        "policies": {"vh": {"targets": {"video": 0.08}, "bounds": {"min": -2.0, "max": 2.0}}},
    }
    assert cdctl(zk, zk_root, "targets", "reset-overrides", "vh").returncode == 0
    assert targets_json(store) == {"schema": 1, "policies": {"vh": {"targets": {"video": 0.08}}}}
    before = store.read(store.paths.targets)
    again = cdctl(zk, zk_root, "targets", "reset-overrides", "vh")
    assert again.returncode == 0 and "nothing written" in again.stdout
    assert store.read(store.paths.targets) == before
    missing = cdctl(zk, zk_root, "targets", "reset-overrides", "nosuch")
    assert missing.returncode == 1 and "no policy 'nosuch'" in missing.stderr


def test_zookeeper_unreachable_names_hosts_and_timeout_without_library_chatter(
    zk: ZooKeeperServer,
) -> None:
    hosts = f"127.0.0.1:{free_port()}"
    args = ("--zk-hosts", hosts, "targets", "show")
    r = cdctl(zk, "/x", *args, env={"CD_ZK_TIMEOUT_SECONDS": "1.5"})
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"cdctl: ZooKeeper not reachable at {hosts} within 1.5 s "
        "(CD_ZK_HOSTS, CD_ZK_TIMEOUT_SECONDS)"
    )
    verbose = cdctl(zk, "/x", "-v", *args, env={"CD_ZK_TIMEOUT_SECONDS": "1.5"})
    assert verbose.returncode == 1 and "kazoo.client" in verbose.stderr
