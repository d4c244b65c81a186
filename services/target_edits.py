"""Editing the targets document: parse operator input, merge, validate, write once.

Every edit is a read-modify-write guarded by the znode version. If somebody
else wrote in between, the edit is re-applied to what they wrote (their change
is kept, not overwritten). A document that would be invalid is refused before
anything is written, so ZooKeeper is never left half-edited.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.docstore import read_targets, write_targets
from services.documents import TargetsDocument, validate_document
from services.errors import InvalidInputError, VersionConflictError
from services.intervals import TargetJson
from services.names import check_name
from services.retry import Retry
from services.zk import ZkStore

Edit = Callable[[dict[str, Any]], None]


# TYPE=SHARE, TYPE>=MIN, TYPE<=MAX or TYPE=MIN..MAX (contract section 11).
_ASSIGNMENT = re.compile(r"^(?P<name>[^<>=]*)(?P<op>>=|<=|=)(?P<value>.*)$")
FORMS = "TYPE=SHARE, TYPE>=MIN, TYPE<=MAX or TYPE=MIN..MAX, e.g. video=0.04 or idea=0.2..0.3"


def _share(item: str, text: str) -> float:
    try:
        share = float(text)
    except ValueError as exc:
        raise InvalidInputError(item, f"{text!r} is not a number ({FORMS})") from exc
    if not math.isfinite(share) or not 0.0 < share < 1.0:
        raise InvalidInputError(item, f"{text} must be in (0, 1) (a share of impressions)")
    return share


def parse_target(item: str) -> tuple[str, TargetJson]:
    """One operator argument as (type, target in the targets document's form)."""
    match = _ASSIGNMENT.match(item)
    if match is None:
        raise InvalidInputError(item, f"expected {FORMS}")
    name, op, value = match["name"], match["op"], match["value"].strip()
    check_name(name, f"content type {name!r} in {item!r}")
    if op == ">=":
        return name, {"min": _share(item, value)}
    if op == "<=":
        return name, {"max": _share(item, value)}
    low, dots, high = value.partition("..")
    if not dots:
        return name, _share(item, value)
    lo, hi = _share(item, low), _share(item, high)
    if lo >= hi:
        raise InvalidInputError(item, f"the range's min ({low}) must be below its max ({high})")
    return name, {"min": lo, "max": hi}


def parse_assignments(items: Sequence[str]) -> dict[str, TargetJson]:
    """``["video=0.04", "fresh>=0.1", "idea=0.2..0.3"]`` -> targets, refusing anything
    malformed with the argument named."""
    if not items:
        raise InvalidInputError("TARGET", f"give at least one target: {FORMS}")
    targets: dict[str, TargetJson] = {}
    for item in items:
        name, target = parse_target(item)
        if name in targets:
            raise InvalidInputError(item, f"{name!r} given twice")
        targets[name] = target
    return targets


def set_targets(
    policy: str,
    shares: dict[str, TargetJson],
    overrides: dict[str, Any],
    defaults: Mapping[str, Mapping[str, float]] | None = None,
    filled: dict[str, dict[str, float]] | None = None,
) -> Edit:
    """An edit adding or replacing ``shares`` (and gains/bounds overrides) of ``policy``.

    An override block is written with every field ``defaults`` names (``kp``, ``ki``,
    ``kd``; ``min``, ``max``): given in part for a policy that has no such block yet, the
    rest comes from ``defaults`` (the controller's settings), and ``filled`` receives
    what was filled in, so the command can say so.
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
