"""Schemathesis against the blender's OpenAPI document, over real HTTP.

Every operation of the document is fuzzed with schema-valid and schema-invalid
input and every response goes through all of schemathesis's checks: no 5xx,
status code, content type, headers and body as declared, valid input accepted,
invalid input refused with a 4xx. The app is served by real uvicorn on loopback
(the fast-path ``POST /v1/blend`` handler is only reachable that way), once with
each default score space, since the declared request schema differs between them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI

from blender.app import create_app
from blender.blend import ScoreSpace
from blender.constants_source import StaticConstants
from blender.limits import Limits
from tests.unit.blender.helpers import constants_doc, fuzz_settings, serve

NOW = datetime(2026, 11, 22, 15, 1, 4, tzinfo=UTC).timestamp()
# Two policies, so a request naming "video_heavy" blends with other constants than
# one falling back to "default"; large constants push blended scores far apart.
DOC = constants_doc(
    {
        "default": {"video": 1.5, "image": -0.25, "fresh": -700.0},
        "video_heavy": {"video": 800.0, "image": -2.0},
    }
)
# Small limits keep generated bodies (and the run) small; the declared schema
# carries them (maxItems), so the 422 for too many candidates is fuzzed as well.
LIMITS = Limits(max_candidates=50, max_body_bytes=64 * 1024)


def build_app(space: ScoreSpace) -> FastAPI:
    return create_app(StaticConstants(DOC), limits=LIMITS, score_space=space, clock=lambda: NOW)


LOG_APP, LINEAR_APP = build_app("log"), build_app("linear")
# The same document the app serves at /openapi.json (test_served_document checks that).
LOG_SCHEMA = schemathesis.openapi.from_dict(LOG_APP.openapi())
LINEAR_BLEND = schemathesis.openapi.from_dict(LINEAR_APP.openapi()).include(
    method="POST", path="/v1/blend"
)

FUZZ = fuzz_settings(150)


@pytest.fixture(scope="module")
def log_client() -> Iterator[httpx.Client]:
    with serve(LOG_APP) as client:
        yield client


@pytest.fixture(scope="module")
def linear_client() -> Iterator[httpx.Client]:
    with serve(LINEAR_APP) as client:
        yield client


def test_served_document_is_the_fuzzed_one(log_client: httpx.Client) -> None:
    assert log_client.get("/openapi.json").json() == LOG_APP.openapi()


@LOG_SCHEMA.parametrize()
@FUZZ
def test_log_space_api_conforms(case: schemathesis.Case[Any], log_client: httpx.Client) -> None:
    case.call_and_validate(base_url=str(log_client.base_url))


@LINEAR_BLEND.parametrize()
@FUZZ
def test_linear_space_blend_conforms(
    case: schemathesis.Case[Any], linear_client: httpx.Client
) -> None:
    case.call_and_validate(base_url=str(linear_client.base_url))
