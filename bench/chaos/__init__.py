"""Chaos soak: the whole system proven exact under faults (issue 8).

``python -m bench.chaos [--events N] [--kills K] ...`` starts a real broker,
ZooKeeper, two ``counter-service`` processes and a ``blender``, then at once:
produces events window by window at a throttled rate, ``kill -9``s a random
counter every few seconds (once with its data folder deleted), restarts
ZooKeeper, races three ``pid-controller run`` processes per window while
killing some of them, and keeps a steady load on the blender. At the end it
checks exact counts on both counters, one generation per window equal to a
clean run's, a blender that never failed a request, and that everything
recovered by itself. ``tests/integration/test_chaos.py`` runs a short version.

Modules: :mod:`.config` (parameters and result), :mod:`.cluster` (the real
processes), :mod:`.traffic` (events and expected counts), :mod:`.blender_load`,
:mod:`.faults`, :mod:`.controllers`, :mod:`.soak` (the run and its checks),
:mod:`.report` (table and JSON).
"""
