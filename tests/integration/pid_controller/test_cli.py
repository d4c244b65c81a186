"""``pid-controller`` as operators and cron run it: exit codes and what is written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from services.documents import ConstantsDocument, dump_document
from services.local.process import free_port
from services.local.zookeeper import ZooKeeperServer
from services.target_edits import apply_edit, set_targets
from services.zk import ZkStore

PID = str(Path(sys.executable).parent / "pid-controller")


def run(zk: ZooKeeperServer, root: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "CD_ZK_HOSTS": zk.hosts, "CD_ZK_ROOT": root, **env}
    return subprocess.run(
        [PID, *args], check=False, env=full, capture_output=True, text=True, timeout=60
    )


def test_missing_targets_or_counter_exit_nonzero_and_write_nothing(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    r = run(zk, zk_root, "run", CD_COUNTER_URLS=dead)
    assert r.returncode == 1 and "no targets" in r.stderr
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    r = run(zk, zk_root, "run", "--at", "2026-11-22T15:00:00Z", CD_COUNTER_URLS=dead)
    assert r.returncode == 1 and "no counter instance answered" in r.stderr
    r = run(zk, zk_root, "run")  # no URLs and nothing registered
    assert r.returncode == 1 and "no counter instance" in r.stderr
    assert store.read(store.paths.constants) is None


def test_bad_arguments_are_usage_errors_exit_2_as_in_cdctl(
    zk: ZooKeeperServer, zk_root: str
) -> None:
    r = run(zk, zk_root, "run", "--at", "2026-11-22T15:00:00")
    assert r.returncode == 2 and "--at" in r.stderr and "zone" in r.stderr
    r = run(zk, zk_root, "run", "--at", "garbage")
    assert r.returncode == 2 and "usage: pid-controller run" in r.stderr
    assert "'garbage' is neither epoch seconds nor an ISO-8601 time" in r.stderr
    r = run(zk, zk_root, "schedule", "--interval", "0")
    assert r.returncode == 2 and "--interval" in r.stderr


def test_zookeeper_unreachable_names_hosts_and_timeout_without_library_chatter(
    zk: ZooKeeperServer, zk_root: str
) -> None:
    hosts = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    r = run(zk, zk_root, "explain", CD_ZK_HOSTS=hosts, CD_ZK_TIMEOUT_SECONDS="1.5")
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"pid-controller: ZooKeeper not reachable at {hosts} within 1.5 s "
        "(CD_ZK_HOSTS, CD_ZK_TIMEOUT_SECONDS)"
    )
    verbose = run(zk, zk_root, "-v", "explain", CD_ZK_HOSTS=hosts, CD_ZK_TIMEOUT_SECONDS="1.5")
    assert verbose.returncode == 1 and "kazoo.client" in verbose.stderr  # asked for: shown
    after = run(zk, zk_root, "explain", "-v", CD_ZK_HOSTS=hosts, CD_ZK_TIMEOUT_SECONDS="1.5")
    assert after.returncode == 1 and "kazoo.client" in after.stderr  # after the command too


def test_a_command_that_works_logs_nothing(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    """No "INFO zookeeper connected" (nor any other line) on every command."""
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    r = run(zk, zk_root, "explain")
    assert r.returncode == 0 and r.stderr == ""


def test_paused_run_says_so_and_exits_zero(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    store.create(store.paths.paused, b'{"reason": "freeze", "since": "2026-11-22T00:00:00Z"}')
    r = run(zk, zk_root, "run")
    assert r.returncode == 0 and "paused" in r.stdout and "freeze" in r.stdout
    assert store.read(store.paths.constants) is None
    explained = run(zk, zk_root, "explain").stdout
    assert "no constants" in explained
    assert "PAUSED since 2026-11-22T00:00:00Z: freeze" in explained


def test_schedule_stops_cleanly_on_sigterm(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    env = {**os.environ, "CD_ZK_HOSTS": zk.hosts, "CD_ZK_ROOT": zk_root}
    proc = subprocess.Popen(
        [PID, "schedule", "--interval", "3600"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Connected, signal handlers installed, waiting for the next boundary: it says
        # so (a fixed sleep was too short on a loaded machine, killing it mid-start).
        assert proc.stdout is not None
        seen = ""
        while "next step at" not in seen:
            line = proc.stdout.readline()
            assert line, f"schedule ended before waiting: {seen}"
            seen += line
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        out = seen + out
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopping" in out
    assert store.read(store.paths.constants) is None


def test_run_at_a_window_that_has_not_ended_exits_2_saying_when_it_ends(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    end = (int(time.time()) // 3600 + 1) * 3600
    at = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.monotonic()
    r = run(zk, zk_root, "run", "--at", at, CD_COUNTER_URLS=f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 2, r.stderr
    assert f"has not ended yet: it ends at {at}" in r.stderr
    assert time.monotonic() - started < 30  # refused, not waited for
    assert store.read(store.paths.constants) is None


def test_explain_prints_shares_as_targets_show_does_and_no_negative_zero(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    diag = {"target": 0.06, "share": 0.06, "impressions": 5000, "error": -0.0}
    doc = ConstantsDocument.model_validate(
        {
            "generation": 2,
            "computed_at": "2026-11-22T15:00:04Z",
            "window_end": "2026-11-22T15:00:00Z",
            "policies": {"default": {"video": -1e-9}},
            "diagnostics": {"default": {"video": {**diag, "p": -0.0, "i": -1e-9, "d": -0.0}}},
        }
    )
    store.create(store.paths.constants, dump_document(doc))
    r = run(zk, zk_root, "explain")
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if "video" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    # policy, type, constant, target, share, predicted, reachable, error, P, I, D
    assert cells[2:11] == ["+0.0000", "6.00%", "6.00%", "-", "-", "0", "0", "-1e-09", "0"]
