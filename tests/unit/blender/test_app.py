from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from blender.app import create_app
from blender.blend import ScoreSpace
from blender.constants_source import StaticConstants
from blender.limits import Limits
from services.documents import ConstantsDocument
from tests.unit.blender.helpers import cand, constants_doc, serve

NOW = datetime(2026, 11, 22, 15, 1, 4, tzinfo=UTC).timestamp()  # computed_at + 60 s

DOC = constants_doc(
    {"default": {"video": 1.0, "fresh": -0.5}, "video_heavy": {"video": 2.0}},
    diagnostics={
        "default": {
            "video": {"target": 0.04, "share": 0.01, "saturated": "upper"},
            "fresh": {"target": 0.1, "share": 0.1},
        }
    },
)


def make_client(
    doc: ConstantsDocument | None = DOC,
    *,
    space: ScoreSpace = "log",
    limits: Limits | None = None,
) -> AbstractContextManager[httpx.Client]:
    app = create_app(StaticConstants(doc), limits=limits, score_space=space, clock=lambda: NOW)
    return serve(app)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client() as c:
        yield c


def blend(client: httpx.Client, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = client.post("/v1/blend", json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def ids(body: dict[str, Any]) -> list[str]:
    return [r["id"] for r in body["results"]]


def test_blend_log_space_orders_by_blended_score(client: httpx.Client) -> None:
    body = blend(
        client,
        {
            "candidates": [
                cand(0, "image", 0.0),
                cand(1, "video", -0.5),
                cand(2, "fresh", 0.2),
                cand(3, "other", 0.6),
            ]
        },
    )
    assert body["policy"] == "default" and body["constants_generation"] == 7
    assert ids(body) == ["p3", "p1", "p0", "p2"]
    scores = {r["id"]: r["blended_score"] for r in body["results"]}
    assert scores == {"p0": 0.0, "p1": 0.5, "p2": pytest.approx(-0.3), "p3": 0.6}
    assert set(body["results"][0]) == {"id", "content_type", "score", "blended_score"}


def test_ties_keep_input_order_and_limit_cuts(client: httpx.Client) -> None:
    cands = [cand(i, "image", 1.0) for i in range(5)] + [cand(9, "video", 0.5)]
    body = blend(client, {"candidates": cands})
    assert ids(body) == ["p9", "p0", "p1", "p2", "p3", "p4"]
    assert ids(blend(client, {"candidates": cands, "limit": 3})) == ["p9", "p0", "p1"]
    assert ids(blend(client, {"candidates": cands, "limit": 0})) == []
    assert len(blend(client, {"candidates": cands, "limit": 100})["results"]) == 6


def test_explain_adds_constant(client: httpx.Client) -> None:
    body = blend(
        client,
        {"explain": True, "candidates": [cand(0, "video", 0.0), cand(1, "image", 0.0)]},
    )
    assert [(r["id"], r["constant"]) for r in body["results"]] == [("p0", 1.0), ("p1", 0.0)]


def test_linear_space_and_per_request_override() -> None:
    cands = [cand(0, "video", 1.0), cand(1, "image", 2.0), cand(2, "fresh", 3.0)]
    with make_client(space="linear") as client:
        body = blend(client, {"candidates": cands})
        assert ids(body) == ["p0", "p1", "p2"]
        assert [r["blended_score"] for r in body["results"]] == pytest.approx(
            [math.e, 2.0, 3.0 * math.exp(-0.5)]
        )
        log_body = blend(client, {"candidates": cands, "score_space": "log"})
        assert ids(log_body) == ["p2", "p0", "p1"]  # 2.5, then a tie at 2.0 in input order
        assert [r["blended_score"] for r in log_body["results"]] == [2.5, 2.0, 2.0]
    with make_client(space="log") as client:
        body = blend(client, {"candidates": cands, "score_space": "linear"})
        assert body["results"][0]["blended_score"] == pytest.approx(math.e)


@pytest.mark.parametrize(
    ("group", "policy", "video_constant"),
    [
        ("video_heavy", "video_heavy", 2.0),  # its own policy
        ("control", "default", 1.0),  # unknown group follows default
        ("default", "default", 1.0),
        (None, "default", 1.0),  # absent group
    ],
)
def test_policy_rules(
    client: httpx.Client, group: str | None, policy: str, video_constant: float
) -> None:
    body: dict[str, Any] = {"candidates": [cand(0, "video", 0.0)], "explain": True}
    if group is not None:
        body["experiment_group"] = group
    result = blend(client, body)
    assert result["policy"] == policy
    assert result["results"][0]["constant"] == video_constant


def test_own_policy_without_a_type_gives_zero_not_default(client: httpx.Client) -> None:
    body = {"experiment_group": "video_heavy", "explain": True, "candidates": [cand(0, "fresh", 0)]}
    assert blend(client, body)["results"][0]["constant"] == 0.0


def test_no_constants_blends_with_zero() -> None:
    with make_client(None) as client:
        body = blend(client, {"experiment_group": "x", "candidates": [cand(0, "video", -1.0)]})
        assert body == {
            "policy": "default",
            "constants_generation": None,
            "results": [
                {"id": "p0", "content_type": "video", "score": -1.0, "blended_score": -1.0}
            ],
        }
        constants = client.get("/v1/constants").json()
        assert constants["source"] == "none" and constants["age_seconds"] is None
        assert constants["generation"] is None and constants["policies"] == {}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"candidates": [cand(0, "v", 1), cand(1, "v", 1), {"id": "x", "content_type": "v"}]},
            "candidates[2].score: required field is missing",
        ),
        ({"candidates": [cand(0, "v", "1")]}, "candidates[0].score: expected `float`, got `str`"),
        (
            {"candidates": [cand(0, "v", 1), cand(1, "v", -1)], "score_space": "linear"},
            "candidates[1].score: must be > 0 in linear score space",
        ),
        ({"candidates": [cand(0, "BAD", 1)]}, "candidates[0].content_type"),
        ({"candidates": [], "experiment_group": "no spaces"}, "experiment_group"),
        ({"candidates": [{"id": "", "content_type": "v", "score": 1}]}, "candidates[0].id"),
        ({"candidates": [cand(i, "v", 1) for i in range(11)]}, "candidates: at most 10"),
    ],
)
def test_422_names_field_and_index(body: dict[str, Any], detail: str) -> None:
    with make_client(limits=Limits(max_candidates=10, max_body_bytes=4096)) as client:
        response = client.post("/v1/blend", json=body)
        assert response.status_code == 422
        error = response.json()
        assert error["detail"].startswith(detail)
        assert set(error) == {"detail", "field", "problem"}


