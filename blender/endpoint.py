"""``POST /v1/blend`` as a bare ASGI handler: the hot path, kept free of framework work.

Profiling showed FastAPI's routing, dependency solving and Request/Response
objects costing more than the blend itself at tens to hundreds of candidates,
so :class:`BlenderAPI` hands this one path straight to :class:`BlendEndpoint`
and everything else to FastAPI. The operation stays declared on the FastAPI app
(same handler logic) so the OpenAPI document describes it.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from blender.blend import ScoreSpace
from blender.constants_source import ConstantsProvider
from blender.limits import Limits
from blender.metrics import BlenderMetrics
from blender.request import BlendRequest, parse_blend_request
from blender.response import blend_response
from blender.sampling import BlendSampler
from services.errors import CDError, InvalidInputError
from services.http import error_response, json_response

log = logging.getLogger(__name__)
BLEND_PATH = "/v1/blend"


class BodyTooLargeError(CDError):
    """The request body is over the configured limit."""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes | None:
    """The body, or None if the client went away; refused early and while streaming.

    Content-Length may be absent (chunked) or lie, so counting the streamed bytes
    is what bounds memory; the header only lets an honest client fail fast.
    """
    declared = _declared_length(scope)
    if declared is not None and declared > max_bytes:
        raise BodyTooLargeError(f"body of {declared} bytes is over {max_bytes}")
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        total += len(chunk)
        if total > max_bytes:
            raise BodyTooLargeError(f"body is over {max_bytes} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _no_sampling(_: BlendRequest) -> None:
    return None


class BlendEndpoint:
    def __init__(
        self,
        provider: ConstantsProvider,
        limits: Limits,
        score_space: ScoreSpace,
        metrics: BlenderMetrics,
        sampler: BlendSampler | None = None,
    ) -> None:
        self._provider = provider
        self._limits = limits
        self._space = score_space
        self._metrics = metrics
        self._sample = sampler.offer if sampler is not None else _no_sampling

    def process(self, body: bytes) -> Response:
        """Parse, blend, encode: the 200 or the 422 naming the field."""
        try:
            parsed = parse_blend_request(
                body, max_candidates=self._limits.max_candidates, default_space=self._space
            )
            response = json_response(blend_response(parsed, self._provider.snapshot()))
            self._sample(parsed)  # at most a queue put: the sampler never waits or raises
            return response
        except InvalidInputError as exc:
            return error_response(422, exc.field, exc.problem)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        code = 499  # until answered: the client closed the connection mid-body
        try:
            try:
                body = await _read_body(scope, receive, self._limits.max_body_bytes)
            except BodyTooLargeError as exc:
                body, response = None, error_response(413, "body", str(exc))
            else:
                if body is None:
                    return
                response = self._timed_process(body, started)
            code = response.status_code
            await response(scope, receive, send)
        finally:
            self._metrics.observe(code, time.perf_counter() - started)

    def _timed_process(self, body: bytes, started: float) -> Response:
        read = time.perf_counter()
        try:
            response = self.process(body)
        except Exception:  # a bug: still answer, in the shared error shape
            log.exception("blend failed")
            response = error_response(500, "", "internal error")
        # Server-Timing lets a load generator see the server's share of the latency:
        # receiving the body (includes waiting for the network) and the blend itself.
        response.headers["server-timing"] = (
            f"body;dur={(read - started) * 1000:.3f}, "
            f"blend;dur={(time.perf_counter() - read) * 1000:.3f}"
        )
        return response

    async def handle(self, request: Request) -> Response:
        """The same logic through FastAPI, for the declared (documented) route."""
        try:
            body = await _read_body(request.scope, request.receive, self._limits.max_body_bytes)
        except BodyTooLargeError as exc:
            return error_response(413, "body", str(exc))
        return self.process(body or b"")


class BlenderAPI(FastAPI):
    """FastAPI for every route but ``POST /v1/blend``, which goes to its bare handler."""

    blend_endpoint: BlendEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.blend_endpoint
        if (
            endpoint is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == BLEND_PATH
        ):
            await endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
