"""JSON Schemas of the blender's API, for its OpenAPI document.

The blend endpoint reads raw bytes (msgspec is far faster than FastAPI's
per-field models), so FastAPI cannot derive its schemas; they are declared here
instead, and they must describe exactly what the code accepts and returns:
property-based checks run against this document (valid input must get 200,
invalid input 4xx, every response must match). Nullable fields are nullable
here because the code accepts null for them.
"""

from __future__ import annotations

from typing import Any

from blender.blend import ScoreSpace
from blender.request import MAX_TS_MS
from services.http import ERROR_SCHEMA
from services.names import NAME_PATTERN

NAME = {"type": "string", "pattern": NAME_PATTERN}
NULLABLE_NAME = {"anyOf": [NAME, {"type": "null"}]}
POSITIVE_SCORES = {
    "properties": {"candidates": {"items": {"properties": {"score": {"exclusiveMinimum": 0}}}}}
}


def blend_request_schema(max_candidates: int, default_space: ScoreSpace) -> dict[str, Any]:
    """The request body; linear space (the default or asked for) needs positive scores."""
    candidate = {
        "type": "object",
        "required": ["id", "content_type", "score"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "content_type": NAME,
            "score": {"type": "number"},
        },
    }
    other = "log" if default_space == "linear" else "linear"
    chose_other = {"required": ["score_space"], "properties": {"score_space": {"const": other}}}
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["candidates"],
        "properties": {
            "experiment_group": NULLABLE_NAME,
            "limit": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
            "explain": {"type": "boolean"},
            "score_space": {"enum": ["log", "linear", None]},
            "sample": {"type": ["boolean", "null"]},
            "ts": {
                "anyOf": [
                    {"type": "integer", "minimum": 0, "maximum": MAX_TS_MS},
                    {"type": "null"},
                ]
            },
            "candidates": {"type": "array", "maxItems": max_candidates, "items": candidate},
        },
    }
    if default_space == "log":
        schema |= {"if": chose_other, "then": POSITIVE_SCORES}
    else:
        schema |= {"if": chose_other, "else": POSITIVE_SCORES}
    return schema


NUMBER = {"type": "number"}

BLEND_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["policy", "constants_generation", "results"],
    "properties": {
        "policy": NAME,
        "constants_generation": {"type": ["integer", "null"]},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "content_type", "score", "blended_score"],
                "properties": {
                    "id": {"type": "string"},
                    "content_type": NAME,
                    "score": NUMBER,
                    "blended_score": NUMBER,
                    "constant": NUMBER,
                },
            },
        },
    },
}

CONSTANTS_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema", "generation", "policies", "source", "age_seconds"],
    "properties": {
        "schema": {"const": 1},
        "generation": {"type": ["integer", "null"]},
        "computed_at": {"type": ["string", "null"]},
        "window_end": {"type": ["string", "null"]},
        "rolled_back_from": {"type": ["integer", "null"]},
        "policies": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": NUMBER},
        },
        "diagnostics": {"type": "object"},
        "source": {"enum": ["zookeeper", "cache", "none"]},
        "age_seconds": {"type": ["number", "null"]},
        "last_error": {"type": ["string", "null"]},
        "last_error_at": {"type": ["number", "null"]},
        "zookeeper_connected": {"type": ["boolean", "null"]},
        "worker_pid": {"type": "integer"},
        "paused": {
            "description": "<root>/paused while operators froze the controller, else null",
            "type": ["object", "null"],
            "properties": {"reason": {"type": "string"}, "since": {"type": "string"}},
        },
    },
}

STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}},
}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def text_content(media_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


ERROR_413 = json_content(ERROR_SCHEMA, "Body larger than CD_BLENDER_MAX_BODY_BYTES")
ERROR_422 = json_content(ERROR_SCHEMA, "Invalid request; detail names the field")
