"""Typed access to the contract's documents in ZooKeeper.

Reads return the parsed document together with the version it was read at, so
a caller's write can be checked against exactly what it decided on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from services.documents import (
    ConstantsDocument,
    PausedDocument,
    TargetsDocument,
    dump_document,
    parse_stored,
)
from services.zk import Versioned, ZkStore

D = TypeVar("D", bound=BaseModel)


@dataclass(frozen=True)
class Read(Generic[D]):
    doc: D
    node: Versioned | None  # None: the node does not exist (doc is the empty default)


def read_targets(store: ZkStore) -> Read[TargetsDocument]:
    node = store.read(store.paths.targets)
    if node is None:
        return Read(TargetsDocument(), None)
    return Read(parse_stored(TargetsDocument, store.paths.targets, node.data), node)


def write_targets(store: ZkStore, doc: TargetsDocument, expected: Versioned | None) -> int:
    """Version-checked (created when ``expected`` is None); returns the new version."""
    return store.put(store.paths.targets, dump_document(doc, drop_none=True), expected)


def read_constants(store: ZkStore) -> Read[ConstantsDocument] | None:
    node = store.read(store.paths.constants)
    if node is None:
        return None
    return Read(parse_stored(ConstantsDocument, store.paths.constants, node.data), node)


def read_paused(store: ZkStore) -> PausedDocument | None:
    node = store.read(store.paths.paused)
    return None if node is None else parse_stored(PausedDocument, store.paths.paused, node.data)
