"""``run_once`` with its outcome recorded for ``cdctl controller status``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pid_controller.decide import RunResult
from pid_controller.runner import ControllerConfig, WindowNotEndedError, run_once
from services.errors import CDError
from services.last_run import LastRun, Outcome, record_last_run
from services.timebuckets import iso
from services.zk import ZkStore


def run_recorded(
    store: ZkStore,
    config: ControllerConfig,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    **kwargs: Any,
) -> RunResult:
    """One step (see :func:`run_once`); every run but a dry run leaves its record."""

    def record(outcome: Outcome, message: str) -> None:
        at = iso(clock().timestamp())
        record_last_run(
            store, LastRun(at=at, outcome=outcome, message=message, writer=config.writer)
        )

    try:
        result = run_once(store, config, clock=clock, **kwargs)
    except WindowNotEndedError:
        raise  # a refused command line, not a run: the last run's record stands
    except CDError as exc:
        if not kwargs.get("dry_run"):
            record("failed", str(exc))
        raise
    if result.status != "dry_run":
        record(result.status, result.message)
    return result
