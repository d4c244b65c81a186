"""Range targets in the targets document (contract section 11) and the interval helper."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.documents import (
    ConstantsDocument,
    TargetsDocument,
    dump_document,
    parse_document,
)
from services.errors import InvalidInputError
from services.intervals import Interval, as_interval

RANGES: dict[str, Any] = {
    "fresh": {"min": 0.10},
    "product": {"max": 0.12},
    "idea": {"min": 0.2, "max": 0.3},
    "video": 0.04,
}


def _targets(targets: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"schema": 1, "policies": {"default": {"targets": targets, **extra}}})


def test_ranges_parse_beside_shares_and_roundtrip() -> None:
    doc = parse_document(TargetsDocument, _targets(RANGES))
    assert doc.policies["default"].intervals() == {
        "fresh": Interval(0.10, 1.0),
        "product": Interval(0.0, 0.12),
        "idea": Interval(0.2, 0.3),
        "video": Interval(0.04, 0.04),
    }
    again = orjson.loads(dump_document(doc, drop_none=True))
    assert again["policies"]["default"]["targets"] == RANGES


def test_old_documents_still_parse() -> None:
    raw = _targets({"video": 0.04, "fresh": 0.1}, bounds={"min": -5, "max": 5})
    doc = parse_document(TargetsDocument, raw)
    assert doc.policies["default"].intervals()["video"].is_point
    assert doc.policies["default"].bounds is not None
    assert doc.policies["default"].bounds.max_step is None


@pytest.mark.parametrize(
    ("targets", "field", "problem"),
    [
        ({"fresh": {"min": 1.5}}, "policies.default.targets.fresh.min", "less than 1"),
        ({"fresh": {"max": 0.0}}, "policies.default.targets.fresh.max", "greater than 0"),
        ({"fresh": {"min": 0.3, "max": 0.2}}, "policies.default.targets.fresh", "below max"),
        ({"fresh": {"min": 0.3, "max": 0.3}}, "policies.default.targets.fresh", "below max"),
        ({"fresh": {}}, "policies.default.targets.fresh", "min, max or both"),
        ({"fresh": {"mim": 0.1}}, "policies.default.targets.fresh.mim", "Extra inputs"),
        ({"fresh": [0.1]}, "policies.default.targets.fresh", "valid number"),
        ({"fresh": {"min": 0.6}, "video": 0.4}, "policies.default.targets", "range mins"),
        ({"fresh": {"min": 0.5, "max": 0.9}, "b": {"min": 0.5}}, "policies.default.targets", "1"),
    ],
)
def test_bad_ranges_are_refused_naming_the_field(
    targets: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_document(TargetsDocument, _targets(targets))
    assert info.value.field == field
    assert problem in info.value.problem


def test_maxes_commit_nothing() -> None:
    # Two max-only ranges of 0.9 each are fine: a max does not reserve impressions.
    doc = parse_document(TargetsDocument, _targets({"a": {"max": 0.9}, "b": {"max": 0.9}}))
    assert len(doc.policies["default"].targets) == 2


def test_max_step_is_positive_and_alone_is_enough() -> None:
    doc = parse_document(TargetsDocument, _targets({"a": 0.1}, bounds={"max_step": 0.5}))
    bounds = doc.policies["default"].bounds
    assert bounds is not None and (bounds.min, bounds.max, bounds.max_step) == (None, None, 0.5)
    with pytest.raises(InvalidInputError) as info:
        parse_document(TargetsDocument, _targets({"a": 0.1}, bounds={"max_step": 0}))
    assert info.value.field == "policies.default.bounds.max_step"


def test_diagnostics_take_a_range_and_say_rate_limited_only_when_true() -> None:
    base = {"generation": 1, "computed_at": "2026-12-01T00:00:00Z"}
    diag = {"target": {"min": 0.1}, "share": 0.2, "error": 0.0}
    doc = parse_document(
        ConstantsDocument,
        orjson.dumps({**base, "diagnostics": {"default": {"fresh": diag, "v": {"target": 0.1}}}}),
    )
    assert doc.diagnostics["default"]["fresh"].interval() == Interval(0.1, 1.0)
    written = orjson.loads(dump_document(doc))["diagnostics"]["default"]
    assert "rate_limited" not in written["fresh"]
    limited = doc.diagnostics["default"]["v"].model_copy(update={"rate_limited": True})
    assert limited.model_dump()["rate_limited"] is True


shares = st.floats(0.001, 0.999)


@given(shares, shares, st.floats(0, 1))
def test_interval_aim_is_the_nearest_bound_or_none_inside(a: float, b: float, s: float) -> None:
    band = Interval(min(a, b), max(a, b))
    aim = band.aim(s)
    if band.lo <= s <= band.hi:
        assert aim is None and band.relative_error(s) == 0.0
    else:
        assert aim in (band.lo, band.hi)
        assert abs(s - aim) == min(abs(s - band.lo), abs(s - band.hi))
        assert (band.relative_error(s) > 0) == (s > band.hi)


@given(shares, shares)
def test_interval_json_roundtrips(a: float, b: float) -> None:
    for band in (Interval(min(a, b), max(a, b)), Interval(a, 1.0), Interval(0.0, a)):
        assert as_interval(band.to_json()) == band


def test_labels() -> None:
    assert [as_interval(t).label() for t in RANGES.values()] == [
        ">=10.00%",
        "<=12.00%",
        "20.00%..30.00%",
        "4.00%",
    ]
    assert math.isnan(Interval(math.nan, math.nan).relative_error(0.1))
