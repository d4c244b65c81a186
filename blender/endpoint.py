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
from blender.plan import Plans
from blender.request import BlendRequest, BodyDecoder, parse_blend_request
from blender.response import blend_response, encode_response
from blender.sampling import BlendSampler
from services.errors import CDError, InvalidInputError
from services.http import error_body

log = logging.getLogger(__name__)
BLEND_PATH = "/v1/blend"
JSON = b"application/json"


class BodyTooLargeError(CDError):
    """The request body is over the configured limit."""


# A client (a load generator, an engineer with curl) asks for the server's own
# timings with this request header; the answer then carries ``Server-Timing``.
# Off unless asked: formatting and sending it cost a few percent of a small blend.
TIMING_REQUEST = b"cd-server-timing"


def _request_headers(scope: Scope) -> tuple[int | None, bool]:
    """The declared body length (None: absent or not a number) and whether the
    client asked for ``Server-Timing``: one pass over the headers for both."""
    declared, timing = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            declared = int(value) if value.isdigit() else None
        elif name == TIMING_REQUEST:
            timing = True
    return declared, timing


async def _read_body(receive: Receive, declared: int | None, max_bytes: int) -> bytes | None:
    """The body, or None if the client went away; refused early and while streaming.

    Content-Length may be absent (chunked) or lie, so counting the streamed bytes
    is what bounds memory; the header only lets an honest client fail fast.
    """
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
        self._plans = Plans(provider.snapshot)
        self._decoder = BodyDecoder()
        self._max_candidates = limits.max_candidates
        self._max_body = limits.max_body_bytes
        self._space = score_space
        self._metrics = metrics
        self._sample = sampler.offer if sampler is not None else _no_sampling

    def process(self, body: bytes) -> tuple[int, bytes]:
        """Parse, blend, encode: the 200 or the 422 naming the field, as status and body."""
        plans = self._plans.current()  # one snapshot for the whole request
        try:
            parsed = parse_blend_request(
                body,
                max_candidates=self._max_candidates,
                default_space=self._space,
                types=plans.blend,
                decoder=self._decoder,
            )
            body = encode_response(blend_response(parsed, plans.plan(parsed.group, parsed.space)))
            self._sample(parsed)  # at most a queue put: the sampler never waits or raises
            return 200, body
        except InvalidInputError as exc:
            return 422, error_body(exc.field, exc.problem)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Straight ASGI messages: a Starlette Response per request cost more than the
        rest of a small blend's handling."""
        started = time.perf_counter()
        code = 499  # until answered: the client closed the connection mid-body
        try:
            declared, timed = _request_headers(scope)
            timing = b""
            try:
                body = await _read_body(receive, declared, self._max_body)
            except BodyTooLargeError as exc:
                code, content = 413, error_body("body", str(exc))
            else:
                if body is None:
                    return
                if timed:
                    code, content, timing = self._timed_answer(body, started)
                else:
                    code, content = self._answer(body)
            headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(content))]
            if timing:
                headers.append((b"server-timing", timing))
            await send({"type": "http.response.start", "status": code, "headers": headers})
            await send({"type": "http.response.body", "body": content})
        finally:
            self._metrics.observe(code, time.perf_counter() - started)

    def _answer(self, body: bytes) -> tuple[int, bytes]:
        try:
            return self.process(body)
        except Exception:  # a bug: still answer, in the shared error shape
            log.exception("blend failed")
            return 500, error_body("", "internal error")

    def _timed_answer(self, body: bytes, started: float) -> tuple[int, bytes, bytes]:
        """The answer and its ``Server-Timing``: the server's share of the latency,
        receiving the body (includes waiting for the network) and the blend itself."""
        read = time.perf_counter()
        code, content = self._answer(body)
        timing = b"body;dur=%.3f, blend;dur=%.3f" % (
            (read - started) * 1000,
            (time.perf_counter() - read) * 1000,
        )
        return code, content, timing

    async def handle(self, request: Request) -> Response:
        """The same logic through FastAPI, for the declared (documented) route."""
        declared, _ = _request_headers(request.scope)
        try:
            body = await _read_body(request.receive, declared, self._max_body)
        except BodyTooLargeError as exc:
            code, content = 413, error_body("body", str(exc))
        else:
            code, content = self.process(body or b"")
        return Response(content, status_code=code, media_type="application/json")


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
