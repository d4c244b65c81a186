"""The HTML status page at ``GET /``: what a person on call wants at a glance.

Plain server-rendered HTML with inline style and no external assets, so it
works from inside any network. Every value from the constants document is
escaped: group and type names are validated, but diagnostics may carry
superset fields written by other tools.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from typing import Any

from blender.constants_source import HistoryPoint, Snapshot, parse_timestamp
from services import display
from services.doc_warnings import counts_warning, saturation_warning
from services.documents import Diagnostic
from services.intervals import Interval

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}
th:first-child,td:first-child{text-align:left}
.warn{background:#fff3cd;color:#7a4b00}.bad{background:#f8d7da;color:#842029}
.ok{color:#0f5132}
.chart{display:inline-block;margin:0 1.5em 1em 0}figcaption{font-size:0.9em}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return display.number(value)
    if isinstance(value, tuple):  # a reachable range of shares
        return escape("..".join(display.share(v) for v in value))
    return escape(str(value))


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "–"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(snap: Snapshot, now: float, connected: bool | None) -> str:
    doc = snap.doc
    zk = {True: "connected", False: "disconnected", None: "not used"}[connected]
    zk_class = "ok" if connected or connected is None else "warn"
    rows = [
        ("Source", escape(snap.source), "" if snap.source != "none" else "warn"),
        ("ZooKeeper", zk, zk_class),
        ("Generation", _fmt(snap.generation), ""),
        ("Computed at", _fmt(doc.computed_at if doc else None), ""),
        ("Age", _age(snap.age_seconds(now)), ""),
        ("Window end", _fmt(doc.window_end if doc else None), ""),
        ("Rolled back from", _fmt(doc.rolled_back_from if doc else None), ""),
        ("Ready", "yes" if snap.ready else "no", "" if snap.ready else "warn"),
        _controller_row(snap),
    ]
    if snap.last_error:
        rows.append(
            ("Last error", f"{escape(snap.last_error)} ({_when(snap.last_error_at)})", "bad")
        )
    body = "".join(
        f'<tr><th>{name}</th><td class="{cls}">{value}</td></tr>' for name, value, cls in rows
    )
    return f"<table>{body}</table>"


def _controller_row(snap: Snapshot) -> tuple[str, str, str]:
    if snap.paused is None:
        return ("Controller", "not paused", "")
    p = snap.paused
    return ("Controller", escape(display.paused_notice(p.reason, p.since)), "bad")


def _constants(snap: Snapshot) -> str:
    if snap.doc is None or not snap.doc.policies:
        return "<p>No constants: every type blends with 0.</p>"
    parts = []
    for policy, constants in sorted(snap.doc.policies.items()):
        rows = "".join(
            f"<tr><td>{escape(t)}</td><td>{u:+.4f}</td></tr>" for t, u in sorted(constants.items())
        )
        parts.append(
            f"<h3>Policy {escape(policy)}</h3>"
            f"<table><tr><th>Type</th><th>Constant u</th></tr>{rows}</table>"
        )
    return "".join(parts)


_DIAG_COLUMNS = (
    "mode",
    "fallback",
    "target",
    "share",
    "predicted_share",
    "reachable",
    "impressions",
    "error",
    "p",
    "i",
    "d",
    "saturated",
    "skipped",
    "rate_limited",
)


def _cell(diag: Diagnostic, column: str) -> str:
    if column == "target":
        return escape(display.target(diag.target))
    if column == "rate_limited":
        return "yes" if diag.rate_limited else ""
    return _fmt(getattr(diag, column, None))


def _diagnostics(snap: Snapshot) -> str:
    if snap.doc is None or not snap.doc.diagnostics:
        return "<p>No diagnostics in the constants document.</p>"
    head = "".join(f"<th>{c}</th>" for c in ("policy", "type", *_DIAG_COLUMNS))
    rows = []
    for policy, types in sorted(snap.doc.diagnostics.items()):
        for type_name, diag in sorted(types.items()):
            cells = "".join(f"<td>{_cell(diag, c)}</td>" for c in _DIAG_COLUMNS)
            cls = ' class="warn"' if diag.saturated else ""
            rows.append(
                f"<tr{cls}><td>{escape(policy)}</td><td>{escape(type_name)}</td>{cells}</tr>"
            )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _warnings(snap: Snapshot) -> str:
    if snap.doc is None:
        return ""
    items = [
        f"<li>{escape(policy)}/{escape(saturation_warning(t, d) or '')}</li>"
        for policy, types in sorted(snap.doc.diagnostics.items())
        for t, d in sorted(types.items())
        if d.saturated
    ]
    incomplete = counts_warning(snap.doc)
    if incomplete:
        items.insert(0, f"<li>{escape(incomplete)}</li>")
    if not items:
        return ""
    return f'<div class="warn"><h2>Warnings</h2><ul>{"".join(items)}</ul></div>'


def _minutes(points: list[HistoryPoint]) -> list[float]:
    """Each point's window end in minutes before the last one (index order if unparsable)."""
    ends = [parse_timestamp(p.window_end) for p in points]
    last = ends[-1]
    if last is None or any(e is None for e in ends):
        return [float(i - len(points) + 1) for i in range(len(points))]
    return [(e - last) / 60.0 for e in ends if e is not None]


