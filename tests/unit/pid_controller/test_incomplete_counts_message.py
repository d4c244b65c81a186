"""The incomplete-counts warning gives a time people read, not an epoch (issue 17, item 9)."""

from __future__ import annotations

import logging

import pytest

from pid_controller.counts import WindowCounts
from pid_controller.runner import wait_for_counts

END = 1_796_144_400  # 2026-12-01T17:00:00Z


@pytest.mark.parametrize(
    ("through", "shown"), [(END - 600, "2026-12-01T16:50:00Z"), (None, "never")]
)
def test_incomplete_counts_warning_prints_iso_time(
    caplog: pytest.LogCaptureFixture, through: int | None, shown: str
) -> None:
    def fetch(urls: list[str], start: int, end: int) -> WindowCounts:
        return WindowCounts({}, through, "test")

    with caplog.at_level(logging.WARNING, logger="pid_controller.runner"):
        _, complete = wait_for_counts(fetch, [], END - 3600, END, 0.0, lambda: 0.0, lambda _: None)
    assert not complete
    assert f"counts complete only through {shown};" in caplog.text
    assert str(through) not in caplog.text or through is None
