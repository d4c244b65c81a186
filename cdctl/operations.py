"""History, rollback and pause: cdctl's actions on the controller's ledger."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from datetime import UTC, datetime

from rich.table import Table

from services.docstore import read_paused
from services.documents import PausedDocument, dump_document
from services.errors import InvalidInputError, VersionConflictError
from services.ledger import (
    HistoryEntry,
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


def rollback(store: ZkStore, generation: int, warn: Callable[[str], None]) -> int:
    """Restore a generation as a new one; returns the new generation.

    Also the way out of a damaged constants or state document, which a control
    step refuses to build on: those are replaced (and ``warn`` says so).
    """
    restored = history_entry(store, generation)
    if restored is None:
        raise InvalidInputError("GENERATION", f"no history entry for generation {generation}")
    read, damaged = read_ledger_for_repair(store)
    for exc in damaged:
        warn(f"replacing unreadable {exc}")
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
