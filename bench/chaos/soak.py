"""The soak: every fault at once while events flow, then the pass criteria.

Timeline: the blender load, the producer, the counter killer and the
ZooKeeper chaos thread all start together. The main thread takes each window
as the producer finishes it, waits until both counters have counted every
offset produced so far (so the window's counts are final, while later windows
keep flowing), and has it computed by racing controllers. ZooKeeper restarts
once the blender holds a first generation, so it has something to serve while
ZooKeeper is down. Then the faults stop, nobody intervenes, and the checks run.
"""

from __future__ import annotations

import queue
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench.chaos import checks
from bench.chaos.blender_load import BlenderLoad
from bench.chaos.cluster import Cluster, running_cluster
from bench.chaos.config import ChaosConfig, ChaosResult, Criterion, Figures
from bench.chaos.controllers import ControllerStats, ControllerTarget, clean_run, complete_window
from bench.chaos.faults import CounterKiller, ZooKeeperChaos
from bench.chaos.traffic import EventProducer, WindowDone, window_ends
from pid_controller.simulator.live_stack import counted

Print = Callable[[str], None]


def run(config: ChaosConfig, out: Print = print) -> ChaosResult:
    """Start the cluster, run the soak, check; the result says what passed."""
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="chaos-"))
    began = time.monotonic()
    figures = Figures()
    with running_cluster(workdir, config.partitions) as cluster:
        criteria = Soak(config, cluster, workdir, figures, out).run()
    figures.wall_seconds = round(time.monotonic() - began, 1)
    result = ChaosResult(figures, criteria, str(workdir))
    if result.passed and config.workdir is None and not config.keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


class Soak:
    def __init__(
        self, config: ChaosConfig, cluster: Cluster, workdir: Path, figures: Figures, out: Print
    ) -> None:
        self.config, self.cluster, self.figures, self.out = config, cluster, figures, out
        self.rng = random.Random(config.seed)
        self.ends = window_ends(config.windows, time.time())
        d = cluster.deployment
        self.first_generation = threading.Event()
        self.zk_chaos = ZooKeeperChaos(
            cluster.zk, config.zk_restarts, config.zk_down_seconds, self.first_generation
        )
        self.producer = EventProducer(
            d.bootstrap,
            d.topic,
            self.ends,
            config.events,
            config.rate,
            config.seed,
            last_window_gate=self.zk_chaos.began,
        )
        self.killer = CounterKiller(
            cluster.counters,
            config.kills,
            config.produce_seconds,
            config.wipe_once,
            config.seed,
            config.snapshot_kills,
        )
        self.load = BlenderLoad(
            cluster.blender_port, config.blender_rate, config.blender_candidates, config.seed
        )
        self.stats = ControllerStats()
        self.phase = "starting"
        self.target = ControllerTarget(d.zk_hosts, d.zk_root, cluster.counter_urls, workdir / "ctl")

    def run(self) -> list[Criterion]:
        done = threading.Event()
        threading.Thread(target=self._progress, args=(done,), daemon=True).start()
        for thread in (self.load, self.producer, self.killer, self.zk_chaos):
            thread.start()
        try:
            self._faulty_phase()
            return self._finish()
        finally:
            done.set()
            self.killer.finish(timeout=0)  # on a failure: stop at once
            self.load.finish()

    def _faulty_phase(self) -> None:
        try:
            self.phase = "events flowing, counters killed, controllers racing"
            self._control_windows()
        finally:
            self.phase = "finishing the planned kills"
            self.killer.finish()
            self.first_generation.set()  # a chaos thread never triggered must not hang
            self.zk_chaos.join(120)

    def _finish(self) -> list[Criterion]:
        self.phase = "recovering (no hand)"
        recovery = checks.recovery(self.cluster, self.killer, self.zk_chaos)
        self.phase = "clean reference run"
        clean_run(replace(self.target, root=self.cluster.clean_root), self.ends)
        self.phase = "checking"
        served = checks.final_generation(self.cluster.blender_url, len(self.ends))
        record = self.load.finish()
        self._figures()
        return [
            checks.counts(self.cluster, self.producer),
            checks.generations(self.cluster, self.ends, self.figures),
            checks.blender(record, self.zk_chaos.downtimes, served, self.figures),
            recovery,
            checks.faults(self.config, self.figures),
            checks.snapshots(self.cluster, self.config, self.figures),
        ]

    def _control_windows(self) -> None:
        racers = self.config.racing_controllers
        for k in range(len(self.ends)):
            end, offsets = self._next_window()
            self._wait_counted(offsets)
            doomed = racers if k == 1 else self.rng.randint(0, racers)  # one window: all die
            stats = complete_window(self.target, end, racers, doomed, self.rng)
            for name in ("started", "killed", "retries", "failed", "killed_mid_step"):
                setattr(self.stats, name, getattr(self.stats, name) + getattr(stats, name))
            self.figures.windows += 1
            self.first_generation.set()

    def _next_window(self) -> WindowDone:
        while True:
            try:
                return self.producer.windows_done.get(timeout=1.0)
            except queue.Empty:
                if not self.producer.is_alive():
                    raise AssertionError(f"producer stopped: {self.producer.error!r}") from None

    def _wait_counted(self, offsets: dict[int, int], timeout: float = 600.0) -> None:
        """Both instances hold every offset produced so far: the window's counts are final."""
        topic, deadline = self.cluster.deployment.topic, time.monotonic() + timeout
        while not all(counted(url, topic, offsets) for url in self.cluster.counter_urls):
            if time.monotonic() > deadline:
                raise AssertionError(f"counters did not count through {offsets} in {timeout}s")
            time.sleep(0.2)

    def _figures(self) -> None:
        f = self.figures
        f.events = self.producer.produced
        f.counter_kills = len(self.killer.kills)
        f.counter_wipes = sum(k.wiped for k in self.killer.kills)
        f.kills_during_snapshot = sum(k.during_snapshot for k in self.killer.kills)
        f.zk_restarts = len(self.zk_chaos.downtimes)
        f.controllers_started, f.controllers_killed = self.stats.started, self.stats.killed
        f.controller_retries = self.stats.retries
        f.controllers_killed_mid_step = self.stats.killed_mid_step

    def _progress(self, done: threading.Event) -> None:
        began = time.monotonic()
        while not done.wait(self.config.progress_seconds):
            samples = list(self.load.record.samples)
            self.out(
                f"[{time.monotonic() - began:5.0f}s] {self.phase}: "
                f"events {self.producer.produced:,}/{self.config.events:,}, "
                f"counter kills {len(self.killer.kills)}, "
                f"zk restarts {len(self.zk_chaos.downtimes)}, "
                f"windows {self.figures.windows}/{len(self.ends)}, "
                f"controllers {self.stats.started} started {self.stats.killed} killed, "
                f"blender {len(samples)} req {sum(s.status != 200 for s in samples)} bad"
            )
