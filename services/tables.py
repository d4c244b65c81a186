"""Rich tables of the documents for people: cdctl and `pid-controller explain` print the same."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from services import display
from services.doc_warnings import counts_warning, saturation_warning
from services.documents import Bounds, ConstantsDocument, Diagnostic, TargetsDocument

_fmt = display.number


def _bounds(b: Bounds) -> str:
    text = f"[{_or_default(b.min)}, {_or_default(b.max)}]"
    return text if b.max_step is None else f"{text}, max step {b.max_step:g}"


def _or_default(value: float | None) -> str:
    return "default" if value is None else f"{value:g}"


def targets_table(doc: TargetsDocument) -> Table:
    table = Table(title="Targets", title_justify="left")
    for col in ("policy", "type", "target", "gains (kp/ki/kd)", "bounds"):
        table.add_column(col)
    for policy, entry in sorted(doc.policies.items()):
        gains = f"{entry.gains.kp}/{entry.gains.ki}/{entry.gains.kd}" if entry.gains else "default"
        bounds = _bounds(entry.bounds) if entry.bounds else "default"
        for type_name, share in sorted(entry.targets.items()):
            table.add_row(policy, type_name, display.target(share), gains, bounds)
    return table


def age_seconds(computed_at: str, now: datetime) -> float | None:
    try:
        then = datetime.fromisoformat(computed_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return (now - then).total_seconds()


def constants_table(doc: ConstantsDocument, now: datetime) -> Table:
    warnings = [w for w in (counts_warning(doc), *_saturation_warnings(doc)) if w]
    table = Table(
        title=_constants_title(doc, now),
        title_justify="left",
        caption="\n".join(f"WARNING: {w}" for w in warnings) or None,
        caption_justify="left",
        caption_style="bold yellow",
    )
    left = ("policy", "type", "mode", "saturated", "skipped")
    columns = ("constant", "target", "share", "predicted", "reachable", "error", "P", "I", "D")
    for col in ("policy", "type", *columns, *left[2:]):
        table.add_column(col, justify="left" if col in left else "right")
    for policy, constants in sorted(doc.policies.items()):
        diags = doc.diagnostics.get(policy, {})
        for type_name, u in sorted(constants.items()):
            _add_constant_row(table, policy, type_name, u, diags.get(type_name))
    return table


def _constants_title(doc: ConstantsDocument, now: datetime) -> str:
    age = age_seconds(doc.computed_at, now)
    title = (
        f"Constants generation {doc.generation}, window ending {doc.window_end or '-'}, "
        f"computed {doc.computed_at} ({'?' if age is None else f'{age:.0f} s'} ago)"
    )
    if doc.rolled_back_from is not None:
        title += f", rolled back from generation {doc.rolled_back_from}"
    return title


def _add_constant_row(
    table: Table, policy: str, type_name: str, u: float, d: Diagnostic | None
) -> None:
    saturated = f"SATURATED ({d.saturated})" if d and d.saturated else ""
    if d and d.rate_limited:
        saturated = f"{saturated} rate-limited".strip()
    skipped = f"held: {d.skipped}" if d and d.skipped else ""
    style = "bold red" if saturated else "yellow" if skipped else None
    table.add_row(
        policy,
        type_name,
        display.signed(u),
        display.target(d.target if d else None),
        display.share(d.share if d else None),
        display.share(d.predicted_share if d else None),
        _reachable(d),
        _fmt(d.error if d else None),
        _fmt(d.p if d else None),
        _fmt(d.i if d else None),
        _fmt(d.d if d else None),
        _mode(d),
        saturated,
        skipped,
        style=style,
    )


def _reachable(d: Diagnostic | None) -> str:
    if d is None or d.reachable is None:
        return display.NONE
    return f"{display.share(d.reachable[0])}..{display.share(d.reachable[1])}"


def _mode(d: Diagnostic | None) -> str:
    if d is None:
        return ""
    if d.fallback:
        return f"pid ({d.fallback})"
    # The predictive model's fitted view depth (superset field), when users stop early.
    seen = (d.model_extra or {}).get("seen_fraction")
    if d.mode == "predictive" and isinstance(seen, float) and seen < 1.0:
        return f"predictive, {seen:.0%} of slots seen"
    return d.mode


def _saturation_warnings(doc: ConstantsDocument) -> list[str | None]:
    return [
        f"{policy}/{saturation_warning(t, d)}"
        for policy, types in sorted(doc.diagnostics.items())
        for t, d in sorted(types.items())
        if d.saturated
    ]


def print_table(table: Table) -> None:
    Console(width=160).print(table)
