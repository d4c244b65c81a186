"""The API thread ends with the stop: a uvloop loop left running while the
interpreter exits crashed the counter with SIGSEGV after "stopped cleanly"."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import FastAPI

from counter_service.http_thread import HttpThread
from services.local.process import free_port


def test_stop_waits_for_the_server_thread_with_a_connection_open() -> None:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    port = free_port()
    http = HttpThread(app, "127.0.0.1", port)
    http.start()
    deadline = time.monotonic() + 10
    while not http.server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert client.get("/ping").json() == {"ok": True}  # the connection stays open
        assert http.stop(timeout=5.0)
        assert not http.thread.is_alive()
        with pytest.raises(httpx.TransportError):
            client.get("/ping")
