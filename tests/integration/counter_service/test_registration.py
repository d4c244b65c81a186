"""Registration (issue 13): a live instance's znode is never taken over by another."""

from __future__ import annotations

import contextlib
import time

from services.errors import CDError
from services.zk import ZkStore
from tests.integration.counter_service.conftest import CounterFactory
from tests.integration.counter_service.harness import CounterProcess, Deployment


def registered(store: ZkStore, instance: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = store.read(store.paths.counter(instance))
        if node is not None:
            return node
        time.sleep(0.1)
    raise AssertionError(f"{instance} never registered")


def test_a_second_instance_with_the_same_name_refuses_to_start_naming_the_clash(
    deployment: Deployment, counters: CounterFactory, store: ZkStore
) -> None:
    first = counters("twin")
    first.start()
    node = registered(store, "twin")
    assert node.owner != 0 and first.url.encode() in node.data
    # Same name, its own port and data folder (another host, say).
    elsewhere = Deployment(**{**deployment.__dict__, "workdir": deployment.workdir / "elsewhere"})
    second = CounterProcess(elsewhere, "twin")
    try:
        with contextlib.suppress(CDError):  # it may exit before its port is seen open
            second.start(ready=False)
        assert second.server.proc is not None
        assert second.server.proc.wait(timeout=60) == 2
        log = second.server.log_tail(40)
        assert "refusing to start" in log and "another instance is registered as 'twin'" in log
        assert first.url in log  # names what holds the name
    finally:
        second.kill()
    assert store.read(store.paths.counter("twin")) == node  # untouched: same owner, same data
    assert first.status()["ready"]
