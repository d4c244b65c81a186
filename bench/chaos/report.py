"""The closing table (rich) and the optional JSON file of the same figures."""

from __future__ import annotations

from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from bench.chaos.config import ChaosResult


def figures_table(result: ChaosResult) -> Table:
    f = result.figures
    table = Table(title="chaos soak", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("events produced", f"{f.events:,}"),
        ("counter kill -9 (data folder deleted)", f"{f.counter_kills} ({f.counter_wipes})"),
        ("zookeeper restarts", str(f.zk_restarts)),
        (
            "controller processes started / killed",
            f"{f.controllers_started} / {f.controllers_killed}",
        ),
        ("controllers killed holding the lock, counts read", str(f.controllers_killed_mid_step)),
        ("controller ordinary re-runs", str(f.controller_retries)),
        ("windows / generations", f"{f.windows} / {f.generations}"),
        ("blender requests / errors", f"{f.blender_requests:,} / {f.blender_errors}"),
        ("blender p50 / p99 ms", f"{f.blender_p50_ms:.2f} / {f.blender_p99_ms:.2f}"),
        (
            "blender requests while zookeeper down (errors)",
            f"{f.requests_zk_down} ({f.errors_zk_down})",
        ),
        (
            "counter snapshots complete / kills while writing one / left without footer",
            f"{f.snapshots_complete} / {f.kills_during_snapshot} / {f.snapshots_cut}",
        ),
        ("counter restores from a snapshot", str(f.restores_from_snapshot)),
        ("wall time s", f"{f.wall_seconds:.1f}"),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def criteria_table(result: ChaosResult) -> Table:
    table = Table(show_header=True)
    table.add_column("criterion")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for c in result.criteria:
        table.add_row(c.name, "[green]PASS[/]" if c.passed else "[red]FAIL[/]", c.detail)
    return table


def print_report(result: ChaosResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(figures_table(result))
    console.print(criteria_table(result))
    verdict = "[green]PASS[/]" if result.passed else f"[red]FAIL[/] (logs in {result.workdir})"
    console.print(f"chaos soak: {verdict}")


def write_json(result: ChaosResult, path: Path) -> None:
    path.write_bytes(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2))
