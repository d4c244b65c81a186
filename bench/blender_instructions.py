"""Instructions per request of the blender and of the parse-only baseline, under valgrind.

Usage: ``python -m bench.blender_instructions [--sizes 50,500,5000] [--limits 50,none]
[--requests 300]``

Requests per second on a machine shared with other work swing by half between
runs; the instructions a server executes per request do not. Each server (the
blender app with fixed constants, and :mod:`bench.baseline`) runs under
valgrind's callgrind on the same uvicorn, uvloop and httptools stack, with
counting switched on only while one keep-alive connection sends ``--requests``
identical requests (``callgrind_control``), so start-up and warm-up are left
out. Instructions are not time (cache misses and branch prediction differ, and
wrk's ratios have come out a few hundredths below these), but a change that
saves instructions on the request path shows here at once, on any machine.
Needs Debian's ``valgrind`` package (``make bench-tools``).
"""

from __future__ import annotations

import argparse
import http.client
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.blender import constants_document, request_body, run_baseline, run_on_stack
from services.local.process import free_port, port_open

REPO = Path(__file__).resolve().parent.parent


def run_blender(port: int) -> None:
    """The blender app with fixed constants (no ZooKeeper) on the blender's stack."""
    from blender.app import create_app
    from blender.constants_source import StaticConstants

    run_on_stack(create_app(StaticConstants(constants_document())), port)


class Counted:
    """One server under callgrind; ``measure`` counts the instructions of some requests."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.port = free_port()
        self._out = workdir / f"{kind}.callgrind"
        argv = [sys.executable, "-m", "bench.blender_instructions", f"--{kind}-server"]
        self._proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={self._out}",
                *argv,
                str(self.port),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=(workdir / f"{kind}.log").open("wb"),
        )
        deadline = time.monotonic() + 300  # valgrind starts Python some 50 times slower
        while not port_open("127.0.0.1", self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{kind} did not start under valgrind: see {workdir}")
            time.sleep(0.5)
        self._dumps = 0

    def _control(self, *args: str) -> None:
        subprocess.run(
            ["callgrind_control", *args, str(self._proc.pid)],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def measure(self, body: bytes, requests: int) -> float:
        """Instructions per request over ``requests`` requests (after a few uncounted)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            _send(connection, body, 10)
            self._control("--zero")
            self._control("--instr=on")
            _send(connection, body, requests)
            self._control("--dump")
            self._control("--instr=off")
        finally:
            connection.close()
        self._dumps += 1
        dump = Path(f"{self._out}.{self._proc.pid}.{self._dumps}")
        if not dump.exists():  # valgrind names the first dump after the plain file
            dump = Path(f"{self._out}.{self._dumps}")
        for line in dump.read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1]) / requests
        raise SystemExit(f"no summary in {dump}")

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _send(connection: http.client.HTTPConnection, body: bytes, count: int) -> None:
    headers = {"Content-Type": "application/json"}
    for _ in range(count):
        connection.request("POST", "/v1/blend", body, headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise SystemExit(f"answered {response.status}: {answer[:200]!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--sizes", default="50,500,5000")
    parser.add_argument("--limits", default="50,none", help="request limits; 'none' for all")
    parser.add_argument("--requests", type=int, default=300, help="at 50 candidates; fewer above")
    parser.add_argument("--blender-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.blender_server:
        run_blender(args.blender_server)
        return
    if args.baseline_server:
        run_baseline(args.baseline_server)
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind and callgrind_control: `make bench-tools` installs them")
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        servers = {kind: Counted(kind, Path(tmp)) for kind in ("blender", "baseline")}
        try:
            print("| candidates | limit | blender Ir/request | baseline Ir/request | ratio |")
            print("| --- | --- | --- | --- | --- |")
            for n in (int(s) for s in args.sizes.split(",")):
                for limit in (None if x == "none" else int(x) for x in args.limits.split(",")):
                    body = request_body(n, random.Random(7), limit)
                    count = max(5, args.requests * 50 // max(n, 50))
                    ours = servers["blender"].measure(body, count)
                    theirs = servers["baseline"].measure(body, count)
                    print(
                        f"| {n} | {limit if limit is not None else 'all'} | {ours:,.0f} "
                        f"| {theirs:,.0f} | {theirs / ours:.2f} |",
                        flush=True,
                    )
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
