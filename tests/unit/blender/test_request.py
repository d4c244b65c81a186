from __future__ import annotations

from typing import Any

import orjson
import pytest

from blender.blend import ScoreSpace
from blender.request import MAX_KNOWN_TYPES, BlendRequest, BodyDecoder, parse_blend_request
from services.errors import InvalidInputError
from tests.unit.blender.helpers import cand


def parse(
    body: Any,
    *,
    raw: bytes | None = None,
    max_candidates: int = 100,
    space: ScoreSpace = "log",
    decoder: BodyDecoder | None = None,
) -> BlendRequest:
    data = raw if raw is not None else orjson.dumps(body)
    return parse_blend_request(
        data, max_candidates=max_candidates, default_space=space, decoder=decoder
    )


def knowing(*names: str) -> BodyDecoder:
    """A decoder that has learnt ``names`` from a request that passed."""
    decoder = BodyDecoder()
    parse({"candidates": [cand(i, n, 1.0) for i, n in enumerate(names)]}, decoder=decoder)
    assert decoder.names == names
    return decoder


def refused(body: Any, **kwargs: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        parse(body, **kwargs)
    return info.value


def test_defaults() -> None:
    req = parse({"candidates": [cand(1, "video", -1.0), cand(2, "image", 2)]})
    assert req.group is None and req.limit is None and not req.explain and req.space == "log"
    assert req.type_names == ["video", "image"] and req.type_codes.tolist() == [0, 1]
    assert req.scores.tolist() == [-1.0, 2.0]


def test_nulls_mean_absent_and_integral_float_limit_is_accepted() -> None:
    req = parse({"candidates": [], "experiment_group": None, "limit": 3.0, "score_space": None})
    assert req.group is None and req.limit == 3 and req.space == "log"


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({}, "candidates", "required field is missing"),
        ({"candidates": [{"id": "a", "score": 1.0}]}, "candidates[0].content_type", "missing"),
        (
            {"candidates": [cand(0, "v", 1), {"id": "a", "content_type": "v"}]},
            "candidates[1].score",
            "missing",
        ),
        (
            {"candidates": [cand(0, "v", 1), cand(1, "v", "x")]},
            "candidates[1].score",
            "expected `float`",
        ),
        ({"candidates": [cand(0, "v", True)]}, "candidates[0].score", "got `bool`"),
        (
            {"candidates": [{"id": "", "content_type": "v", "score": 1}]},
            "candidates[0].id",
            "length >= 1",
        ),
        (
            {"candidates": [{"id": 5, "content_type": "v", "score": 1}]},
            "candidates[0].id",
            "expected `str`",
        ),
        (
            {"candidates": [cand(0, "v", 1), cand(1, "v", 1), cand(2, "Video", 1)]},
            "candidates[2].content_type",
            "not a valid name",
        ),
        (
            {"candidates": [cand(0, "v", 1), cand(1, "", 1)]},
            "candidates[1].content_type",
            "not a valid name",
        ),
        (
            {"candidates": [], "experiment_group": "Bad Group"},
            "experiment_group",
            "not a valid name",
        ),
        ({"candidates": [], "experiment_group": 3}, "experiment_group", "expected `str"),
        ({"candidates": [], "limit": -1}, "limit", "must be an integer >= 0"),
        ({"candidates": [], "limit": 1.5}, "limit", "must be an integer >= 0"),
        ({"candidates": [], "limit": "3"}, "limit", "expected"),
        ({"candidates": [], "limit": True}, "limit", "got `bool`"),
        ({"candidates": [], "explain": 1}, "explain", "expected `bool`"),
        ({"candidates": [], "score_space": "exp"}, "score_space", "invalid enum value"),
        ({"candidates": {}}, "candidates", "expected `array`"),
        ([], "body", "expected `object`"),
    ],
)
def test_refusals_name_field_and_index(body: Any, field: str, problem: str) -> None:
    exc = refused(body)
    assert exc.field == field
    assert problem in exc.problem
    # The same words when the decoder knows the body's content types by name.
    again = refused(body, decoder=knowing("v", "video"))
    assert (again.field, again.problem) == (exc.field, exc.problem)


