"""The closed loop: serve traffic for a slice of time, step the controller per window.

The two halves are protocols so ``--live`` (simulator/live.py) swaps both
for the real stack (requests through the blender and Kafka, steps through
``pid-controller run``) without touching the loop or the metrics:

* :class:`Traffic` blends requests and counts impressions per experiment group;
* :class:`Controller` turns one window's counts into new constants.

Time runs in *slices* of ``gcd(3600, interval)`` seconds, so both hourly
measurement and any window length that divides an hour (or is a whole number
of hours) line up on slice boundaries.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pid_controller.law_settings import PredictiveSettings
from pid_controller.predictive import (
    predictive_control_step,
    samples_by_policy,
)
from pid_controller.simulator.scenario import Scenario
from pid_controller.step import (
    Bounds,
    ErrorSpace,
    Gains,
    PolicyConfig,
    PolicyCounts,
    PolicyStep,
    TypeState,
    control_step,
    counts_by_policy,
    resolve_bounds,
)
from services.intervals import NO_TARGET, Interval, as_interval
from services.samples import WindowSamples
from services.settings import ControllerSettings

Constants = dict[str, dict[str, float]]
EventKind = Literal["start", "shock", "target_change"]
# predictive: the services' default law (pid_controller/predictive.py); pid: the
# log-space PID step alone; linear: the PID on share units, for comparison.
ControllerName = Literal["predictive", "pid", "linear"]
CONTROLLERS: tuple[ControllerName, ...] = ("predictive", "pid", "linear")


class Traffic(Protocol):
    def serve(
        self, start_hour: float, seconds: int, constants: Mapping[str, Mapping[str, float]]
    ) -> dict[str, PolicyCounts]:
        """Serve ``seconds`` of requests from ``start_hour``; impressions per group."""
        ...

    def take_samples(self) -> WindowSamples | None:
        """Candidate samples drawn since the last call (None: this traffic samples nothing)."""
        ...


class Controller(Protocol):
    def configure(self, configs: Mapping[str, PolicyConfig]) -> None:
        """Targets (with gains and bounds) in force from now on."""
        ...

    def step(
        self, counts: Mapping[str, PolicyCounts], samples: WindowSamples | None
    ) -> Mapping[str, PolicyStep]:
        """One control step on one window's impressions and candidate samples per group."""
        ...

    def constants(self) -> Constants:
        """The constants the blender uses right now."""
        ...


def default_gains() -> Gains:
    """The controller's shipped defaults (class defaults, not the environment, so
    a simulation is reproducible whatever ``CD_`` variables the shell has)."""
    f = ControllerSettings.model_fields
    return Gains(
        kp=float(f["controller_kp"].default),
        ki=float(f["controller_ki"].default),
        kd=float(f["controller_kd"].default),
    )


def default_bounds(max_step: float | None = None) -> Bounds:
    """The settings' default bounds and rate limit (``max_step`` overrides the latter)."""
    f = ControllerSettings.model_fields
    return Bounds(
        float(f["controller_u_min"].default),
        float(f["controller_u_max"].default),
        max_step or float(f["controller_max_step"].default),
    )


def min_impressions_of(scenario: Scenario) -> int:
    """The scenario's threshold, else the controller's default (0 is a valid threshold)."""
    if scenario.min_impressions is not None:
        return scenario.min_impressions
    return int(ControllerSettings.model_fields["controller_min_impressions"].default)


def predictive_settings(scenario: Scenario) -> PredictiveSettings:
    """The controller's shipped defaults (class defaults, as for the gains)."""
    f = ControllerSettings.model_fields
    return PredictiveSettings(
        min_samples=int(f["controller_min_samples"].default),
        default_slots=int(f["controller_default_slots"].default),
        sample_cap=int(f["controller_sample_cap"].default),
        min_impressions=min_impressions_of(scenario),
    )


