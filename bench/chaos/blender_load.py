"""A steady open-loop load on the blender, every answer and failure recorded with its time.

Uses the raw-asyncio HTTP/1.1 client of :mod:`bench.http_client` (a heavy client
would compete with the services for two cores). Requests are paced by a
schedule, not by the answers, so a stalled blender shows up as latency and a
dead connection as an error, and each request's send time can be set against
ZooKeeper's downtime.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.blender import request_body
from bench.http_client import parse_head


@dataclass
class Sample:
    sent: float  # time.monotonic()
    seconds: float
    status: int  # 0: connection error


@dataclass
class LoadRecord:
    samples: list[Sample] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)  # connection errors by kind

    def statuses(self) -> Counter[int]:
        return Counter(s.status for s in self.samples)

    def during(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.sent <= end]

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(s.seconds for s in self.samples if s.status)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))]


class BlenderLoad(threading.Thread):
    """``rate`` requests/s over ``connections`` keep-alive connections until :meth:`finish`."""

    def __init__(
        self, port: int, rate: float, candidates: int, seed: int, connections: int = 4
    ) -> None:
        super().__init__(name="blender-load", daemon=True)
        self.port, self.rate, self.connections = port, rate, connections
        body = request_body(candidates, random.Random(seed), 50)
        self.request = (
            b"POST /v1/blend HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        self.record = LoadRecord()
        self._halt = threading.Event()

    def run(self) -> None:
        asyncio.run(self._drive())

    def finish(self) -> LoadRecord:
        self._halt.set()
        self.join(30)
        return self.record

    async def _drive(self) -> None:
        period = self.connections / self.rate
        await asyncio.gather(
            *(
                self._connection(period, i * period / self.connections)
                for i in range(self.connections)
            )
        )

    async def _connection(self, period: float, offset: float) -> None:
        next_at = time.monotonic() + offset
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while not self._halt.is_set():
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += period
            sent = time.monotonic()
            try:
                if streams is None:
                    streams = await asyncio.open_connection("127.0.0.1", self.port)
                status = await self._one(*streams)
                self.record.samples.append(Sample(sent, time.monotonic() - sent, status))
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                self.record.samples.append(Sample(sent, time.monotonic() - sent, 0))
                self.record.errors[type(exc).__name__] += 1
                if streams is not None:
                    streams[1].close()
                streams = None
        if streams is not None:
            streams[1].close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        length, status, _ = parse_head(head)
        await reader.readexactly(length)
        return status
