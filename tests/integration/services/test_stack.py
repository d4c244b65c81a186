"""``make down && make up``, twice in a row, on free ports (issue 17, bug 1).

The memory broker forgets everything at ``down``; ``down`` wipes the counters'
folders, and a counter whose folder survives anyway (copied back here, as an
older ``down`` left it) sees that its folder has read past the changelog's end,
sets it aside and rebuilds instead of waiting for a changelog that is gone.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from services.local.stack import Stack, down, free_ports
from tests.integration.counter_service.harness import encode, make_events, produce


def counted(url: str) -> int:
    status = httpx.get(f"{url}/v1/status", timeout=5).json()
    return int(status["events_counted"])


def wait_counted(url: str, total: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while counted(url) < total:
        assert time.monotonic() < deadline, f"{url} counted {counted(url)} of {total}"
        time.sleep(0.2)


@pytest.mark.slow
def test_down_and_up_twice_in_a_row(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "stack", free_ports(), controller=False)
    urls = [f"http://127.0.0.1:{p}" for p in stack.ports.counters]
    kept = tmp_path / "kept"
    try:
        for round_ in range(3):
            procs = stack.up(progress=False)  # raises unless every counter turns ready in time
            assert all(counted(url) == 0 for url in urls)  # the broker forgot the old events
            events = make_events(500, int(time.time() * 1000), seed=round_)
            produce(f"127.0.0.1:{stack.ports.kafka}", "homefeed.impressions", encode(events))
            for url in urls:
                wait_counted(url, len(events))
            if round_ == 0:  # stopped first: a live RocksDB folder cannot be copied whole
                next(p for p in procs if p.name == "counter-1").stop()
                shutil.copytree(stack.home / "counter-1", kept)
            down(stack)
            for proc in procs:  # reaped by down(); let Popen know
                assert proc.proc is not None and proc.proc.poll() is not None
            assert not list(stack.home.glob("counter-*"))
            if round_ == 0:  # a folder that survived its broker, as before the fix
                shutil.copytree(kept, stack.home / "counter-1")
        log = (stack.logs / "counter-1.log").read_text()
        assert "moving the local state aside and rebuilding from the broker" in log
    finally:
        down(stack)
