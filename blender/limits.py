"""Request limits, from ``CD_BLENDER_MAX_CANDIDATES`` and ``CD_BLENDER_MAX_BODY_BYTES``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_candidates: int = 10_000
    max_body_bytes: int = 4 * 1024 * 1024
