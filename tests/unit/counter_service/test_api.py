"""The HTTP API over a fake view: semantics, every 422, the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from counter_service.api import aggregate, create_app
from tests.unit.blender.helpers import serve
from tests.unit.counter_service.helpers import FakeView


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serve(create_app(FakeView())) as c:
        yield c


def test_counts_aggregate_aligned_buckets(client: httpx.Client) -> None:
    body = client.get("/v1/counts", params={"start": 0, "end": 7200}).json()
    assert body == {
        "bucket_seconds": 3600,
        "complete_through": 7200,
        "groups": {
            "control": [
                {"start": 0, "total": 3, "by_type": {"image": 2, "video": 1}},
                {"start": 3600, "total": 4, "by_type": {"video": 4}},
            ],
            "default": [{"start": 3600, "total": 16, "by_type": {"image": 16}}],
        },
    }


def test_counts_half_open_iso_and_repeated_groups(client: httpx.Client) -> None:
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("start", "1970-01-01T01:00:00Z"),
        ("end", "1970-01-01T03:01:00+00:00"),
        ("bucket", "60"),
        ("group", "control"),
        ("group", "nobody"),
    ]
    body = client.get("/v1/counts", params=params).json()
    assert body["groups"] == {
        "control": [
            {"start": 3600, "total": 4, "by_type": {"video": 4}},
            {"start": 7200, "total": 8, "by_type": {"video": 8}},
        ],
        "nobody": [],
    }


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("1970-01-01T01Z", "1970-01-01T04+01:00"),
        ("1970-01-01T02:00+0100", "1970-01-01T03:00:00.000000Z"),
    ],
)
def test_every_iso_8601_zone_form_is_accepted(client: httpx.Client, start: str, end: str) -> None:
    params = {"start": start, "end": end, "group": "control"}
    assert (
        client.get("/v1/counts", params=params).json()
        == client.get("/v1/counts", params={"start": 3600, "end": 10800, "group": "control"}).json()
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"end": 60}, "start"),
        ({"start": 0}, "end"),
        ({"start": "soon", "end": 60}, "start"),
        ({"start": 0, "end": "2025-01-01T00:00:00"}, "end"),
        ({"start": 0, "end": 60, "bucket": "x"}, "bucket"),
        ({"start": 0, "end": 60, "bucket": 90}, "bucket"),
        ({"start": 0, "end": 60, "bucket": 0}, "bucket"),
        ({"start": 30, "end": 60}, "start"),
        ({"start": 0, "end": 61}, "end"),
        ({"start": 60, "end": 60}, "end"),
        ({"start": 0, "end": 60, "group": "Bad Name"}, "group"),
        ({"start": -60, "end": 60}, "start"),
        # Outside the declared syntax though parse_time would take them.
        ({"start": "+60", "end": 120}, "start"),
        ({"start": " 60", "end": 120}, "start"),
        ({"start": 0, "end": "2025-11-22 14:00:00Z"}, "end"),
        ({"start": 0, "end": 10**12}, "end"),
        ({"start": 0, "end": 60, "group": "control\n"}, "group"),
    ],
)
def test_every_422_names_the_parameter(
    client: httpx.Client, params: dict[str, Any], field: str
) -> None:
    response = client.get("/v1/counts", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field
    assert body["detail"].startswith(field)


def test_not_restored_answers_503_never_low_counts() -> None:
    with serve(create_app(FakeView(restored=False))) as client:
        assert client.get("/v1/counts", params={"start": 0, "end": 60}).status_code == 503
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200


def test_groups_status_metrics(client: httpx.Client) -> None:
    assert client.get("/v1/groups").json() == {"groups": ["control", "default"]}
    assert client.get("/v1/status").json()["events_counted"] == 31
    metrics = client.get("/metrics").text
    assert 'cd_counter_events_total{result="counted"} 31.0' in metrics
    assert 'cd_counter_events_total{result="rejected"} 2.0' in metrics
    assert "cd_counter_lag 5.0" in metrics


def test_openapi_declares_error_bodies(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/v1/counts"]["get"]["responses"]
    assert set(responses) >= {"200", "422", "503"}
    schema = responses["422"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["detail"]


def test_aggregate_drops_zero_rows_and_sorts() -> None:
    assert aggregate([(120, "b", 1), (0, "a", 0), (60, "a", 2)], 120) == [
        {"start": 0, "total": 2, "by_type": {"a": 2}},
        {"start": 120, "total": 1, "by_type": {"b": 1}},
    ]
