"""One controller step for one window, safe to run twice and to race.

Idempotence: the controller state records the window it last integrated; a
run for that window (or an older one) changes nothing, so there is no double
integration. Races: runs take a ZooKeeper lock, re-read after acquiring it,
and publish constants, state and history in one version-checked multi-op
(:mod:`services.ledger`), so even without the lock two runs produce one write.
Everything that can fail (targets, counts) is read before anything is written.

Mode (contract section 10): ``predictive`` solves each policy on the window's
candidate samples (pid_controller/predictive.py); a policy whose samples are
missing, too few or unreadable takes the PID step for that window, and its
diagnostics say why. Samples never fail a run: an unreadable source is a
fallback, not an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Literal

from pid_controller.counts import WindowCounts, fetch_window, registered_counters
from pid_controller.decide import RunResult, decide_write, read_policies
from pid_controller.law_settings import PredictiveSettings
from pid_controller.predictive import (
    NO_SOURCE,
    UNAVAILABLE,
    predictive_control_step,
    samples_by_policy,
)
from pid_controller.step import (
    Bounds,
    Gains,
    PolicyConfig,
    PolicyStep,
    PredictiveState,
    TypeState,
    TypeStep,
    control_step,
    counts_by_policy,
    resolve_bounds,
)
from services import display
from services.docstore import read_paused
from services.documents import ConstantsDocument, Diagnostic, TargetsDocument
from services.errors import InvalidInputError
from services.ledger import (
    ControllerStateDocument,
    HistoryEntry,
    Ledger,
    PredictiveStateDoc,
    TypeStateDoc,
    read_ledger,
)
from services.samples import SamplesUnavailableError, WindowSamples
from services.timebuckets import iso, last_full_window_end, parse_time
from services.zk import ZkStore

log = logging.getLogger(__name__)
Fetch = Callable[[list[str], int, int], WindowCounts]
# A window's candidate samples by experiment group, from [start, end) in epoch seconds.
Samples = Callable[[int, int], WindowSamples]


@dataclass(frozen=True)
class ControllerConfig:
    interval: int
    gains: Gains
    bounds: Bounds
    min_impressions: int
    max_wait: float
    counter_urls: list[str] = field(default_factory=list)
    writer: str = "pid-controller"
    lock_timeout: float = 60.0
    mode: Literal["predictive", "pid"] = "predictive"
    predictive: PredictiveSettings = field(default_factory=PredictiveSettings)


class WindowNotEndedError(InvalidInputError):
    """``--at`` names a window that has not ended: a usage error (exit 2), nothing waited for."""


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def policy_configs(targets: TargetsDocument, config: ControllerConfig) -> dict[str, PolicyConfig]:
    """Per-policy gains and bounds from the targets document override the settings."""
    out = {}
    for name, entry in targets.policies.items():
        gains = (
            Gains(entry.gains.kp, entry.gains.ki, entry.gains.kd) if entry.gains else config.gains
        )
        bounds = resolve_bounds(entry.bounds, config.bounds)
        out[name] = PolicyConfig(entry.intervals(), gains, bounds)
    return out


def previous_states(state: ControllerStateDocument) -> dict[str, dict[str, TypeState]]:
    return {
        p: {
            t: TypeState(s.integral, s.measurement, s.u, _predictive_state(s.predictive))
            for t, s in types.items()
        }
        for p, types in state.policies.items()
    }


def _predictive_state(doc: PredictiveStateDoc | None) -> PredictiveState | None:
    # The document and the dataclass share their field names (services/ledger.py).
    if doc is None:
        return None
    return PredictiveState(**{f.name: getattr(doc, f.name) for f in fields(PredictiveState)})


def _state_doc(s: TypeState) -> TypeStateDoc:
    p = s.predictive
    return TypeStateDoc(
        integral=s.integral,
        measurement=s.measurement,
        u=s.u,
        predictive=None if p is None else PredictiveStateDoc(**asdict(p)),
    )


def _already_done(ledger: Ledger, end: int) -> bool:
    done = ledger.state.window_end
    return done is not None and parse_time(done, "controller state window_end") >= end


def done_message(ledger: Ledger, end: int) -> str:
    """Why a window computed already (or older than the last one) is not computed again."""
    last = ledger.state.window_end
    if last is not None and parse_time(last, "controller state window_end") > end:
        return (
            f"window ending {iso(end)} is older than the last computed window "
            f"(generation {ledger.generation}, window {last}); nothing written"
        )
    return (
        f"window ending {iso(end)} already computed "
        f"(generation {ledger.generation}); nothing written"
    )


def wait_for_counts(
    fetch: Fetch,
    urls: list[str],
    start: int,
    end: int,
    max_wait: float,
    clock: Callable[[], float],
    sleep: Callable[[float], object],
) -> tuple[WindowCounts, bool]:
    """Counts once complete through ``end``, or after ``max_wait`` (then marked incomplete)."""
    began = clock()
    while True:
        counts = fetch(urls, start, end)
        if counts.complete_through is not None and counts.complete_through >= end:
            return counts, True
        waited = clock() - began
        if waited >= max_wait:
            log.warning(
                "counts complete only through %s; proceeding after %.0fs",
                display.moment(counts.complete_through),
                waited,
            )
            return counts, False
        sleep(min(5.0, max_wait - waited))


def _diagnostic(s: TypeStep) -> Diagnostic:
    return Diagnostic(
        target=s.target.to_json(),
        share=s.share,
        impressions=s.impressions,
        error=s.error,
        p=s.p,
        i=s.i,
        d=s.d,
        saturated=s.saturated,
        skipped=s.skipped,
        rate_limited=s.rate_limited,
        mode=s.mode,
        fallback=s.fallback,
        samples=s.samples,
        predicted_share=s.predicted_share,
        reachable=s.reachable,
        # Superset: the solve before filtering, the model's bias, the seen fraction of the
        # slots (pid_controller/view_depth.py), the engagement cost.
        **dict(s.detail),
    )


def _diagnostics(steps: dict[str, PolicyStep]) -> dict[str, dict[str, Diagnostic]]:
    return {
        policy: {t: _diagnostic(s) for t, s in step.types.items()} for policy, step in steps.items()
    }


@dataclass(frozen=True)
class WindowRead:
    """What the step read for its window: counts, and samples (None: why not)."""

    counts: WindowCounts
    complete: bool
    samples: WindowSamples | None = None
    unavailable: str | None = None


def _policy_steps(
    targets: TargetsDocument, ledger: Ledger, read: WindowRead, config: ControllerConfig
) -> dict[str, PolicyStep]:
    configs = policy_configs(targets, config)
    measured = counts_by_policy(read.counts.groups, configs.keys())
    previous = previous_states(ledger.state)
    if config.mode == "pid":
        return control_step(configs, measured, previous, min_impressions=config.min_impressions)
    settings = replace(config.predictive, min_impressions=config.min_impressions)
    samples = (
        None
        if read.samples is None
        else samples_by_policy(read.samples, configs, settings.sample_cap)
    )
    in_force = dict(ledger.constants.policies) if ledger.constants else {}
    return predictive_control_step(
        configs, measured, samples, previous, in_force, settings, unavailable=read.unavailable
    )


def read_samples(
    samples: Samples | None, start: int, end: int
) -> tuple[WindowSamples | None, str | None]:
    """The window's samples, or None and why (never an error: the step falls back)."""
    if samples is None:
        return None, NO_SOURCE
    try:
        return samples(start, end), None
    except SamplesUnavailableError as exc:
        log.warning("samples unavailable for [%s, %s): %s; PID step this window", start, end, exc)
        return None, UNAVAILABLE


