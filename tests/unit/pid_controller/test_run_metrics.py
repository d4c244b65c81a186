"""What `pid-controller run` pushes, and that a push failure never fails the run."""

from __future__ import annotations

import logging
import urllib.error

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pid_controller.decide import RunResult
from pid_controller.run_metrics import JOB, RunPusher
from pid_controller.runner import WindowNotEndedError
from services.errors import CDError


class Gateway:
    """Records pushes; fails them when told to (unit test stand-in for the push call)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.pushes: list[tuple[str, str, dict[tuple[str, str], float], float | None]] = []
        self.error = error

    def __call__(
        self, gateway: str, job: str, registry: CollectorRegistry, *, timeout: float | None
    ) -> None:
        if self.error is not None:
            raise self.error
        text = generate_latest(registry).decode()
        values = {
            (s.name, s.labels.get("outcome", "")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        self.pushes.append((gateway, job, values, timeout))


class Clock:
    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def pusher(gateway: Gateway, *times: float, url: str | None = "http://pgw:9091") -> RunPusher:
    return RunPusher(url, push=gateway, clock=Clock(*times), timeout=2.5)


def test_a_written_run_pushes_every_metric() -> None:
    gateway = Gateway()
    result = pusher(gateway, 100.0, 103.5).step(lambda: RunResult("written", "ok"))
    assert result.status == "written"
    [(url, job, values, timeout)] = gateway.pushes
    assert (url, job, timeout) == ("http://pgw:9091", JOB, 2.5)
    assert values == {
        ("cd_controller_last_run_timestamp_seconds", ""): 103.5,
        ("cd_controller_last_success_timestamp_seconds", ""): 103.5,
        ("cd_controller_run_seconds", ""): 3.5,
        ("cd_controller_outcome", "written"): 1.0,
        ("cd_controller_outcome", "unchanged"): 0.0,
        ("cd_controller_outcome", "paused"): 0.0,
        ("cd_controller_outcome", "failed"): 0.0,
    }


def test_a_failed_run_pushes_failed_keeps_the_last_success_and_reraises() -> None:
    gateway = Gateway()

    def fail() -> RunResult:
        raise CDError("no counter instance answered")

    with pytest.raises(CDError, match="no counter"):
        pusher(gateway, 10.0, 11.0).step(fail)
    [(_, _, values, _)] = gateway.pushes
    assert values[("cd_controller_outcome", "failed")] == 1.0
    assert values[("cd_controller_outcome", "written")] == 0.0
    assert values[("cd_controller_last_run_timestamp_seconds", "")] == 11.0
    # Not pushed: the gateway keeps the previous success's time (push-add, not replace).
    assert ("cd_controller_last_success_timestamp_seconds", "") not in values


@pytest.mark.parametrize("status", ["unchanged", "paused"])
def test_unchanged_and_paused_are_successes(status: str) -> None:
    gateway = Gateway()
    pusher(gateway, 0.0, 1.0).step(lambda: RunResult(status, "m"))  # type: ignore[arg-type]
    [(_, _, values, _)] = gateway.pushes
    assert values[("cd_controller_outcome", status)] == 1.0
    assert values[("cd_controller_last_success_timestamp_seconds", "")] == 1.0


def test_a_dry_run_or_no_gateway_pushes_nothing() -> None:
    gateway = Gateway()
    pusher(gateway, 0.0, 1.0).step(lambda: RunResult("dry_run", "m"))
    pusher(gateway, 0.0, 1.0, url=None).step(lambda: RunResult("written", "m"))
    pusher(gateway, 0.0, 1.0, url="").step(lambda: RunResult("written", "m"))
    assert gateway.pushes == []


@pytest.mark.parametrize(
    "error",
    [
        urllib.error.URLError("connection refused"),
        TimeoutError("timed out"),
        ValueError("unknown url type"),
    ],
)
def test_a_failed_push_is_logged_and_the_run_goes_on(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        result = pusher(Gateway(error), 0.0, 1.0).step(lambda: RunResult("written", "ok"))
    assert result.status == "written"
    assert "not pushed to the Pushgateway http://pgw:9091" in caplog.text


def test_a_refused_window_is_no_run_and_pushes_nothing() -> None:
    gateway = Gateway()

    def refuse() -> RunResult:
        raise WindowNotEndedError("--at", "the window ending 19:00 has not ended")

    with pytest.raises(WindowNotEndedError):
        pusher(gateway, 0.0, 1.0).step(refuse)
    assert gateway.pushes == []
