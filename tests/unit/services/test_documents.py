from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.documents import (
    MAX_DOCUMENT_BYTES,
    ConstantsDocument,
    CounterRegistration,
    PausedDocument,
    TargetsDocument,
    dump_document,
    parse_document,
)
from services.errors import InvalidInputError
from services.ledger import ControllerStateDocument, HistoryEntry

EXAMPLE_TARGETS = {
    "schema": 1,
    "policies": {
        "default": {"targets": {"video": 0.04, "fresh": 0.10}},
        "video_heavy": {
            "targets": {"video": 0.08},
            "gains": {"kp": 0.15, "ki": 0.35, "kd": 0.0},
            "bounds": {"min": -5, "max": 5},
        },
    },
}
EXAMPLE_CONSTANTS = {
    "schema": 1,
    "generation": 17,
    "computed_at": "2026-11-22T15:00:04Z",
    "window_end": "2026-11-22T15:00:00Z",
    "rolled_back_from": None,
    "policies": {"default": {"video": 0.31, "fresh": -0.12}},
    "diagnostics": {
        "default": {
            "video": {
                "target": 0.04,
                "share": 0.035,
                "impressions": 91234,
                "error": 0.1335,
                "p": 0.05,
                "i": 0.24,
                "d": 0.02,
                "saturated": None,
                "skipped": None,
            }
        }
    },
}


def test_contract_examples_roundtrip() -> None:
    targets = parse_document(TargetsDocument, orjson.dumps(EXAMPLE_TARGETS))
    assert orjson.loads(dump_document(targets, drop_none=True)) == orjson.loads(
        orjson.dumps(EXAMPLE_TARGETS)
    )
    constants = parse_document(ConstantsDocument, orjson.dumps(EXAMPLE_CONSTANTS))
    # A document written before contract section 10 parses; its diagnostics
    # come back with the section's fields saying what it was: a PID step.
    dumped = orjson.loads(dump_document(constants))
    video = dumped["diagnostics"]["default"]["video"]
    assert {k: video.pop(k) for k in SECTION_10} == {
        "mode": "pid",
        "fallback": None,
        "samples": 0,
        "predicted_share": None,
        "reachable": None,
    }
    assert dumped == EXAMPLE_CONSTANTS
    assert constants.constants_for("unknown") == {"video": 0.31, "fresh": -0.12}


SECTION_10 = ("mode", "fallback", "samples", "predicted_share", "reachable")


def test_predictive_diagnostics_roundtrip_and_are_validated() -> None:
    fields = {
        "mode": "predictive",
        "fallback": None,
        "samples": 812,
        "predicted_share": 0.0401,
        "reachable": [0.031, 0.124],
    }
    doc = json.loads(json.dumps(EXAMPLE_CONSTANTS))
    doc["diagnostics"]["default"]["video"].update(fields)
    constants = parse_document(ConstantsDocument, orjson.dumps(doc))
    assert orjson.loads(dump_document(constants)) == doc
    for field, bad in [("mode", "magic"), ("samples", -1), ("predicted_share", 1.5)]:
        broken = json.loads(json.dumps(doc))
        broken["diagnostics"]["default"]["video"][field] = bad
        with pytest.raises(InvalidInputError, match=field):
            parse_document(ConstantsDocument, orjson.dumps(broken))


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"policies": {"default": {"targets": {"video": 1.0}}}}, "policies.default.targets.video"),
        ({"policies": {"default": {"targets": {"video": 0.0}}}}, "policies.default.targets.video"),
        ({"policies": {"default": {"targets": {"a": 0.5, "b": 0.5}}}}, "policies.default.targets"),
        ({"policies": {"Default": {"targets": {"a": 0.5}}}}, "policies.Default"),
        ({"policies": {"default": {"targets": {"-a": 0.5}}}}, "policies.default.targets.-a"),
        ({"policies": {"default": {"targets": {}, "typo": 1}}}, "policies.default.typo"),
        ({"schema": 2}, "schema"),
    ],
)
def test_bad_targets_name_the_field(patch: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_document(TargetsDocument, orjson.dumps({**EXAMPLE_TARGETS, **patch}))
    assert info.value.field == field


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b"{",
        b"\xff\xfe",
        b'{"generation": -1, "computed_at": "x"}',
        b'{"generation": 1, "computed_at": "x", "policies": {"default": {"video": NaN}}}',
        b'{"generation": 1, "computed_at": "x", "policies": {"default": {"video": 1e999}}}',
        b" " * (MAX_DOCUMENT_BYTES + 1),
    ],
)
def test_bad_constants_are_refused_with_our_error(raw: bytes) -> None:
    with pytest.raises(InvalidInputError):
        parse_document(ConstantsDocument, raw)


def test_registration_and_paused() -> None:
    assert parse_document(CounterRegistration, b'{"url": "http://h:8081"}').url == "http://h:8081"
    with pytest.raises(InvalidInputError, match="url"):
        parse_document(CounterRegistration, b'{"url": "ftp://h"}')
    with pytest.raises(InvalidInputError, match="reason"):
        parse_document(PausedDocument, b'{"reason": "", "since": "now"}')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
MODELS = [
    TargetsDocument,
    ConstantsDocument,
    PausedDocument,
    CounterRegistration,
    ControllerStateDocument,
    HistoryEntry,
]


@settings(max_examples=300)
@given(st.sampled_from(MODELS), json_values | st.binary(max_size=64))
def test_any_input_gives_a_document_or_our_error(model: type[Any], value: object) -> None:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    try:
        doc = parse_document(model, raw)
    except InvalidInputError:
        return
    again = parse_document(model, dump_document(doc))  # what we accept we can write and re-read
    assert again == doc


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
        st.floats(0.001, 0.3),
        min_size=1,
        max_size=3,
    )
)
def test_valid_targets_are_accepted_exactly_when_they_sum_below_one(
    shares: dict[str, float],
) -> None:
    raw = orjson.dumps({"policies": {"default": {"targets": shares}}})
    if math.fsum(shares.values()) < 1:
        assert parse_document(TargetsDocument, raw).policies["default"].targets == shares
    else:
        with pytest.raises(InvalidInputError):
            parse_document(TargetsDocument, raw)