def summarize(doc: ConstantsDocument) -> str:
    """One line per generation for ``cdctl constants history``."""
    parts = []
    for policy, constants in sorted(doc.policies.items()):
        diags = doc.diagnostics.get(policy, {})
        items = []
        for t, u in sorted(constants.items()):
            d = diags.get(t)
            flag = (
                f" SAT-{d.saturated}" if d and d.saturated else (" held" if d and d.skipped else "")
            )
            items.append(f"{t} {u:+.3f}{flag}")
        parts.append(f"{policy}: " + ", ".join(items))
    return "; ".join(parts) or "(no policies)"


def _constants_document(
    steps: dict[str, PolicyStep],
    read: WindowRead,
    generation: int,
    end: int,
    config: ControllerConfig,
    now: datetime,
) -> ConstantsDocument:
    return ConstantsDocument.model_validate(
        {
            "schema": 1,
            "generation": generation,
            "computed_at": iso(now.timestamp()),
            "window_end": iso(end),
            "rolled_back_from": None,
            "policies": {p: s.constants for p, s in steps.items()},
            "diagnostics": _diagnostics(steps),
            # Superset fields (documented in the README): how complete the counts were,
            # the controller's mode and the sample records it skipped as unreadable.
            "counts_complete": read.complete,
            "counts_complete_through": read.counts.complete_through,
            "mode": config.mode,
            "samples_skipped": read.samples.skipped if read.samples else 0,
        }
    )


