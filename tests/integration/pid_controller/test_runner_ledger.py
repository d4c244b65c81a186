"""The controller's ZooKeeper semantics on a real server.

Counts are handed in through the runner's ``fetch`` parameter so each test
states exactly what the window held; the path through the real counter
service is covered by the end-to-end tests.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime

import pytest

from cdctl import operations as ops
from pid_controller.counts import WindowCounts
from pid_controller.runner import ControllerConfig, run_once
from pid_controller.step import Bounds, Gains, PolicyCounts
from services.docstore import read_constants
from services.errors import AccessDeniedError, InvalidInputError, UpstreamError
from services.ledger import history, read_ledger
from services.local.zookeeper import ZooKeeperServer
from services.target_edits import apply_edit, set_targets
from services.timebuckets import iso
from services.zk import ZkStore

H = 3600
T0 = datetime(2026, 11, 22, 15, 0, 0, tzinfo=UTC)
CONFIG = ControllerConfig(
    interval=H,
    gains=Gains(0.15, 0.35, 0.0),
    bounds=Bounds(-5, 5),
    min_impressions=1000,
    max_wait=0.0,
    counter_urls=["http://unused"],
)


def counts(groups: dict[str, tuple[int, dict[str, int]]], complete: int | None = None):  # type: ignore[no-untyped-def]
    result = WindowCounts({g: PolicyCounts(t, b) for g, (t, b) in groups.items()}, complete, "test")

    def fetch(urls: list[str], start: int, end: int) -> WindowCounts:
        assert end - start == H
        return WindowCounts(result.groups, end if complete is None else complete, "test")

    return fetch


def iso_of(moment: datetime) -> str:
    return iso(int(moment.timestamp()))


def at(hours: int) -> datetime:
    return datetime.fromtimestamp(T0.timestamp() + hours * H, UTC)


def test_step_writes_expected_document_and_is_idempotent(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    fetch = counts({"control": (10_000, {"video": 2_000, "image": 8_000})})
    result = run_once(store, CONFIG, at=T0, fetch=fetch, clock=lambda: T0)
    assert result.status == "written"
    doc = read_constants(store).doc  # type: ignore[union-attr]
    e = math.log(0.155 / 0.2)
    d = doc.diagnostics["default"]["video"]
    assert doc.generation == 1 and doc.window_end == "2026-11-22T15:00:00Z"
    assert d.share == 0.2 and d.impressions == 10_000 and d.error == pytest.approx(e)
    assert d.p == pytest.approx(0.15 * e) and d.i == pytest.approx(0.35 * e) and d.d == 0
    assert doc.policies == {"default": {"video": pytest.approx(0.5 * e)}}
    assert d.saturated is None and d.skipped is None
    again = run_once(store, CONFIG, at=T0, fetch=fetch, clock=lambda: T0)
    assert again.status == "unchanged"
    assert read_constants(store).doc.generation == 1  # type: ignore[union-attr]
    assert [h.generation for h in history(store)] == [1]


def test_concurrent_runs_for_one_window_write_once(zk: ZooKeeperServer, zk_root: str) -> None:
    stores = [ZkStore(zk.hosts, zk_root, timeout=5).start() for _ in range(5)]
    apply_edit(stores[0], set_targets("default", {"video": 0.155}, {}))
    fetch = counts({"control": (10_000, {"video": 2_000})})
    statuses: list[str] = []
    barrier = threading.Barrier(5)

    def go(s: ZkStore) -> None:
        barrier.wait()
        statuses.append(run_once(s, CONFIG, at=T0, fetch=fetch, clock=lambda: T0).status)

    threads = [threading.Thread(target=go, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == ["unchanged"] * 4 + ["written"]
    assert read_ledger(stores[0]).generation == 1
    for s in stores:
        s.stop()


def test_nothing_written_without_targets_or_counts(store: ZkStore) -> None:
    fetch = counts({"control": (10_000, {"video": 2_000})})
    with pytest.raises(InvalidInputError, match="no targets"):
        run_once(store, CONFIG, at=T0, fetch=fetch)
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))

    def broken(urls: list[str], start: int, end: int) -> WindowCounts:
        raise UpstreamError("no counter instance answered")

    with pytest.raises(UpstreamError):
        run_once(store, CONFIG, at=T0, fetch=broken)
    assert store.read(store.paths.constants) is None
    assert store.read(store.paths.controller_state) is None


def test_dry_run_and_pause_write_nothing(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    fetch = counts({"control": (10_000, {"video": 2_000})})
    dry = run_once(store, CONFIG, at=T0, fetch=fetch, dry_run=True)
    assert dry.status == "dry_run" and dry.document is not None and dry.document.generation == 1
    assert store.read(store.paths.constants) is None
    assert ops.pause(store, "incident 42") == "paused: incident 42"
    paused = run_once(store, CONFIG, at=T0, fetch=fetch)
    assert paused.status == "paused" and "incident 42" in paused.message
    assert store.read(store.paths.constants) is None
    assert ops.resume(store) == "resumed"
    assert run_once(store, CONFIG, at=T0, fetch=fetch).status == "written"


def test_groups_fold_into_policies(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    run_once(store, CONFIG, at=at(0), fetch=counts({"control": (4_000, {"video": 800})}))
    default_u = read_constants(store).doc.policies["default"]["video"]  # type: ignore[union-attr]
    apply_edit(store, set_targets("video_heavy", {"video": 0.2}, {"gains": {"kp": 0.1, "ki": 0.2}}))
    fetch = counts(
        {
            "control": (3_000, {"video": 300}),
            "other": (1_000, {"video": 500}),
            "video_heavy": (2_000, {"video": 400}),
        }
    )
    run_once(store, CONFIG, at=at(1), fetch=fetch)
    doc = read_constants(store).doc  # type: ignore[union-attr]
    assert doc.diagnostics["default"]["video"].impressions == 4_000
    assert doc.diagnostics["default"]["video"].share == 800 / 4_000
    heavy = doc.diagnostics["video_heavy"]["video"]
    assert heavy.impressions == 2_000 and heavy.share == 0.2 and heavy.error == 0.0
    # A new policy starts from default's constant (bumpless), not from 0: with
    # zero error of its own, its first constant is exactly default's previous one.
    assert default_u != 0.0
    assert doc.policies["video_heavy"]["video"] == pytest.approx(default_u)


def test_rollback_restores_constants_and_state(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    for hour, video in enumerate([2_000, 1_800, 1_200]):
        fetch = counts({"control": (10_000, {"video": video})})
        assert run_once(store, CONFIG, at=at(hour), fetch=fetch).status == "written"
    gen1 = next(h for h in history(store) if h.generation == 1)
    warnings: list[str] = []
    assert ops.rollback(store, 1, warnings.append) == 4
    assert warnings == []  # nothing damaged, nothing replaced
    doc = read_constants(store).doc  # type: ignore[union-attr]
    assert doc.generation == 4 and doc.rolled_back_from == 3
    assert doc.policies == gen1.constants.policies
    # The next window continues from generation 1's integral.
    fetch = counts({"control": (10_000, {"video": 1_550})})
    assert run_once(store, CONFIG, at=at(3), fetch=fetch).status == "written"
    state = read_ledger(store).state.policies["default"]["video"]
    assert state.integral == pytest.approx(gen1.state.policies["default"]["video"].integral)
    with pytest.raises(InvalidInputError):
        ops.rollback(store, 99, warnings.append)


@pytest.mark.parametrize("damaged", ["constants", "controller_state"])
def test_rollback_replaces_a_damaged_constants_or_state_document(
    store: ZkStore, damaged: str
) -> None:
    """The operator's way out when a run refuses to build on a damaged document."""
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    for hour, video in enumerate([2_000, 1_800]):
        fetch = counts({"control": (10_000, {"video": video})})
        assert run_once(store, CONFIG, at=at(hour), fetch=fetch).status == "written"
    path = getattr(store.paths, damaged)
    node = store.read(path)
    assert node is not None
    store.set(path, b"{not json", node.version)
    fetch = counts({"control": (10_000, {"video": 1_550})})
    with pytest.raises(InvalidInputError, match=path):
        run_once(store, CONFIG, at=at(2), fetch=fetch)
    warnings: list[str] = []
    assert ops.rollback(store, 1, warnings.append) == 3
    assert len(warnings) == 1 and path in warnings[0] and "not valid UTF-8 JSON" in warnings[0]
    gen1 = next(h for h in history(store) if h.generation == 1)
    ledger = read_ledger(store)
    assert ledger.constants is not None and ledger.constants.policies == gen1.constants.policies
    assert ledger.state.window_end == iso_of(at(1))  # window 1 is not integrated twice
    assert run_once(store, CONFIG, at=at(1), fetch=fetch).status == "unchanged"
    assert run_once(store, CONFIG, at=at(2), fetch=fetch).status == "written"


