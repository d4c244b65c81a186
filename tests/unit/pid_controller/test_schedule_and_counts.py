from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from pid_controller.counts import _parse, fetch_window
from pid_controller.decide import RunResult
from pid_controller.schedule import next_run, schedule
from services.errors import CDError, UpstreamError


@pytest.mark.parametrize(
    ("now", "expected"),
    [(7200.0, 7230.0), (7229.9, 7230.0), (7230.0, 10830.0), (7300.0, 10830.0)],
)
def test_next_run_is_boundary_plus_delay(now: float, expected: float) -> None:
    assert next_run(now, 3600, 30.0) == expected


def test_schedule_survives_failed_steps_and_stops() -> None:
    now = [7200.0]
    windows: list[datetime] = []

    class FakeEvent(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            now[0] += timeout or 0.0
            return len(windows) >= 3

    def step(moment: datetime) -> RunResult:
        windows.append(moment)
        if len(windows) == 1:
            raise CDError("counter down")
        return RunResult("written", "ok")

    stop = FakeEvent()
    assert schedule(step, 3600, 30.0, stop, lambda: now[0]) == 3
    assert [w.timestamp() for w in windows] == [7200.0, 10800.0, 14400.0]


def test_parse_sums_buckets_and_refuses_foreign_ones() -> None:
    body = {
        "bucket_seconds": 3600,
        "complete_through": 7200,
        "groups": {"control": [{"start": 3600, "total": 10, "by_type": {"video": 3}}]},
    }
    groups, complete = _parse(body, 3600, 7200)
    assert groups["control"].total == 10 and groups["control"].by_type == {"video": 3}
    assert complete == 7200
    body["groups"]["control"][0]["start"] = 0  # type: ignore[index]
    with pytest.raises(UpstreamError):
        _parse(body, 3600, 7200)
    with pytest.raises(UpstreamError):
        _parse({"nope": 1}, 3600, 7200)


def _counter(answers: dict[str, tuple[int | None, int]]) -> Callable[[], httpx.Client]:
    """Instances by host: ``(complete_through, video count)`` each, or a 503 when absent."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host not in answers:
            return httpx.Response(503, json={"detail": "restoring"})
        complete, video = answers[request.url.host]
        bucket = {"start": 3600, "total": 100, "by_type": {"video": video}}
        body = {"bucket_seconds": 3600, "complete_through": complete, "groups": {"g": [bucket]}}
        return httpx.Response(200, json=body)

    return lambda: httpx.Client(transport=httpx.MockTransport(handle))


def test_fetch_uses_an_instance_complete_through_the_window_end() -> None:
    urls = ["http://down", "http://lagging", "http://behind", "http://complete", "http://later"]
    answers = {"lagging": (3000, 1), "behind": (None, 2), "complete": (7200, 3), "later": (9000, 4)}
    counts = fetch_window(urls, 3600, 7200, transport=_counter(answers))
    assert counts.source == "http://complete" and counts.groups["g"].by_type == {"video": 3}
    assert counts.complete_through == 7200


def test_fetch_without_a_complete_instance_returns_the_most_complete() -> None:
    answers = {"behind": (None, 2), "lagging": (3000, 1), "closer": (7000, 5)}
    urls = ["http://behind", "http://lagging", "http://closer"]
    counts = fetch_window(urls, 3600, 7200, transport=_counter(answers))
    assert counts.source == "http://closer" and counts.complete_through == 7000
    with pytest.raises(UpstreamError, match="no counter instance answered"):
        fetch_window(["http://down"], 3600, 7200, transport=_counter(answers))


def test_schedule_runs_only_once_the_wall_clock_reaches_the_boundary() -> None:
    """A wait that ends a hair early by the wall clock must not run the step early:
    run_once would refuse the window as not ended yet."""
    now = [7190.0]
    seen: list[float] = []

    class EarlyEvent(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            t = timeout or 0.0
            now[0] += t - 0.01 if t > 0.02 else t
            return len(seen) >= 1

    def step(moment: datetime) -> RunResult:
        seen.append(now[0])
        return RunResult("written", "ok")

    assert schedule(step, 3600, 0.0, EarlyEvent(), lambda: now[0]) == 1
    assert seen[0] >= 7200.0
