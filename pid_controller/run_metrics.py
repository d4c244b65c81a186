"""The controller's own metrics, pushed to a Prometheus Pushgateway (contract section 13).

A cron job lives for seconds, so nothing could scrape it: each run pushes when it ends.
Pushing adds to the job's group (HTTP POST, ``pushadd_to_gateway``) instead of replacing
it, so a failed run leaves the last success's timestamp in place: the alert on runs
that keep failing needs exactly that. A push that fails is logged and never fails the
run: the constants matter more than the metrics about them.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from pid_controller.decide import RunResult
from pid_controller.runner import WindowNotEndedError
from services.errors import CDError

log = logging.getLogger(__name__)

Outcome = Literal["written", "unchanged", "paused", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("written", "unchanged", "paused", "failed")
JOB = "pid-controller"
PUSH_TIMEOUT_SECONDS = 5.0


class Push(Protocol):
    def __call__(
        self, gateway: str, job: str, registry: CollectorRegistry, *, timeout: float | None
    ) -> None: ...


def _push(gateway: str, job: str, registry: CollectorRegistry, *, timeout: float | None) -> None:
    pushadd_to_gateway(gateway, job=job, registry=registry, timeout=timeout)


def run_registry(outcome: Outcome, started: float, finished: float) -> CollectorRegistry:
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(name, doc, registry=registry).set(value)

    gauge("cd_controller_last_run_timestamp_seconds", "When the last run ended", finished)
    if outcome != "failed":
        gauge(
            "cd_controller_last_success_timestamp_seconds",
            "When the last run that did not fail ended",
            finished,
        )
    gauge("cd_controller_run_seconds", "How long the last run took", finished - started)
    by_outcome = Gauge(
        "cd_controller_outcome",
        "1 for the last run's outcome, 0 for the others",
        ["outcome"],
        registry=registry,
    )
    for name in OUTCOMES:
        by_outcome.labels(outcome=name).set(1.0 if name == outcome else 0.0)
    return registry


class RunPusher:
    """Pushes one run's metrics when a Pushgateway is configured; does nothing otherwise."""

    def __init__(
        self,
        gateway: str | None,
        *,
        push: Push = _push,
        clock: Callable[[], float] = time.time,
        timeout: float = PUSH_TIMEOUT_SECONDS,
    ) -> None:
        self.gateway = gateway or None
        self._push = push
        self.clock = clock
        self._timeout = timeout

    def report(self, outcome: Outcome, started: float) -> None:
        if self.gateway is None:
            return
        registry = run_registry(outcome, started, self.clock())
        try:
            self._push(self.gateway, JOB, registry, timeout=self._timeout)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            log.warning("run metrics not pushed to the Pushgateway %s: %s", self.gateway, exc)

    def step(self, run: Callable[[], RunResult]) -> RunResult:
        """Run one step and push its outcome (a failure too, re-raised); dry runs push nothing."""
        started = self.clock()
        try:
            result = run()
        except WindowNotEndedError:
            raise  # a refused command line, not a run: nothing to report
        except CDError:
            self.report("failed", started)
            raise
        if result.status != "dry_run":
            self.report(result.status, started)
        return result
