"""The predictive mode of ``run_once`` on a real ZooKeeper.

Counts and samples are handed in through the runner's ``fetch`` and
``samples`` parameters (the Kafka reader of samples has its own tests), so
each test states exactly what the window held.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import orjson
import pytest

from pid_controller import model, sample_model
from pid_controller.runner import ControllerConfig, run_once
from pid_controller.step import Bounds, Gains
from services.docstore import read_constants
from services.ledger import read_ledger
from services.samples import SampledRequest, SamplesUnavailableError, WindowSamples
from services.target_edits import apply_edit, set_targets
from services.zk import ZkStore
from tests.integration.pid_controller.test_runner_ledger import CONFIG, T0, H, at, counts

PREDICTIVE = replace(CONFIG, mode="predictive")
CONFIG_SLOTS = PREDICTIVE.predictive.default_slots


def sampled(n: int, seed: int, group: str = "control") -> list[SampledRequest]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        video = rng.random(50) < 0.2
        scores = rng.standard_normal(50) - 2.0
        types = tuple("video" if v else "image" for v in video)
        out.append(SampledRequest(0, group, "default", "log", None, types, scores))
    return out


def source(window: WindowSamples, calls: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    def read(start: int, end: int) -> WindowSamples:
        calls.append((start, end))
        return window

    return read


def test_predictive_step_publishes_the_solve_with_its_diagnostics(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    window = WindowSamples({"control": sampled(300, 1)}, skipped=2)
    calls: list[tuple[int, int]] = []
    fetch = counts({"control": (100_000, {"video": 20_000, "image": 80_000})})
    result = run_once(store, PREDICTIVE, at=T0, fetch=fetch, samples=source(window, calls))
    assert result.status == "written"
    assert calls == [(int(T0.timestamp()) - H, int(T0.timestamp()))]
    doc = read_constants(store).doc  # type: ignore[union-attr]
    d = doc.diagnostics["default"]["video"]
    assert (d.mode, d.fallback, d.samples) == ("predictive", None, 300)
    assert d.predicted_share == pytest.approx(0.1, abs=0.01)
    assert d.reachable is not None and d.reachable[0] < 0.1 < d.reachable[1]
    u = doc.policies["default"]["video"]
    # The published constant puts the sample (default slots: 25) on target.
    m = sample_model.prepare(window.by_group["control"], CONFIG_SLOTS)
    assert model.predicted_shares(m, {"video": u})["video"] == pytest.approx(0.1, abs=0.01)
    raw = orjson.loads(store.read(store.paths.constants).data)  # type: ignore[union-attr]
    assert raw["mode"] == "predictive" and raw["samples_skipped"] == 2
    assert read_ledger(store).state.policies["default"]["video"].predictive is not None
    # Idempotent: the same window again reads nothing and writes nothing.
    again = run_once(store, PREDICTIVE, at=T0, fetch=fetch, samples=source(window, calls))
    assert again.status == "unchanged" and len(calls) == 1


def test_unreadable_or_missing_samples_fall_back_to_the_pid_step(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    fetch = counts({"control": (100_000, {"video": 20_000, "image": 80_000})})

    def broken(start: int, end: int) -> WindowSamples:
        raise SamplesUnavailableError("topic homefeed.blend-samples does not exist")

    assert run_once(store, PREDICTIVE, at=T0, fetch=fetch, samples=broken).status == "written"
    d = read_constants(store).doc.diagnostics["default"]["video"]  # type: ignore[union-attr]
    assert (d.mode, d.fallback, d.predicted_share, d.reachable) == (
        "pid",
        "samples_unavailable",
        None,
        None,
    )
    assert d.i != 0  # a real PID step
    run_once(store, PREDICTIVE, at=at(1), fetch=fetch, samples=None)
    d = read_constants(store).doc.diagnostics["default"]["video"]  # type: ignore[union-attr]
    assert (d.mode, d.fallback) == ("pid", "no_samples_source")
    few = WindowSamples({"control": sampled(10, 2)})
    run_once(store, PREDICTIVE, at=at(2), fetch=fetch, samples=lambda s, e: few)
    d = read_constants(store).doc.diagnostics["default"]["video"]  # type: ignore[union-attr]
    assert (d.mode, d.fallback, d.samples) == ("pid", "too_few_samples", 10)


def test_pid_mode_reads_no_samples(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    fetch = counts({"control": (100_000, {"video": 20_000, "image": 80_000})})
    calls: list[tuple[int, int]] = []
    pid = replace(CONFIG, mode="pid")
    window = WindowSamples({"control": sampled(300, 3)})
    run_once(store, pid, at=T0, fetch=fetch, samples=source(window, calls))
    d = read_constants(store).doc.diagnostics["default"]["video"]  # type: ignore[union-attr]
    assert calls == [] and (d.mode, d.fallback) == ("pid", None)


def test_a_state_written_before_the_predictive_law_still_continues(store: ZkStore) -> None:
    """An old controller state (no ``predictive`` block) and constants without the
    section-10 diagnostics are read, and the next step solves from them."""
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    fetch = counts({"control": (100_000, {"video": 20_000, "image": 80_000})})
    old = ControllerConfig(
        interval=H,
        gains=Gains(0.15, 0.35, 0.0),
        bounds=Bounds(-5, 5),
        min_impressions=1000,
        max_wait=0.0,
        counter_urls=["http://unused"],
        mode="pid",
    )
    run_once(store, old, at=T0, fetch=fetch)
    state = orjson.loads(store.read(store.paths.controller_state).data)  # type: ignore[union-attr]
    for types in state["policies"].values():
        for s in types.values():
            s.pop("predictive")
    store.put(
        store.paths.controller_state, orjson.dumps(state), store.read(store.paths.controller_state)
    )
    window = WindowSamples({"control": sampled(300, 4)})
    result = run_once(store, PREDICTIVE, at=at(1), fetch=fetch, samples=lambda s, e: window)
    assert result.status == "written"
    d = read_constants(store).doc.diagnostics["default"]["video"]  # type: ignore[union-attr]
    assert d.mode == "predictive"


def test_new_group_policy_is_solved_on_its_own_samples(store: ZkStore) -> None:
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    apply_edit(store, set_targets("heavy", {"video": 0.1}, {}))
    heavy = [
        replace(s, scores=s.scores + np.where(np.array(s.types) == "video", 1.0, 0.0))
        for s in sampled(300, 5, "heavy")
    ]
    window = WindowSamples({"control": sampled(300, 6), "heavy": heavy})
    fetch = counts(
        {
            "control": (50_000, {"video": 10_000}),
            "heavy": (50_000, {"video": 20_000}),
        }
    )
    run_once(store, PREDICTIVE, at=T0, fetch=fetch, samples=lambda s, e: window)
    doc = read_constants(store).doc  # type: ignore[union-attr]
    assert doc.policies["heavy"]["video"] < doc.policies["default"]["video"] - 0.5
    assert doc.diagnostics["heavy"]["video"].samples == 300


def test_the_next_window_measures_the_models_bias_at_the_constants_in_force(
    store: ZkStore,
) -> None:
    """Impressions that match the model at the published constant: no bias, no move."""
    apply_edit(store, set_targets("default", {"video": 0.1}, {}))
    window = WindowSamples({"control": sampled(400, 7)})
    fetch = counts({"control": (100_000, {"video": 20_000, "image": 80_000})})
    run_once(store, PREDICTIVE, at=T0, fetch=fetch, samples=lambda s, e: window)
    u1 = read_constants(store).doc.policies["default"]["video"]  # type: ignore[union-attr]
    m = sample_model.prepare(window.by_group["control"], CONFIG_SLOTS)
    video = round(model.predicted_shares(m, {"video": u1})["video"] * 100_000)
    on_target = counts({"control": (100_000, {"video": video, "image": 100_000 - video})})
    run_once(store, PREDICTIVE, at=at(1), fetch=on_target, samples=lambda s, e: window)
    doc = read_constants(store).doc  # type: ignore[union-attr]
    assert doc.diagnostics["default"]["video"].model_extra["bias"] == pytest.approx(0, abs=1e-3)  # type: ignore[index]
    assert doc.policies["default"]["video"] == pytest.approx(u1, abs=0.01)
