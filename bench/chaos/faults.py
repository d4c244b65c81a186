"""The faults: ``kill -9`` of counter instances, and ZooKeeper stopped and started again.

Kills come at jittered intervals from a background thread, whatever the
instance is doing (counting, restoring, joining the group, answering the
controller); a few wait until an instance's status says it is writing a
snapshot, so that kill lands mid-snapshot. A killed instance is started
again at once with its data folder kept, except one kill that deletes the
folder, so that restart rebuilds from the latest snapshot and the changelog.
ZooKeeper restarts keep port and data folder, as an operator's restart
would; the down and up times are kept for the blender's figures.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from dataclasses import dataclass

import httpx

from services.local.zookeeper import ZooKeeperServer
from tests.integration.counter_service.harness import CounterProcess


@dataclass(frozen=True)
class Kill:
    at: float  # time.monotonic()
    instance: str
    wiped: bool
    during_snapshot: bool = False


class CounterKiller(threading.Thread):
    """About ``kills`` kills spread over ``seconds``, until :meth:`finish`."""

    def __init__(
        self,
        counters: list[CounterProcess],
        kills: int,
        seconds: float,
        wipe: bool,
        seed: int,
        snapshot_kills: int = 0,
    ) -> None:
        super().__init__(name="counter-killer", daemon=True)
        self.counters, self.rng = counters, random.Random(seed)
        self.planned = kills
        self.interval = seconds / (kills + 1)  # a margin, so the planned number is reached
        self.wipe_at = self.rng.randrange(max(1, kills)) if wipe else -1
        # Which kills wait for an instance that is writing a snapshot (not the wipe).
        others = [k for k in range(kills) if k != self.wipe_at]
        self.snapshot_at = set(self.rng.sample(others, min(snapshot_kills, len(others))))
        self.kills: list[Kill] = []
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self._pause()):
            counter = self.rng.choice(self.counters)
            wipe = len(self.kills) == self.wipe_at
            writing = self._writing_snapshot() if len(self.kills) in self.snapshot_at else None
            counter = writing or counter
            counter.kill()
            if wipe:
                shutil.rmtree(counter.data_dir, ignore_errors=True)
            self.kills.append(Kill(time.monotonic(), counter.instance, wipe, writing is not None))
            self._restart(counter)

    def _writing_snapshot(self, timeout: float = 20.0) -> CounterProcess | None:
        """The first instance seen writing a snapshot (its status says so), or None."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline and not self._halt.is_set():
                for counter in self.counters:
                    try:
                        status = client.get(f"{counter.url}/v1/status").json()
                    except (httpx.HTTPError, ValueError):
                        continue
                    if status.get("snapshot_in_progress"):
                        return counter
                time.sleep(0.002)
        return None

    def _pause(self) -> float:
        """Jittered; three times slower once the planned kills are done, so that the
        remaining windows still complete while kills go on."""
        slower = 3.0 if len(self.kills) >= self.planned else 1.0
        return slower * self.interval * self.rng.uniform(0.5, 1.5)

    def _restart(self, counter: CounterProcess) -> None:
        """Start without waiting for ready: the next kill may land while it restores."""
        for _ in range(3):
            try:
                counter.start(ready=False, timeout=60)
                return
            except Exception as exc:  # recorded; the final recovery check starts it again
                self.errors.append(f"{counter.instance}: {exc}")
                time.sleep(1.0)

    def finish(self, timeout: float = 300.0) -> None:
        """Stop once the planned kills (and so the planned wipe) have happened."""
        deadline = time.monotonic() + timeout
        while len(self.kills) < self.planned and self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._halt.set()
        self.join(120)


def recover(counters: list[CounterProcess], timeout: float) -> None:
    """The end state an operator would expect without doing anything: all ready."""
    for counter in counters:
        if not counter.server.running:
            counter.start(ready=False, timeout=60)
    for counter in counters:
        counter.wait_ready(timeout)


class ZooKeeperChaos(threading.Thread):
    """After ``trigger`` is set, ``restarts`` times: stop, stay down, start on the same port."""

    def __init__(
        self,
        zk: ZooKeeperServer,
        restarts: int,
        down_seconds: float,
        trigger: threading.Event,
        gap_seconds: float = 10.0,
    ) -> None:
        super().__init__(name="zookeeper-chaos", daemon=True)
        self.zk, self.restarts, self.down_seconds = zk, restarts, down_seconds
        self.trigger, self.gap_seconds = trigger, gap_seconds
        self.downtimes: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self.began = threading.Event()  # the first stop is under way

    def run(self) -> None:
        if self.restarts <= 0 or not self.trigger.wait(600):
            self.began.set()
            return
        for i in range(self.restarts):
            if i:
                time.sleep(self.gap_seconds)
            down = time.monotonic()
            self.began.set()
            try:
                self.zk.stop()
                time.sleep(self.down_seconds)
                self.zk.start()
            except Exception as exc:
                self.errors.append(str(exc))
            self.downtimes.append((down, time.monotonic()))
