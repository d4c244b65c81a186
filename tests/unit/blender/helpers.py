"""Shared builders for the blender's unit tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from hypothesis import HealthCheck, settings
from starlette.types import ASGIApp

from services.documents import ConstantsDocument, validate_document
from services.local.process import free_port


def constants_doc(
    policies: dict[str, dict[str, float]], generation: int = 7, **extra: Any
) -> ConstantsDocument:
    data: dict[str, Any] = {
        "schema": 1,
        "generation": generation,
        "computed_at": "2026-11-22T15:00:04Z",
        "window_end": "2026-11-22T15:00:00Z",
        "rolled_back_from": None,
        "policies": policies,
        "diagnostics": {},
    }
    return validate_document(ConstantsDocument, data | extra)


def cand(i: int | str, content_type: str, score: object) -> dict[str, Any]:
    return {"id": f"p{i}", "content_type": content_type, "score": score}


@contextmanager
def serve(app: ASGIApp) -> Iterator[httpx.Client]:
    """Run ``app`` under real uvicorn on a free loopback port; yield a client for it.

    Starlette's TestClient warns about httpx (an error under our warning filter),
    and a real server also exercises Content-Length and chunked bodies for real.
    """
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def fuzz_settings(max_examples: int) -> settings:
    """Schemathesis runs: reproducible in CI, no example database, no deadline
    (a real HTTP round trip per example)."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
