"""``make status``: per component its pid, port and readiness, and the status page URL."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from services.local.process import free_port
from services.local.stack import Ports, Stack, status
from services.local.zookeeper import ZooKeeperServer


def _line(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(name))


def test_status_shows_ports_readiness_and_the_status_page(
    zk: ZooKeeperServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real ZooKeeper (ready) and a blender port nothing answers on (not ready)."""
    blender = free_port()
    stack = Stack(tmp_path, Ports(zk.port, free_port(), blender, (free_port(),)))
    alive = os.getpid()  # a live process for each pid: readiness is what differs
    stack.pidfile.write_text(
        json.dumps({"zookeeper": alive, "blender": alive, "controller": alive})
    )
    assert status(stack) == 1  # one component is not ready
    out = capsys.readouterr().out
    zk_line = _line(out, "zookeeper")
    assert f"port {zk.port}" in zk_line and " ready " in zk_line
    assert f"port {blender}" in _line(out, "blender") and "NOT READY" in _line(out, "blender")
    assert "port " not in _line(out, "controller").split("log:")[0]  # no port, no probe
    assert f"blender status page: http://127.0.0.1:{blender}/" in out