def test_incomplete_counts_wait_then_proceed_marked(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    now = [T0.timestamp() + 60]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    config = ControllerConfig(**{**CONFIG.__dict__, "max_wait": 12.0})
    fetch = counts({"control": (10_000, {"video": 2_000})}, complete=int(T0.timestamp()) - 120)
    result = run_once(
        store,
        config,
        at=T0,
        fetch=fetch,
        sleep=sleep,
        clock=lambda: datetime.fromtimestamp(now[0], UTC),
    )
    assert result.status == "written" and sum(slept) == pytest.approx(12.0)
    extra = read_constants(store).doc.model_extra  # type: ignore[union-attr]
    assert extra is not None and extra["counts_complete"] is False


def test_controller_without_credentials_cannot_write(zk: ZooKeeperServer, zk_root: str) -> None:
    with ZkStore(zk.hosts, zk_root, auth="ctl:pw", timeout=5) as owner:
        apply_edit(owner, set_targets("default", {"video": 0.155}, {}))
        fetch = counts({"control": (10_000, {"video": 2_000})})
        assert run_once(owner, CONFIG, at=T0, fetch=fetch).status == "written"
        with ZkStore(zk.hosts, zk_root, timeout=5) as anonymous, pytest.raises(AccessDeniedError):
            run_once(anonymous, CONFIG, at=at(1), fetch=fetch)
        assert read_ledger(owner).generation == 1
