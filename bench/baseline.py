"""The parse-only baseline of ``bench.blender``: what any endpoint of this shape must do.

A bare ASGI app on the blender's own server stack that reads the body, parses it
with orjson, and returns the first ``limit`` candidates in the blend response's
shape (``blended_score`` is the score itself). No validation, no constants, no
metrics: the blender's throughput divided by this one's is what the blender's own
work costs.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

HEADERS = [(b"content-type", b"application/json")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    request: dict[str, Any] = orjson.loads(b"".join(chunks))
    limit = request.get("limit")
    candidates = request["candidates"] if limit is None else request["candidates"][:limit]
    body = orjson.dumps(
        {
            "policy": "default",
            "constants_generation": 42,
            "results": [
                {
                    "id": c["id"],
                    "content_type": c["content_type"],
                    "score": c["score"],
                    "blended_score": c["score"],
                }
                for c in candidates
            ],
        }
    )
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})
