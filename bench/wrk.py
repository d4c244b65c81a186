"""``wrk`` (Debian's HTTP load generator: nothing of ours on the client side) as the
benches drive it: one POST body per run, its rate, p99 and every failure."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class WrkRun:
    rps: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors


def wrk(port: int, script: Path, seconds: float, connections: int) -> WrkRun:
    """One ``wrk`` run (one thread: the machine is small and shared with the servers)."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "--timeout",
            "10s",  # wrk's 2 s would count a slow answer on a busy machine as an error
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/v1/blend",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if rps is None or p99 is None:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99[2]]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return WrkRun(float(rps[1]), float(p99[1]) * scale, errors)


def wrk_script(workdir: Path, name: str, body: bytes) -> Path:
    """A Lua script making every wrk request this POST."""
    body_path = workdir / f"{name}.json"
    body_path.write_bytes(body)
    script = workdir / f"{name}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_path}", "rb")\n'
        'wrk.body = f:read("*a")\n'
        "f:close()\n"
    )
    return script
