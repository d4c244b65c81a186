"""The controller's write is decided once (issue 13) and ``--at`` is checked (issue 17).

Real ZooKeeper throughout; counts come through the runner's ``fetch`` so each
test can act (pause, edit targets) while the run waits for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from cdctl import operations as ops
from pid_controller.counts import WindowCounts
from pid_controller.decide import OutcomeUnknownError, RunResult
from pid_controller.runner import ControllerConfig, Fetch, WindowNotEndedError, run_once
from pid_controller.step import PolicyCounts
from services import ledger
from services.docstore import read_constants
from services.errors import StoreUnavailableError
from services.ledger import history, read_ledger
from services.local.zookeeper import ZooKeeperServer
from services.target_edits import apply_edit, set_targets
from services.zk import ZkStore
from tests.integration.pid_controller.test_runner_ledger import CONFIG, T0, at, counts
from tests.integration.pid_controller.zk_proxy import ZkCutProxy

WAITING = ControllerConfig(**{**CONFIG.__dict__, "max_wait": 30.0})


def acting_fetch(action: Callable[[], object]) -> Fetch:
    """Counts incomplete on the first call (the run waits), after ``action`` ran; then complete."""
    calls = [0]
    groups = {"control": PolicyCounts(10_000, {"video": 2_000})}

    def fetch(urls: list[str], start: int, end: int) -> WindowCounts:
        calls[0] += 1
        if calls[0] == 1:
            action()
            return WindowCounts(groups, start, "test")
        return WindowCounts(groups, end, "test")

    return fetch


def run(
    store: ZkStore, fetch: Fetch, config: ControllerConfig = WAITING, hours: int = 0
) -> RunResult:
    return run_once(
        store, config, at=at(hours), fetch=fetch, sleep=lambda s: None, clock=lambda: at(hours + 1)
    )


def test_a_pause_issued_while_the_run_waits_for_counts_stops_its_write(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    result = run(store, acting_fetch(lambda: ops.pause(store, "incident 7")))
    assert result.status == "paused" and "incident 7" in result.message
    assert store.read(store.paths.constants) is None
    assert store.read(store.paths.controller_state) is None
    assert store.read(store.paths.paused) is not None  # the pause itself is untouched


def test_targets_edited_while_the_run_waits_are_the_ones_written(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    result = run(
        store, acting_fetch(lambda: apply_edit(store, set_targets("default", {"video": 0.3}, {})))
    )
    assert result.status == "written"
    doc = read_constants(store).doc  # type: ignore[union-attr]
    assert doc.diagnostics["default"]["video"].target == 0.3
    assert [h.generation for h in history(store)] == [1]


def test_history_pruning_that_fails_after_the_commit_is_not_a_failed_run(
    store: ZkStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    fetch = counts({"control": (10_000, {"video": 2_000})})
    assert run(store, fetch, CONFIG, 0).status == "written"
    monkeypatch.setattr(ledger, "HISTORY_KEEP", 1)
    # A child under the oldest entry makes its deletion fail (not empty).
    store.create(store.paths.history_entry(1) + "/pinned", b"")
    with caplog.at_level(logging.WARNING):
        result = run(store, fetch, CONFIG, 1)
    assert result.status == "written"
    assert read_ledger(store).generation == 2
    assert "pruning old history failed" in caplog.text


@pytest.mark.parametrize("cut", ["after", "before"])
def test_a_connection_lost_during_the_write_is_resolved_by_reading_back(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore, cut: str
) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    proxy = ZkCutProxy(zk.port)
    try:
        with ZkStore(proxy.hosts, zk_root, timeout=5.0) as through:
            proxy.armed = cut  # type: ignore[assignment]
            fetch = counts({"control": (10_000, {"video": 2_000})})
            if cut == "after":
                result = run(through, fetch, CONFIG)
                assert result.status == "written" and "reading back" in result.message
            else:
                with pytest.raises(StoreUnavailableError, match="nothing was written"):
                    run(through, fetch, CONFIG)
        assert proxy.cuts == 1
    finally:
        proxy.close()
    assert read_ledger(store).generation == (1 if cut == "after" else 0)


def test_a_write_whose_outcome_cannot_be_read_back_says_so(
    zk: ZooKeeperServer, zk_root: str, store: ZkStore
) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    proxy = ZkCutProxy(zk.port)
    proxy.refuse_after_cut = True
    through = ZkStore(proxy.hosts, zk_root, timeout=2.0).start()
    try:
        proxy.armed = "after"
        with pytest.raises(OutcomeUnknownError, match="may or may not be written"):
            run(through, counts({"control": (10_000, {"video": 2_000})}), CONFIG)
    finally:
        through.stop()
        proxy.close()
    assert read_ledger(store).generation == 1  # it was written: only the client could not know


def test_a_window_that_has_not_ended_is_refused(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    now = datetime(2026, 11, 22, 18, 2, tzinfo=UTC)
    fetch = counts({"control": (10_000, {"video": 2_000})})
    with pytest.raises(WindowNotEndedError, match=r"2026-11-22T19:00:00Z.*in 58m 00s"):
        run_once(
            store,
            CONFIG,
            at=datetime(2026, 11, 22, 19, tzinfo=UTC),
            fetch=fetch,
            clock=lambda: now,
        )
    assert store.read(store.paths.constants) is None


def test_an_older_window_is_named_as_older_not_as_computed(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    fetch = counts({"control": (10_000, {"video": 2_000})})
    for hours in (0, 1):
        assert run(store, fetch, CONFIG, hours).status == "written"
    older = run(store, fetch, CONFIG, 0)
    assert older.status == "unchanged"
    assert older.message == (
        "window ending 2026-11-22T15:00:00Z is older than the last computed window "
        "(generation 2, window 2026-11-22T16:00:00Z); nothing written"
    )
    same = run(store, fetch, CONFIG, 1)
    assert same.status == "unchanged" and "already computed (generation 2)" in same.message
    assert at(0) == T0
