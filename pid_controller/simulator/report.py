"""From a run to numbers people and checks read: rows, per-event metrics, report.json.

The ``rows`` keys are the contract's (section 8) and stay exactly so. Everything
else is a superset: ``events`` (metrics measured from each shock or target
change, since a whole-run "settle" hides how fast the loop recovered), the
loop settings, and the hourly ``series`` the figure is drawn from.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pid_controller.simulator import metrics
from pid_controller.simulator.engine import Event, RunResult, Series
from services.intervals import Interval, TargetJson


@dataclass(frozen=True)
class Row:
    policy: str
    type: str
    target: TargetJson  # a share, or a range as {"min", "max"} (contract section 11)
    first_share: float | None
    final_share: float | None
    settle_hours: int | None
    overshoot_pct: float
    steady_state_error_pct: float | None
    saturated_hours: int


@dataclass(frozen=True)
class EventRow:
    policy: str
    type: str
    settle_hours: int | None  # counted from the event
    overshoot_pct: float
    saturated_after_hours: int | None  # from the event to the step that first said so


def _reported_after(flags: list[bool]) -> int | None:
    # Hour i's step runs at the end of hour i, i + 1 hours after the event.
    first = metrics.first_true(flags)
    return None if first is None else first + 1


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


def _start(s: Series) -> int:
    """First hour with a target: metrics start when the type starts being controlled."""
    return next(i for i, t in enumerate(s.target) if t.defined)


def row_of(s: Series, events: list[Event], hours: int) -> Row:
    """The contract's row. ``target`` is the last one in force; settle is counted
    against the target of each hour, so a target change the share has not yet
    followed puts it out of the band like any other miss."""
    a = _start(s)
    shares, targets = s.share[a:], s.target[a:]
    # Overshoot is judged per segment between events: a target stepping past
    # the share, or a shock, is not the controller overshooting.
    overshoot = max(
        metrics.overshoot_pct(s.share[span], s.target[span]) for span in segments(s, events, hours)
    )
    return Row(
        policy=s.policy,
        type=s.type,
        target=targets[-1].to_json(),
        first_share=_finite(shares[0]),
        final_share=_finite(shares[-1]),
        settle_hours=metrics.settle_hours(shares, targets),
        overshoot_pct=overshoot,
        steady_state_error_pct=metrics.steady_state_error_pct(shares, targets),
        saturated_hours=metrics.saturated_hours(s.saturated),
    )


def affects(e: Event, s: Series) -> bool:
    return e.policy is None or e.policy == s.policy


def segment(s: Series, events: list[Event], index: int, hours: int) -> slice:
    """Hours from event ``index`` up to the next event that affects ``s``."""
    start = events[index].hour
    later = [e.hour for e in events[index + 1 :] if affects(e, s) and e.hour > start]
    return slice(max(start, _start(s)), min(later, default=hours))


def segments(s: Series, events: list[Event], hours: int) -> list[slice]:
    """Every non-empty segment of ``s`` between the events that affect it."""
    spans = [segment(s, events, i, hours) for i, e in enumerate(events) if affects(e, s)]
    return [span for span in spans if span.start < span.stop]


def event_rows(result: RunResult, index: int) -> list[EventRow]:
    """Metrics of each affected series over [event, next event affecting it)."""
    event = result.events[index]
    out = []
    for s in result.series:
        if not affects(event, s) or _start(s) > event.hour:
            continue
        span = segment(s, result.events, index, result.hours)
        out.append(
            EventRow(
                policy=s.policy,
                type=s.type,
                settle_hours=metrics.settle_hours(s.share[span], s.target[span]),
                overshoot_pct=metrics.overshoot_pct(s.share[span], s.target[span]),
                saturated_after_hours=_reported_after(s.saturated[span]),
            )
        )
    return out


def _target_json(t: Interval) -> TargetJson | None:
    return t.to_json() if t.defined else None


def steps_of(s: Series) -> dict[str, Any]:
    """How far the constant moved: the largest move between hours, and in how many
    hours the rate limit (``max_step``) bound."""
    return {
        "policy": s.policy,
        "type": s.type,
        "largest_step": round(metrics.largest_step(s.u), 6),
        "rate_limited_hours": metrics.saturated_hours(s.rate_limited),
    }


def report_dict(result: RunResult) -> dict[str, Any]:
    s = result.scenario
    return {
        "scenario": s.name,
        "controller": result.controller,
        "rows": [asdict(row_of(x, result.events, result.hours)) for x in result.series],
        "events": [
            {
                "hour": e.hour,
                "kind": e.kind,
                "label": e.label,
                "policy": e.policy,
                "rows": [asdict(r) for r in event_rows(result, i)],
            }
            for i, e in enumerate(result.events)
        ],
        "steps": [steps_of(x) for x in result.series],
        "hours": result.hours,
        "hour_seconds": result.hour_seconds,
        "seed": s.seed,
        "requests_per_hour": s.requests_per_hour,
        "interval_seconds": s.interval_seconds,
        "policies": {
            p: {
                "gains": asdict(c.gains),
                "bounds": {"min": c.bounds.lo, "max": c.bounds.hi, "max_step": c.bounds.max_step},
            }
            for p, c in result.configs.items()
        },
        "runtime_seconds": round(result.seconds, 3),
        "series": [
            {
                "policy": x.policy,
                "type": x.type,
                "share": [_finite(v) for v in x.share],
                "target": [_target_json(v) for v in x.target],
                "u": x.u,
                "saturated": x.saturated,
            }
            for x in result.series
        ],
    }


def write_report(result: RunResult, path: Path) -> dict[str, Any]:
    data = report_dict(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data