class InProcessController:
    """The real control law with its state kept in memory: the predictive law
    (:func:`predictive_control_step`, the services' default) or the PID step."""

    def __init__(
        self, controller: ControllerName, min_impressions: int, predictive: PredictiveSettings
    ) -> None:
        self._controller: ControllerName = controller
        self._space: ErrorSpace = "linear" if controller == "linear" else "log"
        self._min = min_impressions
        self._predictive = predictive
        self._configs: dict[str, PolicyConfig] = {}
        self._states: dict[str, dict[str, TypeState]] = {}
        self._constants: Constants = {}

    def configure(self, configs: Mapping[str, PolicyConfig]) -> None:
        self._configs = dict(configs)

    def step(
        self, counts: Mapping[str, PolicyCounts], samples: WindowSamples | None
    ) -> Mapping[str, PolicyStep]:
        by_policy = counts_by_policy(counts, self._configs)
        if self._controller == "predictive":
            steps = predictive_control_step(
                self._configs,
                by_policy,
                None
                if samples is None
                else samples_by_policy(samples, self._configs, self._predictive.sample_cap),
                self._states,
                self._constants,
                self._predictive,
            )
        else:
            steps = control_step(
                self._configs, by_policy, self._states, min_impressions=self._min, space=self._space
            )
        self._states = {p: s.states for p, s in steps.items()}
        self._constants = {p: s.constants for p, s in steps.items()}
        return steps

    def constants(self) -> Constants:
        return self._constants


@dataclass
class Series:
    """One policy and type, hour by hour. NaN share: the policy had no impressions;
    NO_TARGET: the type had no target yet in that hour."""

    policy: str
    type: str
    share: list[float] = field(default_factory=list)
    target: list[Interval] = field(default_factory=list)
    u: list[float] = field(default_factory=list)
    saturated: list[bool] = field(default_factory=list)
    rate_limited: list[bool] = field(default_factory=list)

    def targeted(self) -> bool:
        return any(t.defined for t in self.target)


@dataclass(frozen=True)
class Event:
    hour: int
    kind: EventKind
    label: str
    policy: str | None = None  # None: every policy is affected


@dataclass
class RunResult:
    scenario: Scenario
    controller: ControllerName
    hours: int
    configs: dict[str, PolicyConfig]  # as in force at the end of the run
    series: list[Series]
    events: list[Event]
    seconds: float = 0.0
    hour_seconds: int = 3600  # a scenario's window_seconds: its "hours" are windows


def policy_configs(
    scenario: Scenario, hour: int, gains: Gains, bounds: Bounds
) -> dict[str, PolicyConfig]:
    """Each policy's targets at ``hour`` with its gains and bounds (scenario overrides first)."""
    configs = {}
    for policy, targets in scenario.targets_at(hour).items():
        g = scenario.gains.get(policy)
        configs[policy] = PolicyConfig(
            targets=targets,
            gains=Gains(g.kp, g.ki, g.kd) if g else gains,
            bounds=resolve_bounds(scenario.bounds.get(policy), bounds),
        )
    return configs


def events_of(scenario: Scenario, hours: int) -> list[Event]:
    """What happens to the loop and when, for per-event metrics and the figure."""
    events = [Event(0, "start", "start")]
    for s in scenario.shocks:
        sign = "+" if s.score_mean_delta >= 0 else ""
        parts = [f"{sign}{s.score_mean_delta:g}"] if s.score_mean_delta else []
        if s.score_std_factor != 1.0:
            parts.append(f"spread x{s.score_std_factor:g}")
        events.append(Event(s.at_hour, "shock", f"{s.type} score {', '.join(parts) or '0'}"))
    for c in scenario.target_changes:
        label = f"{c.policy}/{c.type} target -> {as_interval(c.target).label()}"
        events.append(Event(c.at_hour, "target_change", label, c.policy))
    return sorted((e for e in events if e.hour < hours), key=lambda e: e.hour)


def _merge(into: dict[str, PolicyCounts], more: Mapping[str, PolicyCounts]) -> None:
    for group, c in more.items():
        old = into.get(group, PolicyCounts(0))
        by_type = dict(old.by_type)
        for t, n in c.by_type.items():
            by_type[t] = by_type.get(t, 0) + n
        into[group] = PolicyCounts(old.total + c.total, by_type)


