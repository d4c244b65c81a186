"""Changelog records and the apply/skip rule, against a real RocksDB folder."""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counter_service import changelog
from counter_service.changelog import Record
from counter_service.state import CounterState
from services.errors import InvalidInputError

META = {"source": "s", "changelog": "c", "bucket_seconds": 60}
Key = tuple[str, int, str]


def test_encode_decode_round_trip() -> None:
    record = changelog.data_record(
        3, 10, 20, "w/1", 2, {("control", 60, "video"): 4}, counted=4, rejected=6, max_ts=61_000
    )
    assert changelog.decode(changelog.encode(record)) == record
    fence = changelog.fence(0, "w/1", 7)
    assert changelog.decode(changelog.encode(fence)) == fence


@pytest.mark.parametrize("raw", [b"", None, b"garbage", changelog.encode(Record(5, 0, 0, 0, "w"))])
def test_foreign_records_are_refused(raw: bytes | None) -> None:
    with pytest.raises(InvalidInputError):
        changelog.decode(raw)


def test_applies_only_where_the_state_ends() -> None:
    record = changelog.data_record(0, 5, 9, "w", 1, {}, counted=4, rejected=0, max_ts=-1)
    assert changelog.applies(5, record)
    assert not changelog.applies(4, record)
    assert not changelog.applies(9, record)
    assert not changelog.applies(0, changelog.fence(0, "w", 1))


def test_all_records_of_a_partition_share_one_changelog_partition() -> None:
    assert {changelog.changelog_partition(7, 3) for _ in range(5)} == {1}


def _record(events: list[Key | None], start: int, end: int, writer: str) -> Record:
    chunk = events[start:end]
    counts = Counter(k for k in chunk if k is not None)
    return changelog.data_record(
        0,
        start,
        end,
        writer,
        1,
        dict(counts),
        counted=sum(counts.values()),
        rejected=chunk.count(None),
        max_ts=-1,
    )


keys = st.one_of(
    st.none(), st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([0, 60]), st.just("v"))
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Key | None], list[Record]]:
    """A true tiling of the events, in order, interleaved with duplicates and zombies."""
    events = draw(st.lists(keys, min_size=1, max_size=40))
    cuts = (
        sorted(draw(st.sets(st.integers(1, len(events) - 1), max_size=8)))
        if len(events) > 1
        else []
    )
    bounds = [0, *cuts, len(events)]
    tiling = [_record(events, a, b, "owner") for a, b in itertools.pairwise(bounds)]
    others = []
    for _ in range(draw(st.integers(0, 10))):
        start = draw(st.integers(0, len(events) - 1))
        end = draw(st.integers(start, len(events)))
        others.append(_record(events, start, end, "zombie"))
    merged: list[Record] = []
    for record in tiling:
        merged.extend(others[: draw(st.integers(0, len(others)))])
        merged.append(record)
        if draw(st.booleans()):
            merged.append(record)  # a retried send
    return events, merged


@settings(max_examples=60, deadline=None)
@given(histories(), st.integers(1, 5))
def test_applied_records_count_each_offset_exactly_once(
    history: tuple[list[Key | None], list[Record]], batch: int
) -> None:
    events, records = history
    with tempfile.TemporaryDirectory() as folder:
        state = CounterState.open(Path(folder) / "db", META)
        for i in range(0, len(records), batch):
            chunk = records[i : i + batch]
            state.apply([(0, i + j, r) for j, r in enumerate(chunk)])
        covered = state.next_offset(0)
        # Whoever's records won, [0, covered) is counted exactly once. (Reaching the
        # end after a zombie won a race is the owner's resync, tested end to end.)
        if all(r.writer == "owner" for r in records):
            assert covered == len(events)
        want = Counter(k for k in events[:covered] if k is not None)
        got = state.counts(["a", "b"], 0, 120)
        assert Counter({(g, b, t): n for g, rows in got.items() for b, t, n in rows if n}) == want
        assert state.counted == sum(want.values())
        assert state.rejected == events[:covered].count(None)
        state.close()