def test_a_decoder_hands_out_the_names_it_learnt_and_learns_new_valid_ones() -> None:
    # Another decoder with equal names made of other strings first: typing's cache
    # of Literal types then hands both the strings of the first.
    BodyDecoder().learn(["".join(["vid", "eo"]), "".join(["ima", "ge"])])
    decoder = knowing("video", "image")
    body = {"candidates": [cand(0, "image", 1.0), cand(1, "video", 2.0), cand(2, "image", 3)]}
    req = parse(body, decoder=decoder)
    assert [c.content_type for c in req.candidates] == ["image", "video", "image"]
    assert all(
        c.content_type is decoder.names[i] for c, i in zip(req.candidates, [1, 0, 1], strict=True)
    )
    newer = parse({"candidates": [cand(0, "video", 1.0), cand(1, "fresh", 1.0)]}, decoder=decoder)
    assert [c.content_type for c in newer.candidates] == ["video", "fresh"]
    assert decoder.names == ("video", "image", "fresh")
    refused({"candidates": [cand(0, "Bad Type", 1.0)]}, decoder=decoder)
    assert decoder.names == ("video", "image", "fresh")  # nothing learnt from a refusal


def test_a_decoder_learns_a_bounded_number_of_names() -> None:
    decoder = BodyDecoder()
    for i in range(MAX_KNOWN_TYPES + 10):
        req = parse({"candidates": [cand(0, f"type{i}", 1.0)]}, decoder=decoder)
        assert req.candidates[0].content_type == f"type{i}"
    assert len(decoder.names) == MAX_KNOWN_TYPES


@pytest.mark.parametrize("literal", [b"1e999", b"-1e999", b"1" + b"0" * 400])
def test_out_of_range_scores_are_not_finite(literal: bytes) -> None:
    raw = (
        b'{"candidates":[{"id":"a","content_type":"v","score":1},{"id":"b","content_type":"v","score":'
        + literal
        + b"}]}"
    )
    exc = refused(None, raw=raw)
    assert str(exc) == "candidates[1].score: must be a finite number"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"nan"])
def test_nan_and_infinity_literals_are_refused(literal: bytes) -> None:
    raw = b'{"candidates":[{"id":"a","content_type":"v","score":' + literal + b"}]}"
    exc = refused(None, raw=raw)
    assert exc.field == "body" and "not valid JSON" in exc.problem


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"null", b'{"candidates": [}'])
def test_malformed_bodies(raw: bytes) -> None:
    exc = refused(None, raw=raw)
    assert exc.field == "body"


def test_linear_space_needs_positive_scores() -> None:
    body: dict[str, Any] = {"candidates": [cand(0, "v", 1.0), cand(1, "v", 0.0)]}
    assert str(refused(body, space="linear")) == (
        "candidates[1].score: must be > 0 in linear score space"
    )
    body["score_space"] = "linear"
    assert refused(body).field == "candidates[1].score"
    body["score_space"] = "log"
    assert parse(body, space="linear").space == "log"


def test_too_many_candidates() -> None:
    exc = refused({"candidates": [cand(i, "v", 1.0) for i in range(4)]}, max_candidates=3)
    assert exc.field == "candidates" and "at most 3" in exc.problem
    assert (
        len(
            parse(
                {"candidates": [cand(i, "v", 1.0) for i in range(3)]}, max_candidates=3
            ).candidates
        )
        == 3
    )


def test_unknown_fields_are_ignored() -> None:
    req = parse({"candidates": [cand(0, "v", 1) | {"extra": [1]}], "trace": "x"})
    assert req.candidates[0].id == "p0"
