"""Property tests: no input makes the blend fail, and every valid input is accepted.

These mirror what a schema-driven checker does against the OpenAPI document:
arbitrary JSON must get 200 or 422 (never 500), and requests valid by the
declared schema must get 200 with a well-formed body.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blender.blend import ScoreSpace
from blender.constants_source import StaticConstants
from blender.endpoint import BlendEndpoint
from blender.limits import Limits
from blender.metrics import BlenderMetrics
from services.names import NAME_RE
from tests.unit.blender.helpers import constants_doc

DOC = constants_doc({"default": {"video": 3.0, "fresh": -700.0}, "g1": {"video": 800.0}})


def endpoint(space: ScoreSpace = "log") -> BlendEndpoint:
    provider = StaticConstants(DOC)
    metrics = BlenderMetrics(provider.snapshot, lambda: 0.0)
    return BlendEndpoint(provider, Limits(max_candidates=20), space, metrics)


LOG, LINEAR = endpoint("log"), endpoint("linear")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
names = st.from_regex(NAME_RE, fullmatch=True) | st.sampled_from(["video", "fresh", "g1"])
near_candidate = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=3) | json_values,
        "content_type": names | json_values,
        "score": st.floats(allow_infinity=False, allow_nan=False) | json_values,
    },
)
near_request = st.fixed_dictionaries(
    {},
    optional={
        "candidates": st.lists(near_candidate, max_size=25) | json_values,
        "experiment_group": names | json_values,
        "limit": st.integers(-3, 30) | json_values,
        "explain": st.booleans() | json_values,
        "score_space": st.sampled_from(["log", "linear", None]) | json_values,
    },
)


def status_and_body(ep: BlendEndpoint, payload: bytes) -> tuple[int, Any]:
    status, body = ep.process(payload)
    return status, orjson.loads(body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, near_request), st.sampled_from([LOG, LINEAR]))
def test_any_json_gets_200_or_422(value: Any, ep: BlendEndpoint) -> None:
    # The standard library encodes integers of any size, which is a case of its own.
    status, body = status_and_body(ep, json.dumps(value).encode())
    assert status in (200, 422)
    if status == 422:
        assert set(body) == {"detail", "field", "problem"} and body["detail"]


@given(st.binary(max_size=64))
def test_any_bytes_get_200_or_422(raw: bytes) -> None:
    assert status_and_body(LOG, raw)[0] in (200, 422)


def valid_requests(space: ScoreSpace) -> st.SearchStrategy[dict[str, Any]]:
    floats = st.floats(allow_nan=False, allow_infinity=False)
    scores = floats.filter(lambda x: x > 0) if space == "linear" else floats
    candidate = st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=5), "content_type": names, "score": scores}
    )
    return st.fixed_dictionaries(
        {"candidates": st.lists(candidate, max_size=20)},
        optional={
            "experiment_group": names | st.none(),
            "limit": st.integers(0, 30) | st.none(),
            "explain": st.booleans(),
        },
    )


def valid_cases() -> st.SearchStrategy[tuple[ScoreSpace, dict[str, Any]]]:
    spaces: tuple[ScoreSpace, ...] = ("log", "linear")
    return st.one_of(*(st.tuples(st.just(s), valid_requests(s)) for s in spaces))


@settings(max_examples=200)
@given(valid_cases())
def test_valid_requests_are_accepted(case: tuple[ScoreSpace, dict[str, Any]]) -> None:
    space, request = case
    status, body = status_and_body(endpoint(space), orjson.dumps(request))
    assert status == 200, body
    results = body["results"]
    limit = request.get("limit")
    assert len(results) == min(len(request["candidates"]), limit if limit is not None else 10**9)
    blended = [r["blended_score"] for r in results]
    assert all(isinstance(b, float) and math.isfinite(b) for b in blended)
    assert blended == sorted(blended, reverse=True)
    assert all(("constant" in r) == request.get("explain", False) for r in results)
