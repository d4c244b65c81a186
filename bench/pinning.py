"""CPU pinning for duet benchmarks: the two things compared share one core, the rest of
the machine (broker, ZooKeeper, load generators, the bench itself) gets the others.

This host's speed drifts in phases of seconds; two runs one after the other then
see two different machines. Run at the same time on one core, the two see the
same machine at every moment and split it fairly (the kernel's scheduler gives
equal shares to busy threads), so the ratio of their rates is the ratio of their
costs (duet benchmarking).
"""

from __future__ import annotations

import contextlib
import os


def split_cpus() -> tuple[set[int], set[int]]:
    """One core for the pair compared, the rest for everything else."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("a duet needs at least 2 CPUs: the pair compared gets one to itself")
    return {cpus[0]}, set(cpus[1:])


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` onto ``cpus``; threads it starts later inherit it."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(task), cpus)


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (a server may serve from a child)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a process that just ended
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree
