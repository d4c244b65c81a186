"""Our own HTTP/1.1 load client on raw asyncio streams, for what ``wrk`` does not
read: the blender's server-side time (its ``Server-Timing`` header, asked for with
``Cd-Server-Timing``). Every failed exchange is counted, never fatal, so a load
run reports every failure instead of dying at the first one."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass


@dataclass
class Result:
    latencies: list[float]
    server_ms: list[float]
    seconds: float
    errors: int  # answers other than 200
    failures: int = 0  # connection errors, broken or unanswered exchanges

    def pct(self, values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    def add(self, other: Result) -> None:
        self.latencies += other.latencies
        self.server_ms += other.server_ms
        self.seconds += other.seconds
        self.errors += other.errors
        self.failures += other.failures

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds


async def _one_connection(
    port: int, request: bytes, stop_at: float, out: Result, record: bool
) -> None:
    """Keep one connection busy until ``stop_at``; a failed exchange is counted and the
    connection reopened, so that a load run reports every failure instead of dying at
    the first one."""
    while time.perf_counter() < stop_at:
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await _exchanges(reader, writer, request, stop_at, out, record)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            out.failures += 1
            await asyncio.sleep(0.01)  # a refused connection must not spin
        finally:
            if writer is not None:
                writer.close()


async def _exchanges(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
    stop_at: float,
    out: Result,
    record: bool,
) -> None:
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length, status, timing = parse_head(head)
        await reader.readexactly(length)
        if status != 200:
            out.errors += 1
        if not record:
            continue
        out.latencies.append(time.perf_counter() - started)
        if timing is not None:
            out.server_ms.append(timing)


def parse_head(head: bytes) -> tuple[int, int, float | None]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, timing = 0, None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"server-timing":
            timing = float(value.split(b"blend;dur=")[1].split(b",")[0])
    return length, status, timing


async def drive(port: int, body: bytes, seconds: float, concurrency: int) -> Result:
    request = (
        b"POST /v1/blend HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Cd-Server-Timing: 1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    result = Result([], [], seconds, 0)
    await _connections(port, request, 0.3, concurrency, result, False)  # warm-up
    start = time.perf_counter()
    ticker = asyncio.create_task(_progress(result, start)) if seconds >= 20 else None
    await _connections(port, request, seconds, concurrency, result, True)
    result.seconds = time.perf_counter() - start
    if ticker is not None:
        ticker.cancel()
    return result


async def _connections(
    port: int, request: bytes, seconds: float, concurrency: int, out: Result, record: bool
) -> None:
    """Run ``concurrency`` connections for ``seconds``; one still waiting for an answer
    long after the end is a hung exchange: cancelled and counted as a failure."""
    stop_at = time.perf_counter() + seconds
    tasks = [
        asyncio.create_task(_one_connection(port, request, stop_at, out, record))
        for _ in range(concurrency)
    ]
    _, hung = await asyncio.wait(tasks, timeout=seconds + 30)
    for task in hung:
        task.cancel()
    out.failures += len(hung)


async def _progress(result: Result, start: float) -> None:
    """A line every 10 s: a long load run must show it is alive and whether it fails."""
    while True:
        await asyncio.sleep(10)
        elapsed = time.perf_counter() - start
        print(
            f"  {elapsed:5.0f} s: {len(result.latencies)} answers "
            f"({len(result.latencies) / elapsed:.0f}/s), {result.errors} non-200, "
            f"{result.failures} connection failures",
            file=sys.stderr,
            flush=True,
        )
