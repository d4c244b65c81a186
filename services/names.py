"""Names of content types, experiment groups and policies (contract section 1)."""

from __future__ import annotations

import re
from typing import Final

from services.errors import InvalidInputError

NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
NAME_RE: Final = re.compile(NAME_PATTERN)
DEFAULT_POLICY: Final = "default"


def check_name(value: object, field: str) -> str:
    """Return ``value`` if it is a valid name, else raise naming ``field``."""
    if not isinstance(value, str):
        raise InvalidInputError(field, f"must be a string, got {type(value).__name__}")
    if NAME_RE.fullmatch(value) is None:
        raise InvalidInputError(
            field, f"{value[:80]!r} is not a valid name (pattern {NAME_PATTERN})"
        )
    return value


def policy_for_group(group: str | None, policies: object) -> str:
    """The policy a group follows: its own if one has its name, else ``default``.

    ``policies`` is anything supporting ``in`` (a dict of policies, a set of names).
    """
    if group is not None and group in policies:  # type: ignore[operator]
        return group
    return DEFAULT_POLICY