def test_422_for_non_finite_literals(client: httpx.Client) -> None:
    for literal in (b"1e999", b"NaN", b"Infinity"):
        raw = b'{"candidates":[{"id":"a","content_type":"v","score":' + literal + b"}]}"
        response = client.post("/v1/blend", content=raw)
        assert response.status_code == 422, literal
    raw = b'{"candidates":[{"id":"a","content_type":"v","score":1e999}]}'
    assert client.post("/v1/blend", content=raw).json()["detail"] == (
        "candidates[0].score: must be a finite number"
    )


def test_overflowing_blend_saturates(client: httpx.Client) -> None:
    body = {
        "score_space": "linear",
        "candidates": [cand(0, "image", 1), cand(1, "video", 1e308), cand(2, "video", 1.5e308)],
    }
    result = blend(client, body)
    assert ids(result) == ["p1", "p2", "p0"]  # both saturate: a tie, input order kept
    assert result["results"][0]["blended_score"] == 1.7976931348623157e308


def test_413_by_content_length_and_by_streamed_bytes() -> None:
    limits = Limits(max_candidates=10_000, max_body_bytes=2048)
    big = {"candidates": [cand(i, "video", 1.0) for i in range(100)]}
    with make_client(limits=limits) as client:
        response = client.post("/v1/blend", json=big)
        assert response.status_code == 413
        assert response.json()["field"] == "body"

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
            yield b'{"candidates": ['
            for i in range(100):
                yield b'{"id":"p%d","content_type":"v","score":1},' % i
            yield b'{"id":"x","content_type":"v","score":1}]}'

        response = client.post("/v1/blend", content=chunks())
        assert response.status_code == 413
        small = {"candidates": [cand(i, "video", 1.0) for i in range(5)]}
        assert client.post("/v1/blend", json=small).status_code == 200


def test_constants_endpoint(client: httpx.Client) -> None:
    body = client.get("/v1/constants").json()
    assert body["generation"] == 7 and body["source"] == "zookeeper"
    assert body["age_seconds"] == pytest.approx(60.0)
    assert body["policies"]["video_heavy"] == {"video": 2.0}
    assert body["last_error"] is None
    assert body["diagnostics"]["default"]["video"]["saturated"] == "upper"


def test_health_ready_and_status_page(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for needle in ("Generation", "video_heavy", "+2.0000", "zookeeper", "saturated", "60 s"):
        assert needle in html, needle
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_metrics(client: httpx.Client) -> None:
    blend(client, {"candidates": [cand(0, "video", 0.0)]})
    client.post("/v1/blend", json={"candidates": "nope"})
    text = client.get("/metrics").text
    assert 'cd_blender_requests_total{code="200"} 1.0' in text
    assert 'cd_blender_requests_total{code="422"} 1.0' in text
    assert "cd_blender_request_seconds_bucket" in text
    assert "cd_blender_request_seconds_count 2.0" in text
    assert "cd_blender_constants_generation 7.0" in text
    assert "cd_blender_constants_age_seconds 60.0" in text


def test_two_apps_in_one_process_have_separate_metrics() -> None:
    with make_client() as a, make_client() as b:
        blend(a, {"candidates": []})
        assert 'code="200"' not in b.get("/metrics").text


def test_server_timing_header_when_asked(client: httpx.Client) -> None:
    body = {"candidates": [cand(0, "video", 0.0)]}
    asked = client.post("/v1/blend", json=body, headers={"Cd-Server-Timing": "1"})
    assert asked.status_code == 200
    assert "blend;dur=" in asked.headers["server-timing"]
    plain = client.post("/v1/blend", json=body)
    assert plain.status_code == 200
    assert "server-timing" not in plain.headers


def test_openapi_declares_blend_and_constants_schemas(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    blend_op = spec["paths"]["/v1/blend"]["post"]
    request_schema = blend_op["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema["required"] == ["candidates"]
    assert request_schema["properties"]["candidates"]["maxItems"] == 10_000
    assert set(blend_op["responses"]) >= {"200", "413", "422"}
    ok = blend_op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["required"] == ["policy", "constants_generation", "results"]
    constants_op = spec["paths"]["/v1/constants"]["get"]
    assert (
        "source"
        in constants_op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    )
