"""Scenario files: parsing and validation (contract section 8, plus supersets).

A scenario is refused as a whole with an :class:`InvalidInputError` naming the
field, never repaired: a simulation of a silently "fixed" file would answer a
question nobody asked. Supersets of the contract's format:

* ``description``: one line shown by ``cd-simulate --list``;
* ``target_changes``: ``[{"at_hour", "policy", "type", "target"}]``;
* ``interval_seconds``: the controller's window (hours are 3600 s);
* ``gains`` / ``bounds``: per-policy overrides, shaped like the targets document's;
* ``min_impressions``: the controller's hold threshold;
* ``window_seconds``: short windows (60 s up to an hour, whole minutes):
  "hours become windows". Every hour of the scenario (``hours``, ``at_hour``,
  ``requests_per_hour``, the diurnal period of 24, every metric) counts
  windows of this length, and the controller steps once per window. In
  process the loop is the same; under ``--live`` simulated time, event stamps
  and ``pid-controller run`` windows are ``window_seconds`` long, so a shipped
  story replays in 5-minute windows on the real stack.

Targets (initial and in ``target_changes``) are shares or ranges, as in the
targets document (contract sections 11 and 12).

Contract section 12 adds ``sample_rate``, ``view_depth`` and shocks'
``score_std_factor`` (a shock may now move the mean, the spread, or both).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.documents import (
    Bounds,
    Finite,
    Gains,
    Name,
    Target,
    target_interval,
    validate_document,
)
from services.errors import InvalidInputError
from services.intervals import Interval
from services.names import DEFAULT_POLICY

MIX_TOLERANCE = 1e-6
SCENARIO_PACKAGE = "pid_controller.simulator.scenarios"
_SUFFIXES = (".json", ".yaml", ".yml")

NonNegative = Annotated[Finite, Field(ge=0)]


class _Strict(BaseModel):
    # Unknown keys are refused so a typo ("shoks") fails loudly instead of
    # running a different experiment than the one written down.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=True)


class TypeSpec(_Strict):
    mix: Annotated[Finite, Field(ge=0, le=1)]
    score_mean: Finite
    score_std: NonNegative
    diurnal: NonNegative = 0.0


class Shock(_Strict):
    at_hour: Annotated[int, Field(ge=0)]
    type: Name
    score_mean_delta: Finite = 0.0
    # Contract section 12: multiplies the type's score spread from then on.
    score_std_factor: Annotated[Finite, Field(gt=0)] = 1.0


class ViewDepth(_Strict):
    """Users see only the first ``min(slots, 1 + Poisson(mean - 1))`` results."""

    mean: Annotated[Finite, Field(ge=1)]


class TargetChange(_Strict):
    at_hour: Annotated[int, Field(ge=0)]
    policy: Name
    type: Name
    target: Target


class Scenario(_Strict):
    name: str = "scenario"
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    hours: Annotated[int, Field(ge=1, le=100_000)]
    requests_per_hour: Annotated[int, Field(ge=1)]
    slots: Annotated[int, Field(ge=1)]
    candidates_per_request: Annotated[int, Field(ge=1, le=100_000)]
    types: Annotated[dict[Name, TypeSpec], Field(min_length=1)]
    groups: Annotated[dict[Name, NonNegative], Field(min_length=1)] = Field(
        default_factory=lambda: {DEFAULT_POLICY: 1.0}
    )
    targets: dict[Name, dict[Name, Target]]
    shocks: list[Shock] = Field(default_factory=list)
    target_changes: list[TargetChange] = Field(default_factory=list)
    interval_seconds: Annotated[int, Field(ge=60, le=86_400)] = 3600
    window_seconds: int | None = None
    gains: dict[Name, Gains] = Field(default_factory=dict)
    bounds: dict[Name, Bounds] = Field(default_factory=dict)
    min_impressions: Annotated[int, Field(ge=0)] | None = None
    # Contract section 12: the fraction of requests sampled for the predictive controller.
    sample_rate: Annotated[Finite, Field(ge=0, le=1)] = 0.2
    view_depth: ViewDepth | None = None

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(self.types)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(self.groups)

    def policies(self) -> list[str]:
        """Every policy the run ever has, in first-seen order."""
        seen = dict.fromkeys(self.targets)
        seen.update(dict.fromkeys(c.policy for c in self.target_changes))
        return list(seen)

    def targets_at(self, hour: int) -> dict[str, dict[str, Interval]]:
        """The targets in force during ``hour``: the initial ones plus earlier changes."""
        current = {
            p: {t: target_interval(v) for t, v in ts.items()} for p, ts in self.targets.items()
        }
        for change in sorted(self.target_changes, key=lambda c: c.at_hour):
            if change.at_hour <= hour:
                current.setdefault(change.policy, {})[change.type] = target_interval(change.target)
        return current

    @property
    def hour_seconds(self) -> int:
        """Real seconds in one of the scenario's "hours" (a window with window_seconds)."""
        return self.window_seconds or 3600


