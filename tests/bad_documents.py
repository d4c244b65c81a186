"""Bad ZooKeeper documents that every reader must refuse, defined once for all of them.

Each is invalid as *any* of our documents (targets, constants, controller
state, history entry), so one list serves every reader: invalid JSON or UTF-8,
the wrong schema, NaN and infinity, the wrong types, empty, not an object, and
a well-formed document just over :data:`MAX_DOCUMENT_BYTES` (which is below
ZooKeeper's default ``jute.maxbuffer``, so the test server stores it).
"""

from __future__ import annotations

import pytest

from services.documents import MAX_DOCUMENT_BYTES


def _oversize() -> bytes:
    head = b'{"schema": 1, "generation": 2, "computed_at": "2026-11-22T15:00:04Z", "policies": {}}'
    return head[:-1] + b" " * (MAX_DOCUMENT_BYTES + 1 - len(head)) + b"}"


BAD_DOCUMENTS: list[tuple[str, bytes, str]] = [
    # (id, raw bytes, a fragment of the problem every reader must report, never empty)
    ("invalid-json", b"{not json", "not valid UTF-8 JSON"),
    ("invalid-utf8", b'{"schema": 1, "policies": {"\xff": 1}}', "not valid UTF-8 JSON"),
    (
        "wrong-schema",
        # Complete enough that a history entry, which has no schema of its own,
        # also gets as far as the schema (of the constants it carries).
        b'{"schema": 2, "generation": 2, "computed_at": "x", "policies": {}, "written_at": "x", '
        b'"writer": "w", "kind": "step", "summary": "s", "state": {}, '
        b'"constants": {"schema": 2, "generation": 2, "computed_at": "x"}}',
        "schema: Input should be 1",
    ),
    (
        "nan",
        b'{"schema": 1, "generation": 2, "computed_at": "x", '
        b'"policies": {"default": {"video": NaN, "targets": {"video": NaN}}}}',
        "not valid UTF-8 JSON",
    ),
    (
        "infinity",
        b'{"schema": 1, "generation": 2, "computed_at": "x", '
        b'"policies": {"default": {"video": 1e999}}}',
        "number is infinity",
    ),
    (
        "wrong-types",
        b'{"schema": 1, "generation": "two", "computed_at": 5, "policies": []}',
        "Input should be a valid",
    ),
    ("empty", b"", "document is empty"),
    ("not-an-object", b"[]", "must be a JSON object"),
    ("null", b"null", "must be a JSON object"),
    ("over-the-size-limit", _oversize(), f"over {MAX_DOCUMENT_BYTES}"),
]

# An empty fragment is in every message: each must name what the refusal says.
assert all(problem for _, _, problem in BAD_DOCUMENTS)

BAD = [pytest.param(raw, problem, id=name) for name, raw, problem in BAD_DOCUMENTS]
