"""Duet rounds of the blender bench (``python -m bench.blender --duet``): blender and
baseline under load at the same time, both pinned to one core, wrk on the other.

The alternating rounds of the plain bench run the two servers seconds apart,
and this host's speed drifts in phases of seconds: a cell's ratio moved by up to
0.16 between runs of the same code. Sharing one core at the same moments, the
two servers see the same machine; each has its own ``wrk`` with as many
connections as the plain bench gives one server, so both always have requests
waiting and the kernel gives each half the core. The ratio of their rates is
then the ratio of their costs per request (duet benchmarking, as
:mod:`bench.counter_duet` does for the counter). The blender's own threads
(ZooKeeper, sampling) stay on its core and count against it.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from bench.pinning import pin, process_tree, split_cpus
from bench.wrk import WrkRun, wrk

if TYPE_CHECKING:  # bench.blender imports this module
    from bench.blender import Cell, Options


def pin_pair(pids: list[int], helper_pids: list[int]) -> None:
    """The compared servers (and their children) onto one core, everything else of
    ours (ZooKeeper, this bench and so the wrk it starts) onto the others."""
    pair_cpus, other_cpus = split_cpus()
    for pid in [*helper_pids, os.getpid()]:
        for task in process_tree(pid):
            pin(task, other_cpus)
    for pid in pids:
        for task in process_tree(pid):
            pin(task, pair_cpus)


def duet_rounds(ports: tuple[int, int], script: Path, options: Options, cell: Cell) -> list[WrkRun]:
    """Blender and baseline under load together, every round; returns the uncounted
    warm-up runs."""
    with ThreadPoolExecutor(2) as pool:

        def together(seconds: float) -> list[WrkRun]:
            runs = [pool.submit(wrk, p, script, seconds, options.connections) for p in ports]
            return [run.result() for run in runs]

        warm_up = together(min(1.0, options.seconds))
        for _ in range(options.rounds):
            ours, theirs = together(options.seconds)
            cell.blender.append(ours)
            cell.baseline.append(theirs)
            print(f"  round: {ours.rps / theirs.rps:.2f}", file=sys.stderr, flush=True)
    return warm_up