def _check_mix(s: Scenario) -> None:
    total = math.fsum(t.mix for t in s.types.values())
    if abs(total - 1.0) > MIX_TOLERANCE:
        raise InvalidInputError(
            "types.*.mix", f"mixes sum to {total:.9g}; they must sum to 1 (within 1e-6)"
        )
    if math.fsum(s.groups.values()) <= 0:
        raise InvalidInputError("groups", "weights must not all be 0")


def _check_names(s: Scenario) -> None:
    for policy, targets in s.targets.items():
        for type_name in targets:
            if type_name not in s.types:
                raise InvalidInputError(
                    f"targets.{policy}.{type_name}", f"unknown type (types: {', '.join(s.types)})"
                )
    for i, shock in enumerate(s.shocks):
        if shock.type not in s.types:
            raise InvalidInputError(f"shocks.{i}.type", f"unknown type {shock.type!r}")
    for i, change in enumerate(s.target_changes):
        if change.type not in s.types:
            raise InvalidInputError(f"target_changes.{i}.type", f"unknown type {change.type!r}")
    policies = set(s.policies())
    for key, per_policy in (("gains", s.gains), ("bounds", s.bounds)):
        for policy in per_policy:
            if policy not in policies:
                raise InvalidInputError(f"{key}.{policy}", "no targets name this policy")


def _check_sums(s: Scenario) -> None:
    """Each policy's targets must sum below 1 at every moment, changes included."""
    hours = sorted({0, *(c.at_hour for c in s.target_changes)})
    for hour in hours:
        for policy, targets in s.targets_at(hour).items():
            total = math.fsum(t.lo for t in targets.values())
            if total >= 1.0:
                field = f"targets.{policy}" if hour == 0 else "target_changes"
                raise InvalidInputError(
                    field,
                    f"{policy} targets (shares and range mins) sum to {total:.6g} "
                    f"at hour {hour}; must be below 1",
                )


def _check_shape(s: Scenario) -> None:
    if s.slots > s.candidates_per_request:
        raise InvalidInputError(
            "slots", f"{s.slots} slots exceed candidates_per_request ({s.candidates_per_request})"
        )
    if 3600 % s.interval_seconds and s.interval_seconds % 3600:
        raise InvalidInputError(
            "interval_seconds", "must divide 3600 or be a multiple of 3600 (hours are 3600 s)"
        )
    w = s.window_seconds
    if w is not None and not (60 <= w <= 3600 and w % 60 == 0):
        raise InvalidInputError(
            "window_seconds", f"{w} s: must be 60 to 3600 seconds, whole minutes"
        )
    if w is not None and s.interval_seconds != 3600:
        raise InvalidInputError(
            "window_seconds", "set window_seconds or interval_seconds, not both"
        )


def parse_scenario(data: Any, name: str = "scenario") -> Scenario:
    """Validate decoded data (a dict) into a :class:`Scenario` named ``name``."""
    if not isinstance(data, dict):
        raise InvalidInputError("scenario", f"must be a mapping, got {type(data).__name__}")
    if "name" in data:
        raise InvalidInputError("name", "unknown key (a scenario is named by its file)")
    scenario = validate_document(Scenario, {**data, "name": name})
    _check_mix(scenario)
    _check_names(scenario)
    _check_sums(scenario)
    _check_shape(scenario)
    return scenario


def decode(text: str, source: str) -> Any:
    """JSON or YAML by the file's suffix; decoding errors name the file."""
    try:
        if source.endswith((".yaml", ".yml")):
            return yaml.safe_load(text)
        return json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError("scenario", f"{source} is not valid: {exc}") from exc


def shipped() -> dict[str, str]:
    """Shipped scenario names -> their file names (package data)."""
    folder = resources.files(SCENARIO_PACKAGE)
    return {
        Path(f.name).stem: f.name
        for f in folder.iterdir()
        if f.name.endswith(_SUFFIXES) and f.is_file()
    }


def load_scenario(ref: str) -> Scenario:
    """A scenario from a file path, or else a shipped scenario by name."""
    path = Path(ref)
    if path.is_file():
        return parse_scenario(decode(path.read_text(encoding="utf-8"), path.name), path.stem)
    names = shipped()
    if ref in names:
        file_name = names[ref]
        text = resources.files(SCENARIO_PACKAGE).joinpath(file_name).read_text(encoding="utf-8")
        return parse_scenario(decode(text, file_name), ref)
    raise InvalidInputError(
        "scenario", f"no file {ref!r} and no shipped scenario of that name ({', '.join(names)})"
    )


# The contract's example scenario (section 8), for tests and the benchmark.
CONTRACT_EXAMPLE: dict[str, Any] = {
    "seed": 7,
    "hours": 96,
    "requests_per_hour": 20000,
    "slots": 25,
    "candidates_per_request": 400,
    "types": {
        "video": {"mix": 0.25, "score_mean": -2.0, "score_std": 1.0, "diurnal": 0.1},
        "image": {"mix": 0.75, "score_mean": -2.2, "score_std": 1.0},
    },
    "groups": {"control": 1.0},
    "targets": {"default": {"video": 0.155}},
    "shocks": [{"at_hour": 48, "type": "video", "score_mean_delta": 0.5}],
}
