"""The ``blender`` command end to end: settings from CD_ variables, serve, SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from services.local.process import blender_process, free_port
from services.local.zookeeper import ZooKeeperServer
from services.zk import ZkStore
from tests.integration.blender.conftest import wait_for, write_constants


def test_command_serves_constants_and_stops_on_sigterm(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, tmp_path: Path
) -> None:
    write_constants(store, 9, {"default": {"video": 0.5}})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = blender_process(port, zk.hosts, zk_root, tmp_path, CD_SCORE_SPACE="linear")
    server.start()
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            wait_for(lambda: client.get("/readyz").status_code == 200, 10, "ready")
            body = {"candidates": [{"id": "a", "content_type": "video", "score": 2.0}]}
            result = client.post("/v1/blend", json=body).json()
            assert result["constants_generation"] == 9
            assert result["results"][0]["blended_score"] > 2.0  # linear: 2 * exp(0.5)
            negative = {"candidates": [{"id": "a", "content_type": "video", "score": -2.0}]}
            assert client.post("/v1/blend", json=negative).status_code == 422
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal (exit status -15).
        assert server.proc.wait(timeout=15) in (0, -signal.SIGTERM)
        log = server.log_path.read_text()
        assert "Application shutdown complete" in log and "Traceback" not in log
        assert (tmp_path / "constants.cache.json").exists()
    finally:
        server.kill()
