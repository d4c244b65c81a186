"""History, rollback and pause: cdctl's actions on the controller's ledger."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from services import display
from services.docstore import read_constants, read_paused
from services.documents import PausedDocument, dump_document
from services.errors import InvalidInputError, VersionConflictError
from services.last_run import read_last_run
from services.ledger import (
    HistoryEntry,
    Ledger,
    history_entry,
    publish,
    read_ledger_for_repair,
    rollback_entry,
)
from services.zk import Delete, ZkStore


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def who() -> str:
    return f"cdctl:{getpass.getuser()}@{socket.gethostname()}"


def history_table(entries: list[HistoryEntry]) -> Table:
    table = Table(title="Constants history (newest first)", title_justify="left")
    for col in ("generation", "written", "window", "writer", "summary"):
        table.add_column(col, overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.generation),
            entry.written_at,
            entry.constants.window_end or "-",
            entry.writer,
            entry.summary,
            style="cyan" if entry.kind == "rollback" else None,
        )
    return table


def unchanged_by(read: Ledger, generation: int) -> str | None:
    """Why restoring ``generation`` over ``read`` would change nothing, else None."""
    current = read.constants
    if current is None:
        return None
    if current.generation == generation:
        return f"generation {generation} is the current one: rolling back to it changes nothing"
    if (current.model_extra or {}).get("restored_generation") == generation:
        return (
            f"the current generation {current.generation} already restores generation "
            f"{generation} (no run since): rolling back to it again changes nothing"
        )
    return None


def rollback(
    store: ZkStore,
    generation: int,
    warn: Callable[[str], None],
    unchanged: Callable[[str], None] | None = None,
) -> int | None:
    """Restore a generation as a new one; returns the new generation.

    Also the way out of a damaged constants or state document, which a control
    step refuses to build on: those are replaced (and ``warn`` says so). A rollback
    that would change nothing (to the current generation) writes nothing, returns
    None and says why through ``unchanged`` (default ``warn``).
    """
    restored = history_entry(store, generation)
    if restored is None:
        raise InvalidInputError("GENERATION", f"no history entry for generation {generation}")
    read, damaged = read_ledger_for_repair(store)
    for exc in damaged:
        warn(f"replacing unreadable {exc}")
    nothing = unchanged_by(read, generation)
    if nothing is not None:
        (unchanged or warn)(f"{nothing}; nothing written")
        return None
    entry = rollback_entry(read, restored, who(), _now())
    try:
        publish(store, read, entry)
    except VersionConflictError as exc:
        raise VersionConflictError(
            "the constants changed while rolling back (a controller run?); nothing written, "
            "try again"
        ) from exc
    return entry.generation


def pause(store: ZkStore, reason: str) -> str:
    current = read_paused(store)
    if current is not None:
        return f"already paused since {current.since}: {current.reason}"
    doc = PausedDocument(reason=reason, since=_now())
    store.create(store.paths.paused, dump_document(doc))
    return f"paused: {reason}"


def resume(store: ZkStore) -> str:
    node = store.read(store.paths.paused)
    if node is None:
        return "not paused"
    store.commit([Delete(store.paths.paused, node.version)])
    return "resumed"


def controller_status(store: ZkStore) -> dict[str, Any]:
    """Paused or not (since when, why), the last run and its outcome, the constants in use."""
    paused = read_paused(store)
    last = read_last_run(store)
    read = read_constants(store)
    published = None
    if read is not None:
        d = read.doc
        published = {
            "generation": d.generation,
            "computed_at": d.computed_at,
            "window_end": d.window_end,
        }
    return {
        "paused": None if paused is None else paused.model_dump(mode="json"),
        "last_run": None if last is None else last.model_dump(mode="json"),
        "constants": published,
    }


def status_lines(status: dict[str, Any]) -> list[str]:
    paused, last, published = status["paused"], status["last_run"], status["constants"]
    lines = [
        display.paused_notice(paused["reason"], paused["since"])
        if paused
        else "not paused: controller runs write new constants"
    ]
    if last is None:
        lines.append("last run: none recorded (pid-controller run records each run)")
    else:
        lines.append(f"last run: {last['at']}, {last['outcome']}: {last['message']}")
        lines.append(f"  by {last['writer']}")
    if published is None:
        lines.append("constants: none published yet")
    else:
        lines.append(
            f"constants: generation {published['generation']}, computed "
            f"{published['computed_at']}, window ending {published['window_end'] or '-'}"
        )
    return lines