class _Recorder:
    """Collects the hourly series of every targeted policy and type."""

    def __init__(self, scenario: Scenario, hours: int) -> None:
        final = scenario.targets_at(hours - 1)
        self.series = {(p, t): Series(p, t) for p in scenario.policies() for t in final.get(p, {})}
        self._hour_saturated: set[tuple[str, str]] = set()
        self._hour_limited: set[tuple[str, str]] = set()

    def saturated(self, steps: Mapping[str, PolicyStep]) -> None:
        for policy, step in steps.items():
            for type_name, ts in step.types.items():
                if ts.saturated:
                    self._hour_saturated.add((policy, type_name))
                if ts.rate_limited:
                    self._hour_limited.add((policy, type_name))

    def hour(
        self, counts: Mapping[str, PolicyCounts], configs: Mapping[str, PolicyConfig], u: Constants
    ) -> None:
        by_policy = counts_by_policy(counts, configs)
        for (policy, type_name), s in self.series.items():
            c = by_policy.get(policy)
            total = c.total if c else 0
            s.share.append(c.by_type.get(type_name, 0) / total if c and total else math.nan)
            config = configs.get(policy)
            target = config.targets.get(type_name) if config else None
            s.target.append(NO_TARGET if target is None else as_interval(target))
            s.u.append(u.get(policy, {}).get(type_name, 0.0))
            s.saturated.append((policy, type_name) in self._hour_saturated)
            s.rate_limited.append((policy, type_name) in self._hour_limited)
        self._hour_saturated = set()
        self._hour_limited = set()


@dataclass(frozen=True)
class LoopSettings:
    hours: int
    controller: ControllerName
    gains: Gains
    bounds: Bounds


class _Window:
    """Counts since the last control step; steps when a window's slices are in."""

    def __init__(self, scenario: Scenario) -> None:
        self.slice_seconds = math.gcd(3600, scenario.interval_seconds)
        self.per_hour = 3600 // self.slice_seconds
        self._per_window = scenario.interval_seconds // self.slice_seconds
        self._slices = 0
        self._counts: dict[str, PolicyCounts] = {}

    def add(
        self, counts: Mapping[str, PolicyCounts], traffic: Traffic, controller: Controller
    ) -> Mapping[str, PolicyStep]:
        """Add one slice; run the controller if that completes a window."""
        _merge(self._counts, counts)
        self._slices += 1
        if self._slices % self._per_window:
            return {}
        steps = controller.step(self._counts, traffic.take_samples())
        self._counts = {}
        return steps


def run(
    scenario: Scenario,
    traffic: Traffic,
    controller: Controller,
    settings: LoopSettings,
    on_hour: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run the loop for ``settings.hours`` hours; constants take effect the next slice."""
    started = time.perf_counter()
    window = _Window(scenario)
    recorder = _Recorder(scenario, settings.hours)
    configs: dict[str, PolicyConfig] = {}
    for hour in range(settings.hours):
        fresh = policy_configs(scenario, hour, settings.gains, settings.bounds)
        if fresh != configs:
            configs = fresh
            controller.configure(configs)
        hour_counts: dict[str, PolicyCounts] = {}
        for k in range(window.per_hour):
            u_used = controller.constants()
            start = hour + k * window.slice_seconds / 3600
            counts = traffic.serve(start, window.slice_seconds, u_used)
            _merge(hour_counts, counts)
            recorder.saturated(window.add(counts, traffic, controller))
        recorder.hour(hour_counts, configs, u_used)
        if on_hour:
            on_hour(hour + 1, settings.hours)
    series = [s for s in recorder.series.values() if s.targeted()]
    return RunResult(
        scenario=scenario,
        controller=settings.controller,
        hours=settings.hours,
        configs=configs,
        series=series,
        events=events_of(scenario, settings.hours),
        seconds=time.perf_counter() - started,
        hour_seconds=scenario.hour_seconds,
    )


def simulate(
    scenario: Scenario,
    controller: ControllerName = "predictive",
    *,
    gains: Gains | None = None,
    executor: Executor | None = None,
    on_hour: Callable[[int, int], None] | None = None,
    max_step: float | None = None,
) -> RunResult:
    """The in-process loop: simulated traffic and the real control step.

    ``max_step`` overrides the default rate limit (``cd-simulate --max-step``)."""
    from pid_controller.simulator.traffic import SimulatedTraffic

    min_impressions = min_impressions_of(scenario)
    settings = LoopSettings(
        hours=scenario.hours,
        controller=controller,
        gains=gains or default_gains(),
        bounds=default_bounds(max_step),
    )
    traffic = SimulatedTraffic(scenario, scenario.seed, executor)
    law = InProcessController(controller, min_impressions, predictive_settings(scenario))
    return run(scenario, traffic, law, settings, on_hour)
