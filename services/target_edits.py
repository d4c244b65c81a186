"""Editing the targets document: parse operator input, merge, validate, write once.

Every edit is a read-modify-write guarded by the znode version. If somebody
else wrote in between, the edit is re-applied to what they wrote (their change
is kept, not overwritten). A document that would be invalid is refused before
anything is written, so ZooKeeper is never left half-edited.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.docstore import read_targets, write_targets
from services.documents import TargetsDocument, validate_document
from services.errors import InvalidInputError, VersionConflictError
from services.names import check_name
from services.retry import Retry
from services.zk import ZkStore

Edit = Callable[[dict[str, Any]], None]


def parse_assignments(items: Sequence[str]) -> dict[str, float]:
    """``["video=0.04", "fresh=0.1"]`` -> shares, refusing anything malformed."""
    if not items:
        raise InvalidInputError("TYPE=SHARE", "give at least one TYPE=SHARE")
    shares: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInputError(item, "expected TYPE=SHARE, e.g. video=0.04")
        check_name(name, f"content type {name!r}")
        try:
            share = float(value)
        except ValueError as exc:
            raise InvalidInputError(name, f"share {value!r} is not a number") from exc
        if not math.isfinite(share) or not 0.0 < share < 1.0:
            raise InvalidInputError(name, f"share {value} must be in (0, 1)")
        if name in shares:
            raise InvalidInputError(name, "given twice")
        shares[name] = share
    return shares


def set_targets(
    policy: str,
    shares: dict[str, float],
    overrides: dict[str, Any],
    defaults: Mapping[str, Mapping[str, float]] | None = None,
    filled: dict[str, dict[str, float]] | None = None,
) -> Edit:
    """An edit adding or replacing ``shares`` (and gains/bounds overrides) of ``policy``.

    An override block needs all its fields (``kp``, ``ki``, ``kd``; ``min``, ``max``).
    Given in part for a policy that has no such block yet, the rest comes from
    ``defaults`` (the controller's settings), and ``filled`` receives what was filled in,
    so the command can say so.
    """
    check_name(policy, "POLICY")

    def edit(data: dict[str, Any]) -> None:
        if filled is not None:
            filled.clear()  # a retried edit starts again from what it re-read
        entry = data["policies"].setdefault(policy, {"targets": {}})
        entry["targets"].update(shares)
        for block, values in overrides.items():
            merged = {**(entry.get(block) or {}), **values}
            missing = {k: v for k, v in (defaults or {}).get(block, {}).items() if k not in merged}
            if missing and filled is not None:
                filled[block] = missing
            entry[block] = {**missing, **merged}

    return edit


def clear_overrides(policy: str, blocks: Sequence[str]) -> Edit:
    """An edit dropping ``policy``'s ``gains`` and/or ``bounds`` blocks: the defaults apply."""

    def edit(data: dict[str, Any]) -> None:
        entry = data["policies"].get(policy)
        if entry is None:
            raise InvalidInputError("POLICY", f"no policy {policy!r} in targets")
        for block in blocks:
            entry.pop(block, None)

    return edit


def unset_targets(policy: str, types: Sequence[str]) -> Edit:
    """An edit removing some types of ``policy``, or the whole policy when none are named."""

    def edit(data: dict[str, Any]) -> None:
        policies = data["policies"]
        if policy not in policies:
            raise InvalidInputError("POLICY", f"no policy {policy!r} in targets")
        if not types:
            del policies[policy]
            return
        targets = policies[policy]["targets"]
        for name in types:
            if name not in targets:
                raise InvalidInputError(name, f"policy {policy!r} has no target for {name!r}")
            del targets[name]
        if not targets:
            del policies[policy]

    return edit


def apply_edit(store: ZkStore, edit: Edit, retry: Retry | None = None) -> TargetsDocument:
    """Read, edit, validate and write with a version check; retried on a lost race."""

    def attempt() -> TargetsDocument:
        current = read_targets(store)
        data = current.doc.model_dump(mode="json", by_alias=True, exclude_none=True)
        edit(data)
        doc = validate_document(TargetsDocument, data)
        write_targets(store, doc, current.node)
        return doc

    return (retry or Retry(attempts=5, retry_on=(VersionConflictError,)))(attempt)
