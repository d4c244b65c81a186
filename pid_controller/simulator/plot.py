"""convergence.png: one panel pair per policy and type, for someone who never read the code.

Top panel: the hourly share against its target, with the ±5 % band that
"settled" means, and the events (shocks, target changes) marked. Bottom panel:
the normalization constant ``u`` the blender used that hour, with the bounds.
Hours in which the controller reported saturation are shaded in both. Several
runs (``--compare``) are drawn on the same axes, one colour per controller.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pid_controller.simulator.engine import RunResult, Series
from pid_controller.simulator.metrics import BAND
from services.names import policy_for_group

COLOURS = {"predictive": "tab:green", "pid": "tab:blue", "linear": "tab:orange"}
SATURATED = "tab:red"


def _spans(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """Runs of consecutive true hours as (first, end) pairs, for shading."""
    spans, start = [], None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _xy(values: Sequence[float]) -> tuple[range, list[float]]:
    """Hour i's value drawn across [i, i + 1): repeat the last value at the end."""
    return range(len(values) + 1), [*values, values[-1]]


def _shade(ax: Axes, s: Series) -> None:
    # A step at the end of hour i reports saturation and sets the u of hour
    # i + 1, so the shading starts one hour later: it covers the hours in
    # which the constant in force was sitting at its bound.
    for a, b in _spans(s.saturated):
        ax.axvspan(a + 1, b + 1, color=SATURATED, alpha=0.12, lw=0)


def _share_panel(ax: Axes, runs: Sequence[RunResult], s_by_run: Sequence[Series]) -> None:
    # A range target draws its bounds (a min-only range up to 100 % would flatten
    # the chart, so its open side is drawn at the min's band edge).
    bands = s_by_run[0].target
    hours, hi = _xy([(t.hi if t.hi < 1.0 else t.lo) * 100 for t in bands])
    _, floor = _xy([(t.lo if t.lo > 0.0 else t.hi) * 100 for t in bands])
    ax.fill_between(
        hours,
        [t * (1 - BAND) for t in floor],
        [t * (1 + BAND) for t in hi],
        step="post",
        color="tab:green",
        alpha=0.2,
        lw=0,
        label=f"target ±{BAND:.0%} (settled band)",
    )
    ax.step(hours, floor, where="post", color="tab:green", lw=1.5, ls="--", label="target")
    if any(not t.is_point for t in bands if t.defined):
        ax.step(hours, hi, where="post", color="tab:green", lw=1.5, ls="--")
    for run, s in zip(runs, s_by_run, strict=True):
        _shade(ax, s)
        ax.step(
            *_xy([v * 100 for v in s.share]),
            where="post",
            color=COLOURS[run.controller],
            lw=1.3,
            label=f"measured share ({run.controller} controller)",
        )
    for e in runs[0].events:
        if e.hour > 0 and (e.policy is None or e.policy == s_by_run[0].policy):
            ax.axvline(e.hour, color="0.3", lw=1, ls=":")
            ax.annotate(
                e.label,
                (e.hour, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -3),
                textcoords="offset points",
                va="top",
                fontsize=8,
            )
    ax.set_ylabel("share of impressions (%)")
    policy = s_by_run[0].policy
    groups = [g for g in runs[0].scenario.groups if policy_for_group(g, runs[0].configs) == policy]
    ax.set_title(
        f"{s_by_run[0].type} share, policy {policy!r} (groups: {', '.join(groups) or 'none'})"
    )
    ax.grid(alpha=0.3)


def _u_panel(ax: Axes, runs: Sequence[RunResult], s_by_run: Sequence[Series]) -> None:
    policy = s_by_run[0].policy
    bounds = runs[0].configs[policy].bounds if policy in runs[0].configs else None
    for run, s in zip(runs, s_by_run, strict=True):
        _shade(ax, s)
        ax.step(*_xy(s.u), where="post", color=COLOURS[run.controller], lw=1.2)
    # Fit the data, not the bounds: with bounds of ±5 a constant moving by 0.2
    # would look flat. Bounds out of view are named in the corner instead.
    values = [v for s in s_by_run for v in s.u]
    lo, hi = min(values), max(values)
    pad = max(0.1, 0.15 * (hi - lo))
    ax.set_ylim(lo - pad, hi + pad)
    if bounds is not None:
        for b in (bounds.lo, bounds.hi):
            ax.axhline(b, color=SATURATED, lw=0.8, ls="--")
        hidden = [f"{b:g}" for b in (bounds.lo, bounds.hi) if not lo - pad <= b <= hi + pad]
        if hidden:
            ax.text(
                0.995,
                0.04,
                f"bound {' and '.join(hidden)} off scale",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=8,
                color=SATURATED,
            )
    ax.set_ylabel("constant u\n(added to score)")
    hour = runs[0].hour_seconds
    ax.set_xlabel("simulated hour" if hour == 3600 else f"window ({hour // 60} min)")
    ax.set_xlim(0, len(s_by_run[0].u))
    ax.grid(alpha=0.3)


def _legend_handles(ax: Axes) -> tuple[list[Artist], list[str]]:
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color=SATURATED, alpha=0.25))
    labels.append("saturated: u held at a bound, target out of reach")
    handles.append(Line2D([], [], color=SATURATED, ls="--", lw=0.8))
    labels.append("bounds of u (lower panel)")
    return handles, labels


def plot_convergence(runs: Sequence[RunResult], path: Path) -> None:
    """Draw every targeted policy and type of ``runs`` (same scenario) into ``path``."""
    keys = [(s.policy, s.type) for s in runs[0].series]
    cols = 1 if len(keys) == 1 else 2
    rows = math.ceil(len(keys) / cols)
    fig = plt.figure(figsize=(7.5 * cols, 5.2 * rows + 0.9), layout="constrained")
    grid = fig.add_gridspec(rows, cols)
    first_ax: Axes | None = None
    for n, key in enumerate(keys):
        cell = grid[n // cols, n % cols].subgridspec(2, 1, height_ratios=[3, 1.3], hspace=0.05)
        top = fig.add_subplot(cell[0])
        bottom = fig.add_subplot(cell[1], sharex=top)
        top.tick_params(labelbottom=False)
        per_run = [next(s for s in r.series if (s.policy, s.type) == key) for r in runs]
        _share_panel(top, runs, per_run)
        _u_panel(bottom, runs, per_run)
        first_ax = first_ax or top
    assert first_ax is not None
    handles, labels = _legend_handles(first_ax)
    fig.legend(handles, labels, loc="outside lower center", ncols=2 * cols, fontsize=9)
    controllers = " vs ".join(r.controller for r in runs)
    fig.suptitle(
        f"Scenario {runs[0].scenario.name!r}, {controllers} controller: share of impressions "
        "per hour against target\n(lower panels: the normalization constant u the blender "
        "added to the type's scores that hour)",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
