"""The server stack chosen by measurement: the same apps under each candidate stack.

Usage: ``python -m bench.stacks [--seconds 3] [--rounds 3] [--sizes 50,500]``

Serves the blender app (fixed constants, no ZooKeeper: the stack is what is
measured) and the parse-only baseline (:mod:`bench.baseline`) under uvicorn as
it was shipped (h11, asyncio), uvicorn on uvloop and httptools, and granian
(Rust HTTP, ASGI, uvloop); one process each. ``wrk`` drives every server in
alternating rounds with limit 50; the table gives median req/s. Needs granian
(``pip install granian``: it is not a dependency of the project).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from pathlib import Path

from fastapi import FastAPI

from bench.blender import constants_document, request_body
from bench.wrk import WrkRun, wrk, wrk_script
from blender.app import create_app
from blender.constants_source import StaticConstants
from services.local.process import ServerProcess, free_port, port_open

ROOT = Path(__file__).resolve().parent.parent
APPS = {"blender": "bench.stacks:blender_app", "baseline": "bench.baseline:app"}


def blender_app() -> FastAPI:
    return create_app(StaticConstants(constants_document()))


def command(stack: str, target: str, port: int) -> list[str]:
    factory = ["--factory"] if target.endswith("blender_app") else []
    where = ["--host", "127.0.0.1", "--port", str(port)]
    if stack == "granian":
        return [
            str(Path(sys.executable).parent / "granian"),
            *("--interface", "asgi", "--loop", "uvloop", "--http", "1", "--no-ws"),
            *("--workers", "1", "--log-level", "warning", *where, *factory, target),
        ]
    http, loop = ("httptools", "uvloop") if stack == "uvicorn-fast" else ("h11", "asyncio")
    return [
        sys.executable,
        *("-m", "uvicorn", "--http", http, "--loop", loop, "--no-access-log"),
        *("--log-level", "warning", *where, *factory, target),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="50,500")
    args = parser.parse_args()
    stacks = ("uvicorn-h11", "uvicorn-fast", "granian")
    runs: dict[tuple[str, str, int], list[WrkRun]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stacks-") as tmp:
        work = Path(tmp)
        servers: dict[tuple[str, str], tuple[ServerProcess, int]] = {}
        try:
            for stack in stacks:
                for app, target in APPS.items():
                    port = free_port()
                    server = ServerProcess(
                        f"{app} on {stack}",
                        command(stack, target, port),
                        work / f"{stack}-{app}.log",
                        lambda port=port: port_open("127.0.0.1", port),  # type: ignore[misc]
                        cwd=ROOT,
                    )
                    server.start()
                    servers[stack, app] = (server, port)
            for n in (int(s) for s in args.sizes.split(",")):
                script = wrk_script(work, f"body-{n}", request_body(n, random.Random(7), 50))
                print(f"{n} candidates...", file=sys.stderr, flush=True)
                for _ in range(args.rounds):
                    for (stack, app), (_, port) in servers.items():
                        run = wrk(port, script, args.seconds, 16)
                        runs.setdefault((stack, app, n), []).append(run)
        finally:
            for server, _ in servers.values():
                server.stop()
    print_table(runs, stacks, args)


def print_table(
    runs: dict[tuple[str, str, int], list[WrkRun]],
    stacks: tuple[str, ...],
    args: argparse.Namespace,
) -> None:
    print(f"\nwrk, 16 connections, limit 50, {args.rounds} rounds of {args.seconds:g} s, medians\n")
    print("| candidates | stack | blender req/s | baseline req/s | errors |")
    print("| --- | --- | --- | --- | --- |")
    for n in (int(s) for s in args.sizes.split(",")):
        for stack in stacks:
            b, s = runs[stack, "blender", n], runs[stack, "baseline", n]
            errors = sum(r.errors for r in b + s)
            print(
                f"| {n} | {stack} | {statistics.median(r.rps for r in b):,.0f} "
                f"| {statistics.median(r.rps for r in s):,.0f} | {errors} |"
            )


if __name__ == "__main__":
    main()
