"""Where a blend request's time goes: pyinstrument over the real ASGI handler, in process.

Usage: ``python -m bench.blender_profile [--candidates 500] [--limit 50|none]
[--requests 20000]``

Runs the blender app (fixed constants, no ZooKeeper) and the parse-only baseline
(:mod:`bench.baseline`) on the same request through their ASGI entry points,
without a server or network, prints each one's CPU time per request, then the
blender's profile (pyinstrument's call tree), which is how the fixed per-request
costs were found: validation, numpy calls, metrics, the response encoding.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from pyinstrument import Profiler
from starlette.types import ASGIApp, Message

from bench.baseline import app as baseline_app
from bench.blender import constants_document, request_body
from blender.app import create_app
from blender.constants_source import StaticConstants


async def _requests(app: ASGIApp, body: bytes, count: int) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/v1/blend",
        "headers": [(b"content-length", b"%d" % len(body))],
    }
    message: Message = {"type": "http.request", "body": body, "more_body": False}
    sent: list[Message] = []

    async def receive() -> Message:
        return message

    async def send(reply: Message) -> None:
        sent.append(reply)

    for _ in range(count):
        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"answered {sent[0]['status']}: {sent[1]['body'][:200]!r}")
        sent.clear()


def cpu_per_request(app: ASGIApp, body: bytes, count: int) -> float:
    started = time.thread_time()
    asyncio.run(_requests(app, body, count))
    return (time.thread_time() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--limit", default="50", help="request limit, or 'none' for all")
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    limit = None if args.limit == "none" else int(args.limit)
    body = request_body(args.candidates, random.Random(7), limit)
    blender = create_app(StaticConstants(constants_document()))
    count = max(1, args.requests)
    for name, app in (("blender", blender), ("baseline", baseline_app)):
        cpu_per_request(app, body, max(1, count // 10))  # warm-up
        print(f"{name}: {cpu_per_request(app, body, count) * 1e6:.1f} µs CPU per request")
    profiler = Profiler(interval=0.0002)
    with profiler:
        asyncio.run(_requests(blender, body, count))
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
