"""Schemathesis against the counter's OpenAPI document, over real HTTP.

Every operation is fuzzed with schema-valid and schema-invalid input, and
every response goes through all of schemathesis's checks: no 5xx, status
code, content type, headers and body as declared, valid input accepted,
invalid input refused with a 4xx. The app runs under real uvicorn over the
fake view of ``test_api.py``; once restored, and once still restoring (where
``/v1/counts`` answers its declared 503).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis

from counter_service.api import create_app
from tests.unit.blender.helpers import fuzz_settings, serve
from tests.unit.counter_service.helpers import FakeView, call_and_validate

APP = create_app(FakeView())
RESTORING_APP = create_app(FakeView(restored=False))
SCHEMA = schemathesis.openapi.from_dict(APP.openapi())
RESTORING_COUNTS = schemathesis.openapi.from_dict(RESTORING_APP.openapi()).include(
    method="GET", path="/v1/counts"
)

FUZZ = fuzz_settings(100)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serve(APP) as c:
        yield c


@pytest.fixture(scope="module")
def restoring_client() -> Iterator[httpx.Client]:
    with serve(RESTORING_APP) as c:
        yield c


def test_served_document_is_the_fuzzed_one(client: httpx.Client) -> None:
    assert client.get("/openapi.json").json() == APP.openapi()


@SCHEMA.parametrize()
@FUZZ
def test_api_conforms(case: schemathesis.Case[Any], client: httpx.Client) -> None:
    call_and_validate(case, str(client.base_url))


@RESTORING_COUNTS.parametrize()
@FUZZ
def test_restoring_counts_conform(
    case: schemathesis.Case[Any], restoring_client: httpx.Client
) -> None:
    call_and_validate(case, str(restoring_client.base_url), restoring=True)
