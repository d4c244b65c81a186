"""The status page with range targets and short windows (pure rendering)."""

from __future__ import annotations

import re

from blender.constants_source import HistoryPoint, Snapshot
from blender.status_page import render_status_page
from services.documents import ConstantsDocument
from services.intervals import Interval
from services.timebuckets import iso


def _snapshot(window: int, target: Interval) -> Snapshot:
    doc = ConstantsDocument.model_validate(
        {
            "generation": 4,
            "computed_at": "2026-12-01T12:20:01Z",
            "policies": {"default": {"fresh": 0.2}},
            "diagnostics": {
                "default": {
                    "fresh": {"target": target.to_json(), "share": 0.12, "error": 0.0},
                }
            },
        }
    )
    start = 1_764_590_400  # 2026-12-01T12:00:00Z
    history = tuple(
        HistoryPoint(g, iso(start + g * window), "default", "fresh", share, target)
        for g, share in enumerate([0.08, 0.095, 0.11, 0.12], start=1)
    )
    return Snapshot(doc=doc, source="zookeeper", ready=True, history=history)


def test_range_targets_are_labelled_and_shaded_and_the_axis_is_in_minutes() -> None:
    page = render_status_page(_snapshot(300, Interval(0.10, 1.0)), 1_764_591_700.0, True)
    assert "vs target &gt;=10.00%" in page  # the chart's caption names the range
    assert "<td>&gt;=10.00%</td>" in page  # and so does the diagnostics table
    # Four 5-minute windows: ticks at -15, -8 (half way) and now.
    assert re.findall(r">(-?\d+ min|now)</text>", page) == ["-15 min", "-8 min", "now"]


def test_hourly_windows_read_in_minutes_too() -> None:
    page = render_status_page(_snapshot(3600, Interval(0.1, 0.1)), 1_764_605_000.0, True)
    assert re.findall(r">(-?\d+ min|now)</text>", page) == ["-180 min", "-90 min", "now"]
    assert "vs target 10.00%" in page
