"""``CD_BLENDER_WORKERS=2``: two processes on one port, each with its own watch,
one cache file, and one ``/metrics`` view summing both."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.local.process import blender_process, free_port
from services.local.zookeeper import ZooKeeperServer
from services.zk import ZkStore
from tests.integration.blender.conftest import wait_for, write_constants

BODY = {"candidates": [{"id": "a", "content_type": "video", "score": 0.0}]}


def ask(base: str, path: str) -> httpx.Response:
    """On a fresh connection, so the kernel may hand it to either worker."""
    with httpx.Client(base_url=base, timeout=5) as client:
        return client.get(path)


def pids_serving(base: str, generation: int, pids: set[int]) -> dict[int, float]:
    """For each worker, seconds until it served ``generation`` (polled on fresh connections)."""
    start, seen = time.monotonic(), dict[int, float]()
    while set(seen) != pids and time.monotonic() - start < 10:
        answer = ask(base, "/v1/constants").json()
        if answer["generation"] == generation:
            seen.setdefault(answer["worker_pid"], time.monotonic() - start)
    return seen


def samples(text: str) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_workers_watch_constants_and_share_metrics(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, tmp_path: Path
) -> None:
    write_constants(store, 3, {"default": {"video": 0.5}})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = blender_process(port, zk.hosts, zk_root, tmp_path, CD_BLENDER_WORKERS="2")
    server.start()
    try:
        pids: set[int] = set()

        def both_ready() -> bool:
            answer = ask(base, "/v1/constants").json()
            if answer["generation"] == 3:
                pids.add(answer["worker_pid"])
            return len(pids) == 2

        wait_for(both_ready, 30, "both workers serving generation 3")
        write_constants(store, 4, {"default": {"video": 0.9}})
        changed = pids_serving(base, 4, pids)
        assert set(changed) == pids, f"workers serving generation 4 after 10 s: {changed}"
        # The contract's 1 s is held by test_constants_watch; here two processes share a
        # loaded machine with the rest of the suite, so the bound is looser.
        assert max(changed.values()) < 2.0, changed

        sent = 40
        for _ in range(sent):
            with httpx.Client(base_url=base, timeout=5) as client:
                assert client.post("/v1/blend", json=BODY).status_code == 200
        # Scrapes on fresh connections reach either worker; each must see both's counts.
        for _ in range(10):
            view = samples(ask(base, "/metrics").text)
            assert view["cd_blender_requests_total[('code', '200')]"] == sent
            assert view["cd_blender_request_seconds_count[]"] == sent
            assert view["cd_blender_constants_generation[]"] == 4
        assert (tmp_path / "constants.cache.json").exists()
    finally:
        server.stop()
