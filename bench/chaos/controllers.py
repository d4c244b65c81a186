"""``pid-controller run --at`` processes racing for each window, some of them ``kill -9``ed.

A window is raced by several runs at once; a random number of them is killed
after a random small delay (before, during or after its write). Whatever
happened, the window is then completed the way an operator's schedule would:
the next ordinary run (no kill), repeated until one exits 0, which means the
window is computed (written now or before). The reference is a clean run, one
process per window with no faults, on a separate ZooKeeper root with the same
targets, reading the same final counts: every window's constants must match.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.ledger import HistoryEntry, history
from services.local.process import BIN
from services.timebuckets import iso, parse_time
from services.zk import ZkStore

RUN_TIMEOUT = 180.0


@dataclass
class ControllerStats:
    started: int = 0
    killed: int = 0
    retries: int = 0  # ordinary runs after a racing round left the window undone
    failed: int = 0  # runs that exited non-zero (counters or ZooKeeper unavailable)
    killed_mid_step: int = 0  # killed holding the lock, between reading counts and writing


@dataclass(frozen=True)
class ControllerTarget:
    zk_hosts: str
    root: str
    counter_urls: list[str]
    logs: Path

    def env(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CD_")}
        return {
            **inherited,
            "CD_ZK_HOSTS": self.zk_hosts,
            "CD_ZK_ROOT": self.root,
            "CD_COUNTER_URLS": ",".join(self.counter_urls),
            "CD_CONTROLLER_MIN_IMPRESSIONS": "100",
            "CD_CONTROLLER_MAX_WAIT_SECONDS": "30",
            # A killed lock holder's session (and lock) expires in seconds, not ten.
            "CD_ZK_TIMEOUT_SECONDS": "4",
        }


def log_path(target: ControllerTarget, end: int, name: str) -> Path:
    return target.logs / f"{end}-{name}.log"


def spawn(target: ControllerTarget, end: int, name: str) -> subprocess.Popen[bytes]:
    target.logs.mkdir(parents=True, exist_ok=True)
    with open(log_path(target, end, name), "ab") as log:
        return subprocess.Popen(
            [str(BIN / "pid-controller"), "run", "--at", iso(end)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=target.env(),
        )


# Where a doomed run dies: at a random moment of its start-up; just after it connected
# to ZooKeeper (racing for the lock); or just after it read the counts, holding the lock
# before its multi-op, the moment a crash is most dangerous for "one write per window".
MID_STEP = "HTTP Request: GET"
KILL_POINTS = (None, "zookeeper connected", MID_STEP)


def _kill_at(
    proc: subprocess.Popen[bytes], log: Path, marker: str | None, rng: random.Random
) -> tuple[threading.Thread, list[str]]:
    """A watcher that kills ``proc`` once ``marker`` is in its log; says if it did."""
    delay = rng.uniform(0.2, 1.0) if marker is None else rng.uniform(0.0, 0.03)
    killed: list[str] = []

    def watch() -> None:
        while marker is not None and proc.poll() is None:
            if marker in log.read_text(errors="replace"):
                break
            time.sleep(0.005)
        time.sleep(delay)
        if proc.poll() is None:
            proc.kill()
            killed.append(marker or "start-up")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, killed


def race(
    target: ControllerTarget, end: int, racers: int, doomed: int, rng: random.Random
) -> tuple[bool, ControllerStats]:
    """``racers`` runs at once, ``doomed`` of them killed; True if one of them exited 0."""
    names = [f"race{i}" for i in range(racers)]
    procs = [spawn(target, end, name) for name in names]
    watchers = [
        _kill_at(procs[i], log_path(target, end, names[i]), rng.choice(KILL_POINTS), rng)
        for i in rng.sample(range(racers), doomed)
    ]
    codes = [proc.wait(RUN_TIMEOUT) for proc in procs]
    kills = []
    for thread, killed in watchers:
        thread.join(RUN_TIMEOUT)
        kills += killed
    stats = ControllerStats(started=racers, killed=len(kills))
    stats.killed_mid_step = kills.count(MID_STEP)
    stats.failed = sum(1 for c in codes if c > 0)
    return any(c == 0 for c in codes), stats


def complete_window(
    target: ControllerTarget, end: int, racers: int, doomed: int, rng: random.Random
) -> ControllerStats:
    """Race the window, then ordinary runs until one succeeds (no hand involved)."""
    done, stats = race(target, end, racers, doomed, rng)
    deadline = time.monotonic() + 300
    while not done:
        if time.monotonic() > deadline:
            raise AssertionError(f"window {iso(end)} not completed in 300 s; see {target.logs}")
        time.sleep(1.0)
        stats.retries += 1
        stats.started += 1
        code = spawn(target, end, f"retry{stats.retries}").wait(RUN_TIMEOUT)
        stats.failed += code != 0
        done = code == 0
    return stats


def clean_run(target: ControllerTarget, ends: list[int]) -> None:
    """The reference: one run per window, nothing killed; every run must succeed."""
    for end in ends:
        code = spawn(target, end, "clean").wait(RUN_TIMEOUT)
        if code != 0:
            raise AssertionError(f"clean run for {iso(end)} exited {code}; see {target.logs}")


def read_history(zk_hosts: str, root: str) -> list[HistoryEntry]:
    with ZkStore(zk_hosts, root, timeout=10) as store:
        return sorted(history(store), key=lambda e: e.generation)


def one_per_window(entries: list[HistoryEntry], ends: list[int]) -> list[str]:
    """Problems, if any: the history must hold exactly one step per window, in order."""
    windows = [
        parse_time(e.constants.window_end, "window_end") if e.constants.window_end else None
        for e in entries
    ]
    problems = []
    if windows != ends:
        problems.append(f"history windows {windows} != expected {ends}")
    if [e.generation for e in entries] != list(range(1, len(entries) + 1)):
        problems.append(f"generations {[e.generation for e in entries]} not 1..n")
    problems += [f"generation {e.generation} is a {e.kind}" for e in entries if e.kind != "step"]
    return problems


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() != b.keys() or any(_differs(a[k], b[k]) for k in a)
    return bool(a != b)


def same_as_clean(entries: list[HistoryEntry], clean: list[HistoryEntry]) -> list[str]:
    """Per window, constants and diagnostics equal to the clean run's (to 1e-12)."""
    reference = {e.constants.window_end: e.constants for e in clean}
    problems = []
    for entry in entries:
        ref = reference.get(entry.constants.window_end)
        if ref is None:
            problems.append(f"no clean generation for window {entry.constants.window_end}")
            continue
        for part in ("policies", "diagnostics"):
            ours = entry.constants.model_dump(mode="json")[part]
            theirs = ref.model_dump(mode="json")[part]
            if _differs(ours, theirs):
                problems.append(f"window {entry.constants.window_end}: {part} {ours} != {theirs}")
    return problems
