"""The tables ``cd-simulate`` prints: per policy and type how the loop held (runs
side by side with ``--compare``), and per scripted event how it recovered."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from pid_controller.simulator.engine import RunResult, Series
from pid_controller.simulator.metrics import largest_step
from pid_controller.simulator.report import Row, event_rows, row_of


def _fmt(value: float | int | None, spec: str) -> str:
    return "never" if value is None else format(value, spec)


def _row_cells(r: Row, s: Series) -> list[str]:
    limited = sum(s.rate_limited)
    return [
        _fmt(r.first_share, ".2%"),
        _fmt(r.final_share, ".2%"),
        _fmt(r.settle_hours, "d"),
        f"{r.overshoot_pct:.1f}",
        _fmt(r.steady_state_error_pct, ".2f"),
        str(r.saturated_hours),
        f"{largest_step(s.u):.2f}" + (f" ({limited} lim)" if limited else ""),
    ]


HEAD = [
    "first share",
    "final share",
    "settle h",
    "overshoot %",
    "steady err %",
    "saturated h",
    "max |Δu|",
]
SHORT = ["first", "final", "settle h", "over %", "sse %", "sat h", "Δu"]


def results_table(runs: Sequence[RunResult]) -> Table:
    """One row per policy and type; with several runs, their columns side by side."""
    hour = runs[0].hour_seconds
    length = f"{runs[0].hours} h" if hour == 3600 else f"{runs[0].hours} windows of {hour} s"
    note = "" if hour == 3600 else "; hour columns count windows"
    table = Table(title=f"scenario {runs[0].scenario.name} ({length}{note})")
    for name in ("policy", "type", "target"):
        table.add_column(name, no_wrap=True)
    for run in runs:
        for head, short in zip(HEAD, SHORT, strict=True):
            name = head if len(runs) == 1 else f"{short}\n({run.controller})"
            table.add_column(name, justify="right")
    for i, s in enumerate(runs[0].series):
        cells = [_row_cells(row_of(r.series[i], r.events, r.hours), r.series[i]) for r in runs]
        table.add_row(s.policy, s.type, s.target[-1].label(), *(c for r in cells for c in r))
    return table


def events_table(run: RunResult) -> Table:
    """Metrics counted from each event: how fast the loop recovered from it."""
    table = Table(title=f"per event ({run.controller} controller), hours counted from the event")
    for name in ("hour", "event", "policy", "type"):
        table.add_column(name, no_wrap=name != "event")
    for name in ("settle h", "overshoot %", "saturated after h"):
        table.add_column(name, justify="right")
    for i, e in enumerate(run.events):
        for r in event_rows(run, i):
            table.add_row(
                str(e.hour),
                e.label,
                r.policy,
                r.type,
                _fmt(r.settle_hours, "d"),
                f"{r.overshoot_pct:.1f}",
                _fmt(r.saturated_after_hours, "d").replace("never", "-"),
            )
    return table
