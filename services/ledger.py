"""The controller's ledger in ZooKeeper: constants, controller state and history.

The three move together. A control step or a rollback writes, in one
ZooKeeper multi-op, the new ``<root>/constants`` (version-checked against what
the writer read), the controller state it continues from (version-checked too)
and a history entry named by the new generation (a create, which fails if that
generation exists). So two writers racing for the same window produce exactly
one generation, and constants never change without their state and history.

State and history are internal (contract section 4: "anything else under the
root is internal"); their layout may change with a schema bump.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from services.documents import (
    ConstantsDocument,
    Finite,
    Name,
    OpenModel,
    dump_document,
    parse_stored,
)
from services.errors import InvalidInputError, StoreError
from services.zk import Create, Delete, Op, SetData, Versioned, ZkStore

log = logging.getLogger(__name__)
HISTORY_KEEP = 1000


class PredictiveStateDoc(OpenModel):
    """The predictive law's filter and bias (pid_controller/predictive.py)."""

    level: Finite | None = None
    trend: Finite = 0.0
    p_ll: Finite = 0.0
    p_lt: Finite = 0.0
    p_tt: Finite = 0.0
    bias: Finite = 0.0
    bias_seen: bool = False
    target: tuple[Finite, Finite] | None = None
    spread: Finite = 0.0
    depth: Annotated[float, Field(gt=0, le=1)] = 1.0
    flat: Finite | None = None
    flat_var: Annotated[float, Field(ge=0)] = 0.0
    flat_weight: Annotated[float, Field(ge=0, le=1)] = 0.5


class TypeStateDoc(OpenModel):
    integral: Finite = 0.0
    measurement: Finite | None = None
    u: Finite = 0.0
    # Absent in states written before the predictive law (and after a PID-only step).
    predictive: PredictiveStateDoc | None = None


class ControllerStateDocument(OpenModel):
    schema_: Literal[1] = Field(default=1, alias="schema")
    generation: Annotated[int, Field(ge=0)] = 0
    window_end: str | None = None
    policies: dict[Name, dict[Name, TypeStateDoc]] = Field(default_factory=dict)


class HistoryEntry(OpenModel):
    generation: Annotated[int, Field(ge=1)]
    written_at: str
    writer: str
    kind: Literal["step", "rollback"]
    summary: str
    constants: ConstantsDocument
    state: ControllerStateDocument


@dataclass(frozen=True)
class Ledger:
    """What a writer read, with versions, so its write can be checked against it."""

    constants: ConstantsDocument | None
    constants_node: Versioned | None
    state: ControllerStateDocument
    state_node: Versioned | None
    # With unreadable constants: the newest generation named in the history.
    floor_generation: int = 0

    @property
    def generation(self) -> int:
        return self.constants.generation if self.constants else self.floor_generation


def read_ledger(store: ZkStore) -> Ledger:
    cnode = store.read(store.paths.constants)
    snode = store.read(store.paths.controller_state)
    paths = store.paths
    constants = parse_stored(ConstantsDocument, paths.constants, cnode.data) if cnode else None
    state = (
        parse_stored(ControllerStateDocument, paths.controller_state, snode.data)
        if snode
        else ControllerStateDocument()
    )
    return Ledger(constants, cnode, state, snode)


def read_ledger_for_repair(store: ZkStore) -> tuple[Ledger, list[InvalidInputError]]:
    """The ledger as a rollback may overwrite it, and the refusals it overwrites.

    A damaged constants or state document stops every control step (its
    generation and integrals cannot be trusted), so the operator's way out is a
    rollback to a good generation, which must not need them: the new generation
    follows the newest one in the history, the versions read still guard the
    write, and the window mark comes from the newest readable history entry, so
    no window already integrated is integrated again.
    """
    paths, damaged = store.paths, []
    cnode, snode = store.read(paths.constants), store.read(paths.controller_state)
    constants, state = None, None
    try:
        constants = parse_stored(ConstantsDocument, paths.constants, cnode.data) if cnode else None
    except InvalidInputError as exc:
        damaged.append(exc)
    try:
        state = (
            parse_stored(ControllerStateDocument, paths.controller_state, snode.data)
            if snode
            else None
        )
    except InvalidInputError as exc:
        damaged.append(exc)
    names = [int(n) for n in store.children(paths.history) if n.isdigit()]
    if state is None:
        newest = next(iter(history(store, limit=1)), None)
        state = ControllerStateDocument(window_end=newest.state.window_end if newest else None)
    return Ledger(constants, cnode, state, snode, max(names, default=0)), damaged


