"""The blender's HTTP API (contract section 6) as an app factory.

``create_app`` takes everything as arguments (constants provider, limits,
score space, clock) so tests and benchmarks build apps side by side without
environment variables. ``POST /v1/blend`` is served by a bare ASGI handler
(:mod:`blender.endpoint`) with msgspec decoding: FastAPI's body models and
per-request machinery would cost more than the blend itself. It is still
declared here, with its schemas from :mod:`blender.schemas`, so the OpenAPI
document stays exact.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from blender.blend import ScoreSpace
from blender.constants_source import ConstantsProvider
from blender.endpoint import BlendEndpoint, BlenderAPI
from blender.limits import Limits
from blender.metrics import BlenderMetrics
from blender.sampling import BlendSampler
from blender.schemas import (
    BLEND_RESPONSE_SCHEMA,
    CONSTANTS_RESPONSE_SCHEMA,
    ERROR_413,
    ERROR_422,
    STATUS_SCHEMA,
    blend_request_schema,
    json_content,
    text_content,
)
from blender.status_page import render_status_page
from services.http import install_error_handlers, json_response

EMPTY_DOCUMENT: dict[str, Any] = {
    "schema": 1,
    "generation": None,
    "computed_at": None,
    "window_end": None,
    "rolled_back_from": None,
    "policies": {},
    "diagnostics": {},
}


def create_app(
    provider: ConstantsProvider,
    *,
    limits: Limits | None = None,
    score_space: ScoreSpace = "log",
    clock: Callable[[], float] = time.time,
    sampler: BlendSampler | None = None,
    metrics_dir: Path | None = None,
) -> BlenderAPI:
    """A blender app; its lifespan starts and stops ``provider`` (ZooKeeper session)
    and ``sampler`` (candidate samples to Kafka, flushed with a bound on stop).

    ``metrics_dir``: one of several worker processes sharing their metrics there."""
    limits = limits or Limits()
    metrics = BlenderMetrics(
        provider.snapshot,
        clock,
        lambda: provider.zookeeper_connected,
        multiprocess_dir=metrics_dir,
    )
    if sampler is not None:
        sampler.counts.report = metrics.count_samples
    app = BlenderAPI(title="blender", version="1", lifespan=_lifespan(provider, sampler))
    install_error_handlers(app)
    app.blend_endpoint = BlendEndpoint(provider, limits, score_space, metrics, sampler)
    _add_blend_route(
        app, app.blend_endpoint, blend_request_schema(limits.max_candidates, score_space)
    )
    _add_constants_route(app, provider, clock)
    _add_probe_routes(app, provider, metrics)
    _add_status_page(app, provider, clock)
    return app


def _lifespan(
    provider: ConstantsProvider, sampler: BlendSampler | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # start() reads the cache file and stop() closes the ZooKeeper session:
        # both may wait on I/O, so neither runs on the event loop.
        await anyio.to_thread.run_sync(provider.start)
        if sampler is not None:
            sampler.start()
        try:
            yield
        finally:
            if sampler is not None:
                await anyio.to_thread.run_sync(sampler.stop)
            await anyio.to_thread.run_sync(provider.stop)

    return lifespan


def _add_blend_route(app: FastAPI, endpoint: BlendEndpoint, request_schema: dict[str, Any]) -> None:
    # Requests normally reach the endpoint through BlenderAPI's shortcut; this
    # declaration documents the operation (and serves it if the shortcut is bypassed).
    @app.post(
        "/v1/blend",
        response_class=Response,
        responses={
            200: json_content(BLEND_RESPONSE_SCHEMA, "Candidates re-ranked, best first"),
            413: ERROR_413,
            422: ERROR_422,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request_schema}},
            }
        },
    )
    async def blend(request: Request) -> Response:
        return await endpoint.handle(request)


def _add_constants_route(
    app: FastAPI, provider: ConstantsProvider, clock: Callable[[], float]
) -> None:
    @app.get(
        "/v1/constants",
        response_class=Response,
        responses={200: json_content(CONSTANTS_RESPONSE_SCHEMA, "The constants in use")},
    )
    async def constants() -> Response:
        snap = provider.snapshot()
        doc = snap.doc
        body = EMPTY_DOCUMENT if doc is None else doc.model_dump(mode="json", by_alias=True)
        return json_response(
            {
                **body,
                "source": snap.source,
                "age_seconds": snap.age_seconds(clock()),
                "last_error": snap.last_error,
                "last_error_at": snap.last_error_at,
                "zookeeper_connected": provider.zookeeper_connected,
                "paused": None if snap.paused is None else snap.paused.model_dump(mode="json"),
                # Which process answered: with several workers, each has its own watch.
                "worker_pid": os.getpid(),
            }
        )


def _add_probe_routes(app: FastAPI, provider: ConstantsProvider, metrics: BlenderMetrics) -> None:
    @app.get(
        "/healthz",
        response_class=Response,
        responses={200: json_content(STATUS_SCHEMA, "The process runs")},
    )
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get(
        "/readyz",
        response_class=Response,
        responses={
            200: json_content(STATUS_SCHEMA, "Constants known (or known to be absent)"),
            503: json_content(STATUS_SCHEMA, "Still waiting for ZooKeeper or the cache"),
        },
    )
    async def readyz() -> Response:
        if provider.snapshot().ready:
            return json_response({"status": "ready"})
        return json_response({"status": "waiting for constants"}, 503)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: text_content("text/plain", "Prometheus text format")},
    )
    async def metrics_endpoint() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)


def _add_status_page(app: FastAPI, provider: ConstantsProvider, clock: Callable[[], float]) -> None:
    @app.get(
        "/",
        response_class=HTMLResponse,
        responses={200: text_content("text/html", "Status page for people")},
    )
    async def status_page() -> HTMLResponse:
        snap = provider.snapshot()
        return HTMLResponse(render_status_page(snap, clock(), provider.zookeeper_connected))
