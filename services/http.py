"""HTTP conventions shared by the blender and the counter service.

One error body everywhere: ``{"detail": "<field>: <problem>", "field": ..., "problem": ...}``
so a caller reads the same shape from every service, and FastAPI's own request
validation errors are folded into it (the first error names the parameter).
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from services.errors import CDError, InvalidInputError, StoreUnavailableError, UpstreamError

log = logging.getLogger(__name__)

ERROR_SCHEMA = {
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "problem": {"type": "string"},
    },
}


def json_response(content: object, status: int = 200) -> Response:
    """orjson-encoded response (FastAPI's ORJSONResponse is deprecated)."""
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def error_body(field: str, problem: str) -> bytes:
    """The error shape as bytes, for handlers that send raw ASGI messages."""
    detail = f"{field}: {problem}" if field else problem
    return orjson.dumps({"detail": detail, "field": field, "problem": problem})


def error_response(status: int, field: str, problem: str) -> Response:
    return Response(error_body(field, problem), status_code=status, media_type="application/json")


def _invalid(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInputError)
    return error_response(422, exc.field, exc.problem)


def _request_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(422, "", "invalid request")
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path")]
    return error_response(422, ".".join(loc), str(first.get("msg", "invalid")))


def _unavailable(_: Request, exc: Exception) -> Response:
    log.warning("dependency unavailable: %s", exc)
    return error_response(503, "", str(exc))


def _internal(_: Request, exc: Exception) -> Response:
    log.error("request failed: %s", exc, exc_info=exc)
    return error_response(500, "", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InvalidInputError, _invalid)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StoreUnavailableError, _unavailable)
    app.add_exception_handler(UpstreamError, _unavailable)
    app.add_exception_handler(CDError, _internal)