def _band(t: Interval) -> tuple[float, float]:
    """What the chart shades as on target: a point ±5 %, a range its bounds."""
    if t.is_point:
        return t.lo * 0.95, t.hi * 1.05
    return t.lo, t.hi


def _axis(minutes: list[float], x: Callable[[float], float], y0: float) -> str:
    """Time ticks under the chart, in minutes before the last window's end."""
    first = minutes[0]
    # The end ticks anchor inwards so their text stays inside the chart.
    ticks = [(first, "start"), (first / 2, "middle"), (0.0, "end")] if first < 0 else []
    return "".join(
        f'<text x="{x(m):.1f}" y="{y0:.1f}" font-size="10" text-anchor="{anchor}" '
        f'fill="#555">{"now" if m == 0 else f"{m:.0f} min"}</text>'
        for m, anchor in ticks
    )


def _sparkline(points: list[HistoryPoint]) -> str:
    """Share (blue) against target (green: the 5% band, or the range) over recent windows;
    the time axis is in minutes, so windows of any length read the same."""
    w, h, pad, axis = 360, 110, 6, 14
    shares = [p.share for p in points]
    bands = [_band(p.target) for p in points]
    lo = min(*shares, *(b[0] for b in bands))
    # A min-only range is open upwards: the chart stops a little above the data.
    hi = max(*shares, *(b[1] for b in bands if b[1] < 1.0), *(b[0] * 1.05 for b in bands))
    hi = max(hi, max(shares) * 1.05)
    span = (hi - lo) or 1.0
    minutes = _minutes(points)
    width = (-minutes[0]) or 1.0

    def x(m: float) -> float:
        return pad + (m - minutes[0]) * (w - 2 * pad) / width

    def y(v: float) -> float:
        return h - pad - (min(v, hi) - lo) / span * (h - 2 * pad)

    band = " ".join(f"{x(m):.1f},{y(b[1]):.1f}" for m, b in zip(minutes, bands, strict=True))
    band += " " + " ".join(
        f"{x(m):.1f},{y(b[0]):.1f}" for m, b in reversed(list(zip(minutes, bands, strict=True)))
    )
    lines = "".join(
        '<polyline points="'
        + " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in zip(minutes, values, strict=True))
        + '" fill="none" stroke="#198754" stroke-dasharray="4 3"/>'
        for values in _target_lines(points)
    )
    share = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in zip(minutes, shares, strict=True))
    return (
        f'<svg width="{w}" height="{h + axis}" viewBox="0 0 {w} {h + axis}" role="img">'
        f'<polygon points="{band}" fill="#d1e7dd"/>{lines}'
        f'<polyline points="{share}" fill="none" stroke="#0d6efd" stroke-width="2"/>'
        f"{_axis(minutes, x, h + axis - 2)}</svg>"
    )


def _target_lines(points: list[HistoryPoint]) -> list[list[float]]:
    """The dashed target: the point, or each bound a range sets."""
    lows = [p.target.lo if p.target.lo > 0 else p.target.hi for p in points]
    highs = [p.target.hi if p.target.hi < 1 else p.target.lo for p in points]
    return [lows] if lows == highs else [lows, highs]


def _history(snap: Snapshot) -> str:
    series: dict[tuple[str, str], list[HistoryPoint]] = {}
    for point in snap.history:
        series.setdefault((point.policy, point.type), []).append(point)
    charts = []
    for (policy, type_name), points in sorted(series.items()):
        if len(points) < 2:
            continue
        last = points[-1]
        charts.append(
            f'<figure class="chart"><figcaption>{escape(policy)} / {escape(type_name)}: '
            f"share {last.share:.2%} vs target {escape(last.target.label())} "
            f"(last {len(points)} windows)</figcaption>{_sparkline(points)}</figure>"
        )
    if not charts:
        return ""
    legend = (
        '<p class="legend"><span style="color:#0d6efd">━ share</span> '
        '<span style="color:#198754">┅ target</span> (green band: target ±5%, '
        "or the target range; time in minutes before the last window's end)</p>"
    )
    return f"<h2>Recent history</h2>{legend}<div>{''.join(charts)}</div>"


def render_status_page(snap: Snapshot, now: float, connected: bool | None) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>blender status</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Blender</h1>"
        f"{_summary(snap, now, connected)}"
        f"{_warnings(snap)}"
        f"<h2>Constants</h2>{_constants(snap)}"
        f"<h2>Last diagnostics</h2>{_diagnostics(snap)}"
        f"{_history(snap)}"
        '<p><a href="/v1/constants">/v1/constants</a> · <a href="/metrics">/metrics</a> · '
        '<a href="/openapi.json">OpenAPI</a></p>'
        "</body></html>"
    )
