"""Event validation: every reason, the fast path against a reference, batches."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from counter_service import events
from counter_service.events import Validator
from services.names import NAME_RE
from services.timebuckets import bucket_of_ms

NOW = 1_763_820_000_000
RETENTION_MS = 192 * 3600 * 1000


def validator() -> Validator:
    return Validator(bucket_seconds=60, retention_ms=RETENTION_MS)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", events.BAD_JSON),
        (None, events.BAD_JSON),
        (b"{not json", events.BAD_JSON),
        (b"\xff\xfe", events.BAD_JSON),
        (b"[1, 2]", events.NOT_OBJECT),
        (b'"video"', events.NOT_OBJECT),
        (b"42", events.NOT_OBJECT),
        (b'{"content_type": "video"}', events.MISSING_FIELD),
        (b'{"ts": 1763820000000}', events.MISSING_FIELD),
        (b'{"ts": "1763820000000", "content_type": "video"}', events.MISTYPED_FIELD),
        (b'{"ts": 1763820000000.5, "content_type": "video"}', events.MISTYPED_FIELD),
        (b'{"ts": true, "content_type": "video"}', events.MISTYPED_FIELD),
        (b'{"ts": 1763820000000, "content_type": 7}', events.MISTYPED_FIELD),
        (
            b'{"ts": 1763820000000, "content_type": "video", "experiment_group": 1}',
            events.MISTYPED_FIELD,
        ),
        (b'{"ts": 1763820000000, "content_type": "Video"}', events.BAD_NAME),
        (b'{"ts": 1763820000000, "content_type": ""}', events.BAD_NAME),
        (
            b'{"ts": 1763820000000, "content_type": "video", "experiment_group": "a b"}',
            events.BAD_NAME,
        ),
        (
            b'{"ts": 1763820000000, "content_type": "video", "experiment_group": ""}',
            events.BAD_NAME,
        ),
        (b'{"ts": 1000, "content_type": "video"}', events.TOO_OLD),
        (b'{"ts": 1763820600001, "content_type": "video"}', events.TOO_FAR_IN_FUTURE),
        (b'{"ts": 99999999999999999999999, "content_type": "video"}', events.TOO_FAR_IN_FUTURE),
    ],
)
def test_each_reason(value: bytes | None, reason: str) -> None:
    result = validator().batch([value], [NOW])
    assert result.counted == 0 and not result.counts
    assert [r.reason for r in result.rejections] == [reason]
    assert result.rejections[0].detail
    # The batch judges typed events without decoding them again: same verdict as classify.
    rejection = result.rejections[0]
    assert (rejection.reason, rejection.detail) == validator().classify(value, NOW)


def test_valid_event_counts_with_default_group_and_ignores_other_fields() -> None:
    values = [
        b'{"ts": 1763820000123, "content_type": "video", "experiment_group": "control",'
        b' "event_id": "e-1", "position": 3}',
        b'{"ts": 1763820000999, "content_type": "video"}',
        b'{"ts": 1763820000999, "content_type": "video", "experiment_group": null}',
        b'{"ts": 1763820600000, "content_type": "video"}',  # exactly 10 minutes ahead
    ]
    result = validator().batch(values, [NOW] * len(values))
    assert result.rejections == []
    assert result.counted == 4
    assert result.counts == {
        ("control", 1763820000, "video"): 1,
        ("default", 1763820000, "video"): 2,
        ("default", 1763820600, "video"): 1,
    }
    # The mark stops at the record's time: an event stamped ahead does not lift it.
    assert result.max_ts == NOW


def test_rejection_index_points_into_the_batch() -> None:
    good = b'{"ts": 1763820000000, "content_type": "video"}'
    result = validator().batch([good, b"x", good, b"[]"], [NOW] * 4)
    assert [(r.at, r.reason) for r in result.rejections] == [
        (1, events.BAD_JSON),
        (3, events.NOT_OBJECT),
    ]
    assert result.counted == 2


names = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,10}", fullmatch=True)
bad_names: st.SearchStrategy[str] = st.text(max_size=8).filter(
    lambda s: NAME_RE.fullmatch(s) is None
)
event_dicts = st.fixed_dictionaries(
    {"ts": st.integers(NOW - RETENTION_MS - 5000, NOW + 700_000)},
    optional={
        "content_type": st.one_of(names, bad_names, st.integers(-(2**40), 2**40)),
        "experiment_group": st.one_of(names, bad_names, st.none()),
        "pin_id": st.text(max_size=5),
    },
)


def reference(event: dict[str, Any]) -> tuple[str, int, str] | None:
    kind, group = event.get("content_type"), event.get("experiment_group")
    if not isinstance(kind, str) or not NAME_RE.fullmatch(kind):
        return None
    if group is not None and not NAME_RE.fullmatch(group):
        return None
    if not NOW - RETENTION_MS <= event["ts"] <= NOW + events.MAX_FUTURE_MS:
        return None
    return (group or "default", bucket_of_ms(event["ts"], 60), kind)


@given(st.lists(event_dicts, max_size=30))
def test_batch_agrees_with_a_reference(batch: list[dict[str, Any]]) -> None:
    result = validator().batch([orjson.dumps(e) for e in batch], [NOW] * len(batch))
    keys = [reference(e) for e in batch]
    assert result.counts == dict(Counter(k for k in keys if k is not None))
    assert [r.at for r in result.rejections] == [i for i, k in enumerate(keys) if k is None]
    assert all(r.reason in events.REASONS for r in result.rejections)
    assert result.counted + len(result.rejections) == len(batch)


@given(st.binary(max_size=40))
def test_arbitrary_bytes_never_raise(value: bytes) -> None:
    result = validator().batch([value], [NOW])
    assert result.counted + len(result.rejections) == 1


def test_a_time_refusal_reads_the_event_time_as_a_date() -> None:
    """The cd-error header is read by people: the epoch comes with its ISO time."""
    old, ahead, huge = (
        b'{"ts": 1000, "content_type": "video"}',
        b'{"ts": 1763820600001, "content_type": "video"}',
        b'{"ts": 9999999999999999999, "content_type": "video"}',
    )
    details = [r.detail for r in validator().batch([old, ahead, huge], [NOW] * 3).rejections]
    assert details == [
        "ts 1000 (1970-01-01T00:00:01Z) is older than the retention",
        "ts 1763820600001 (2025-11-22T14:10:00Z) is more than 10 minutes ahead",
        "ts 9999999999999999999 (out of range) is more than 10 minutes ahead",
    ]


def test_a_too_far_refusal_names_the_configured_allowance() -> None:
    """The allowance in the detail is the validator's own, however it was set."""
    ahead = b'{"ts": 1763820000000, "content_type": "video"}'
    tight = Validator(bucket_seconds=60, retention_ms=RETENTION_MS, max_future_ms=90_000)
    [refused] = tight.batch([ahead], [1763820000000 - 90_001]).rejections
    assert refused.detail.endswith("is more than 1.5 minutes ahead")
