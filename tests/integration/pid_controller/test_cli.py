"""``pid-controller`` as operators and cron run it: exit codes and what is written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def test_bad_arguments_are_refused(zk: ZooKeeperServer, zk_root: str) -> None:
    r = run(zk, zk_root, "run", "--at", "2026-11-22T15:00:00")
    assert r.returncode == 1 and "--at" in r.stderr and "zone" in r.stderr
    r = run(zk, zk_root, "schedule", "--interval", "0")
    assert r.returncode == 1 and "--interval" in r.stderr


def test_paused_run_says_so_and_exits_zero(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    store.create(store.paths.paused, b'{"reason": "freeze", "since": "2026-11-22T00:00:00Z"}')
    r = run(zk, zk_root, "run")
    assert r.returncode == 0 and "paused" in r.stdout and "freeze" in r.stdout
    assert store.read(store.paths.constants) is None
    assert "no constants" in run(zk, zk_root, "explain").stdout


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
        time.sleep(2.0)  # connected and waiting for the next boundary
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopping" in out
    assert store.read(store.paths.constants) is None