def _put(path: str, data: bytes, node: Versioned | None) -> Create | SetData:
    return Create(path, data) if node is None else SetData(path, data, node.version)


def publish(store: ZkStore, read: Ledger, entry: HistoryEntry, guards: Sequence[Op] = ()) -> None:
    """Write constants, state and history atomically; VersionConflictError if raced.

    ``guards`` join the same multi-op (checks that must still hold). Once the
    multi-op has committed, the write is done: pruning old history is
    housekeeping whose failure is logged, never reported as a failed write.
    """
    store.ensure(store.paths.history)
    store.commit(
        [
            _put(store.paths.constants, dump_document(entry.constants), read.constants_node),
            _put(store.paths.controller_state, dump_document(entry.state), read.state_node),
            Create(store.paths.history_entry(entry.generation), dump_document(entry)),
            *guards,
        ]
    )
    try:
        prune_history(store)
    except StoreError as exc:
        log.warning("generation %s written; pruning old history failed: %s", entry.generation, exc)


def read_history(
    store: ZkStore, limit: int | None = None
) -> tuple[list[HistoryEntry], list[InvalidInputError]]:
    """Newest first, and the refusal (naming the znode) of every unreadable entry."""
    names = sorted(store.children(store.paths.history), reverse=True)
    entries: list[HistoryEntry] = []
    refused: list[InvalidInputError] = []
    for name in names[:limit] if limit else names:
        path = f"{store.paths.history}/{name}"
        node = store.read(path)
        if node is None:
            continue
        try:
            entries.append(parse_stored(HistoryEntry, path, node.data))
        except InvalidInputError as exc:
            refused.append(exc)
    return entries, refused


def history(store: ZkStore, limit: int | None = None) -> list[HistoryEntry]:
    """Newest first. An unreadable entry is logged and left out, not fatal."""
    entries, refused = read_history(store, limit)
    for exc in refused:
        log.warning("skipping unreadable history entry %s", exc)
    return entries


def history_entry(store: ZkStore, generation: int) -> HistoryEntry | None:
    path = store.paths.history_entry(generation)
    node = store.read(path)
    return None if node is None else parse_stored(HistoryEntry, path, node.data)


def prune_history(store: ZkStore, keep: int | None = None) -> None:
    keep = HISTORY_KEEP if keep is None else keep
    names = store.children(store.paths.history)
    for name in names[: max(0, len(names) - keep)]:
        path = f"{store.paths.history}/{name}"
        node = store.read(path)
        if node is not None:
            store.commit([Delete(path, node.version)])


def rollback_entry(read: Ledger, restored: HistoryEntry, writer: str, now: str) -> HistoryEntry:
    """A new generation carrying ``restored``'s constants and controller state.

    ``rolled_back_from`` names the generation that was current (the one being
    abandoned) and the superset field ``restored_generation`` the one restored.
    The state keeps the latest integrated window mark, so a window that was
    already integrated is not integrated again after the rollback; the next
    run continues from the restored integrals.
    """
    generation = read.generation + 1
    constants = restored.constants.model_copy(
        update={
            "generation": generation,
            "computed_at": now,
            "rolled_back_from": read.generation,
            "restored_generation": restored.generation,
        }
    )
    window_mark = read.state.window_end or restored.state.window_end
    state = restored.state.model_copy(update={"generation": generation, "window_end": window_mark})
    return HistoryEntry(
        generation=generation,
        written_at=now,
        writer=writer,
        kind="rollback",
        summary=f"rollback to generation {restored.generation} (from {read.generation})",
        constants=ConstantsDocument.model_validate(constants.model_dump(by_alias=True)),
        state=state,
    )
