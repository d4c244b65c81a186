"""Sample records: what one producer encodes, every reader decodes; garbage names its field."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from services.errors import InvalidInputError
from services.samples import SampledRequest, decode_sample, encode_sample


def _sample() -> SampledRequest:
    return SampledRequest(
        ts_ms=1763820000123,
        experiment_group="control",
        policy="default",
        score_space="log",
        slots=25,
        types=("video", "image"),
        scores=np.array([-1.2, -2.0]),
    )


def test_round_trip() -> None:
    back = decode_sample(encode_sample(_sample()))
    assert back.types == ("video", "image")
    assert back.scores.tolist() == [-1.2, -2.0]
    assert (back.ts_ms, back.policy, back.slots, back.score_space) == (
        1763820000123,
        "default",
        25,
        "log",
    )


def test_contract_example_decodes_with_null_slots() -> None:
    raw = orjson.dumps(
        {
            "ts": 1,
            "experiment_group": "control",
            "policy": "default",
            "score_space": "log",
            "slots": None,
            "types": ["video"],
            "scores": [-1.0],
        }
    )
    assert decode_sample(raw).slots is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ts": "x"}, "ts"),
        ({"ts": True}, "ts"),
        ({"policy": "Bad Name"}, "policy"),
        ({"policy": None}, "policy"),
        ({"slots": 0}, "slots"),
        ({"score_space": "cubic"}, "score_space"),
        ({"types": []}, "types"),
        ({"scores": [1.0]}, "scores"),
        ({"types": ["video", "BAD"]}, "types[1]"),
        ({"scores": [-1.0, "nan"]}, "scores[1]"),
        ({"score_space": "linear", "scores": [1.0, -2.0]}, "scores[1]"),
    ],
)
def test_bad_field_is_named(change: dict[str, object], field: str) -> None:
    doc = _sample().to_json() | change
    with pytest.raises(InvalidInputError) as info:
        decode_sample(orjson.dumps(doc))
    assert info.value.field == field


def test_a_type_name_is_one_string_however_many_candidates_carry_it() -> None:
    doc = _sample().to_json() | {"types": ["video", "image"] * 50, "scores": [-1.0] * 100}
    back = decode_sample(orjson.dumps(doc))
    assert back.types == ("video", "image") * 50
    assert len({id(t) for t in back.types}) == 2


@pytest.mark.parametrize(
    ("types", "field"),
    [(["video", "video", "BAD", "BAD"], "types[2]"), (["video", 3, "video"], "types[1]")],
)
def test_the_first_bad_type_is_named_among_repeated_good_ones(
    types: list[object], field: str
) -> None:
    doc = _sample().to_json() | {"types": types, "scores": [-1.0] * len(types)}
    with pytest.raises(InvalidInputError) as info:
        decode_sample(orjson.dumps(doc))
    assert info.value.field == field


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"null"])
def test_not_an_object_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidInputError):
        decode_sample(raw)