def build_step(
    targets: TargetsDocument,
    ledger: Ledger,
    read: WindowRead,
    end: int,
    config: ControllerConfig,
    now: datetime,
) -> HistoryEntry:
    """The documents a step would publish (pure given its inputs)."""
    steps = _policy_steps(targets, ledger, read, config)
    generation = ledger.generation + 1
    constants = _constants_document(steps, read, generation, end, config, now)
    state = ControllerStateDocument(
        generation=generation,
        window_end=iso(end),
        policies={
            p: {t: _state_doc(s) for t, s in step.states.items()} for p, step in steps.items()
        },
    )
    return HistoryEntry(
        generation=generation,
        written_at=iso(now.timestamp()),
        writer=config.writer,
        kind="step",
        summary=summarize(constants),
        constants=constants,
        state=state,
    )


def run_once(
    store: ZkStore,
    config: ControllerConfig,
    *,
    at: datetime | None = None,
    dry_run: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], object] = time.sleep,
    fetch: Fetch = fetch_window,
    samples: Samples | None = None,
) -> RunResult:
    """One step; ``samples`` reads the window's candidate samples (None: no source)."""
    paused = read_paused(store)
    if paused is not None:
        return RunResult("paused", f"paused since {paused.since}: {paused.reason}; nothing written")
    now = clock().timestamp()
    end = last_full_window_end(int(at.timestamp() if at else now), config.interval)
    if end > now:
        raise WindowNotEndedError(
            "--at",
            f"the window ending {iso(end)} has not ended yet: it ends at {iso(end)}, "
            f"in {format_duration(end - now)}",
        )
    if dry_run:
        return _step(store, config, end, clock, sleep, fetch, samples, dry_run=True)
    with store.lock(store.paths.controller_lock, config.writer, config.lock_timeout):
        return _step(store, config, end, clock, sleep, fetch, samples, dry_run=False)


def _step(
    store: ZkStore,
    config: ControllerConfig,
    end: int,
    clock: Callable[[], datetime],
    sleep: Callable[[float], object],
    fetch: Fetch,
    samples: Samples | None,
    *,
    dry_run: bool,
) -> RunResult:
    ledger = read_ledger(store)
    if _already_done(ledger, end):
        return RunResult("unchanged", done_message(ledger, end), ledger.constants)
    read_policies(store)  # no targets: refuse before waiting for counts
    urls = config.counter_urls or registered_counters(store)
    counts, complete = wait_for_counts(
        fetch,
        urls,
        end - config.interval,
        end,
        config.max_wait,
        lambda: clock().timestamp(),
        sleep,
    )
    start = end - config.interval
    window, unavailable = (
        read_samples(samples, start, end) if config.mode == "predictive" else (None, None)
    )
    read = WindowRead(counts, complete, window, unavailable)

    def build(targets: TargetsDocument) -> HistoryEntry:
        return build_step(targets, ledger, read, end, config, clock())

    if dry_run:
        entry = build(read_policies(store).doc)
        return RunResult("dry_run", "dry run: nothing written", entry.constants)
    return decide_write(store, ledger, end, build)
