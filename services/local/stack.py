"""The local stack: ZooKeeper, the Kafka-protocol broker, two counters, the blender,
the controller, and (for ``make up``) Prometheus with the repository's alert rules and
a Pushgateway; started as real processes, each logging to its own file.

``python -m services.local.stack up|down|status`` (``make up``/``make down``/
``make status``) keeps it running for manual use; :func:`running_stack` is the
context manager the demo uses, which stops everything it started also on
Ctrl-C or a failure. All state lives under one folder (default ``.local/``).
Ports are the contract's defaults, so every command works with no settings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from services.errors import CDError
from services.kafka import TopicSpec, ensure_topics
from services.local.process import BIN, ServerProcess, free_port, http_ok, port_open
from services.local.prometheus import (
    Monitoring,
    describe_alerts,
    prometheus_process,
    pushgateway_process,
)
from services.local.tansu import broker_binary
from services.local.zookeeper import JARS, serving

READY_TIMEOUT = 90.0
IMPRESSIONS = "homefeed.impressions"  # the contract's default CD_KAFKA_TOPIC


@dataclass(frozen=True)
class Probe:
    port: int
    ready: Callable[[], bool]


@dataclass(frozen=True)
class Ports:
    zookeeper: int = 2181
    kafka: int = 9092
    blender: int = 8080
    counters: tuple[int, ...] = (8081, 8082)
    prometheus: int = 9090
    pushgateway: int = 9091


class Stack:
    def __init__(
        self,
        home: Path,
        ports: Ports = Ports(),
        *,
        controller: bool = True,
        monitoring: Monitoring | None = None,
    ) -> None:
        self.home = home
        self.ports = ports
        self.controller = controller
        # Prometheus and the Pushgateway; None: not started (most tests need neither).
        self.monitoring = monitoring
        self.logs = home / "logs"
        self.pidfile = home / "pids.json"

    @property
    def env(self) -> dict[str, str]:
        return {
            "CD_ZK_HOSTS": f"127.0.0.1:{self.ports.zookeeper}",
            "CD_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.ports.kafka}",
            "CD_BLENDER_PORT": str(self.ports.blender),
            "CD_BLENDER_CACHE_PATH": str(self.home / "blender" / "constants.cache.json"),
            "CD_COUNTER_URLS": ",".join(f"http://127.0.0.1:{p}" for p in self.ports.counters),
            **({"CD_PUSHGATEWAY_URL": self.pushgateway_url} if self.monitoring else {}),
        }

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.prometheus}"

    @property
    def pushgateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.pushgateway}"

    def probes(self) -> dict[str, Probe]:
        """Each component's port and readiness check, by name (the controller has none)."""
        http = "http://127.0.0.1"
        probes = {
            "zookeeper": Probe(self.ports.zookeeper, lambda: serving(self.ports.zookeeper)),
            "kafka": Probe(self.ports.kafka, lambda: port_open("127.0.0.1", self.ports.kafka)),
        }
        for i, port in enumerate(self.ports.counters, 1):
            probes[f"counter-{i}"] = Probe(port, partial(http_ok, f"{http}:{port}/readyz"))
        blender = self.ports.blender
        probes["blender"] = Probe(blender, partial(http_ok, f"{http}:{blender}/readyz"))
        if self.monitoring is not None:
            for name, port in (
                ("pushgateway", self.ports.pushgateway),
                ("prometheus", self.ports.prometheus),
            ):
                probes[name] = Probe(port, partial(http_ok, f"{http}:{port}/-/ready"))
        return probes

    def components(self) -> list[ServerProcess]:
        """In start order: each waits for the ones before it."""
        probes = self.probes()
        procs = [self._zookeeper(probes["zookeeper"].ready), self._kafka(probes["kafka"].ready)]
        for i, port in enumerate(self.ports.counters, 1):
            procs.append(self._counter(i, port))
        procs.append(self._proc("blender", [str(BIN / "blender")], probes["blender"].ready))
        if self.monitoring is not None:
            procs += self._monitoring(self.monitoring)
        if self.controller:
            procs.append(self._proc("controller", [str(BIN / "pid-controller"), "schedule"], None))
        return procs

    def _zookeeper(self, ready: Callable[[], bool]) -> ServerProcess:
        zk_dir = self.home / "zookeeper"
        zk_cfg = zk_dir / "zoo.cfg"
        zk_dir.mkdir(parents=True, exist_ok=True)
        zk_cfg.write_text(
            f"tickTime=500\ndataDir={zk_dir / 'data'}\nclientPort={self.ports.zookeeper}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n"
        )
        main = "org.apache.zookeeper.server.ZooKeeperServerMain"
        classpath = ":".join(["/etc/zookeeper/conf", *JARS])
        return self._proc(
            "zookeeper", ["java", "-Xmx256m", "-cp", classpath, main, str(zk_cfg)], ready
        )

    def _kafka(self, ready: Callable[[], bool]) -> ServerProcess:
        kafka = f"tcp://127.0.0.1:{self.ports.kafka}"
        command = [broker_binary(), "broker", "--listener-url", kafka]
        command += ["--advertised-listener-url", kafka, "--storage-engine", "memory://tansu/"]
        return self._proc("kafka", command, ready)

    def _monitoring(self, monitoring: Monitoring) -> list[ServerProcess]:
        targets = {
            "blender": [f"127.0.0.1:{self.ports.blender}"],
            "counter": [f"127.0.0.1:{p}" for p in self.ports.counters],
            "pushgateway": [f"127.0.0.1:{self.ports.pushgateway}"],
        }
        return [
            pushgateway_process(self.home, self.ports.pushgateway),
            prometheus_process(self.home, self.ports.prometheus, monitoring, targets),
        ]

    def _counter(self, i: int, port: int) -> ServerProcess:
        env = {
            "CD_COUNTER_PORT": str(port),
            "CD_COUNTER_INSTANCE": f"counter-{i}",
            "CD_COUNTER_ADVERTISED_HOST": "127.0.0.1",
            "CD_COUNTER_DATA_DIR": str(self.home / f"counter-{i}"),
        }
        return self._proc(
            f"counter-{i}", [str(BIN / "counter-service")], self.probes()[f"counter-{i}"].ready, env
        )

    def _proc(
        self, name: str, argv: list[str], ready: object, extra: dict[str, str] | None = None
    ) -> ServerProcess:
        probe = ready if callable(ready) else (lambda: True)
        return ServerProcess(
            name,
            argv,
            self.logs / f"{name}.log",
            probe,
            env={**self.env, **(extra or {})},
            cwd=self.home,
        )

    def check_ports(self) -> None:
        taken = [
            f"{name} port {probe.port}"
            for name, probe in self.probes().items()
            if port_open("127.0.0.1", probe.port)
        ]
        if taken:
            raise CDError(
                "ports already in use: "
                + ", ".join(taken)
                + " (is a stack already up? `make down`, or stop what holds them)"
            )

    def up(self, progress: bool = True) -> list[ServerProcess]:
        self.check_ports()
        self.home.mkdir(parents=True, exist_ok=True)
        started: list[ServerProcess] = []
        try:
            for proc in self.components():
                if progress:
                    print(f"  starting {proc.name:<11} log: {proc.log_path}", flush=True)
                proc.start(READY_TIMEOUT)
                started.append(proc)
                self._save(started)
                if proc.name == "kafka":
                    self._create_topics()
        except BaseException:
            stop_all(started)
            self.pidfile.unlink(missing_ok=True)
            raise
        return started

    def _create_topics(self) -> None:
        """The impressions topic, as the front end's deployment would create it (the
        counters create their own topics; a subscription to a missing topic never
        gets an assignment, so the counters would never turn ready)."""
        ensure_topics(f"127.0.0.1:{self.ports.kafka}", [TopicSpec(IMPRESSIONS, 4)])

    def _save(self, procs: Sequence[ServerProcess]) -> None:
        pids = {p.name: p.proc.pid for p in procs if p.proc is not None}
        self.pidfile.write_text(json.dumps(pids))

    def saved(self) -> dict[str, int]:
        try:
            return {str(k): int(v) for k, v in json.loads(self.pidfile.read_text()).items()}
        except (OSError, ValueError):
            return {}


def stop_all(procs: Sequence[ServerProcess]) -> None:
    for proc in reversed(procs):
        proc.stop()


def _alive(pid: int) -> bool:
    try:  # reap it if it is our child (a stack started in this process): a zombie is dead
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def down(stack: Stack) -> None:
    pids = stack.saved()
    for name, pid in reversed(list(pids.items())):
        if _alive(pid):
            print(f"  stopping {name} (pid {pid})")
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
    stack.pidfile.unlink(missing_ok=True)
    forget_counters(stack)
    print("stack is down" if pids else "no stack was up")


def forget_counters(stack: Stack) -> None:
    """The memory broker forgot every topic: the counters' folders describe nothing any more.

    A counter would notice by itself (its folder has read past the changelog's end) and
    rebuild with the folder moved aside; wiping here keeps ``.local/stack`` from filling
    up with such folders, one per ``make down``."""
    for folder in sorted(stack.home.glob("counter-*")):
        if folder.is_dir():
            shutil.rmtree(folder)
            print(f"  removed {folder.name}'s counts (the memory broker forgot their changelog)")


def status(stack: Stack) -> int:
    """A line per component: pid, alive, port, ready; 1 unless all run and are ready."""
    pids = stack.saved()
    if not pids:
        print("no stack is up (make up)")
        return 1
    probes = stack.probes()
    bad = 0
    for name, pid in pids.items():
        alive = _alive(pid)
        probe = probes.get(name)
        ready = alive and (probe is None or probe.ready())
        bad += not ready
        state = "running" if alive else "DEAD"
        port = f"port {probe.port}" if probe else "-"
        readiness = ("ready" if ready else "NOT READY") if probe else "-"
        line = f"  {name:<11} pid {pid:<8} {state:<8} {port:<10} {readiness:<9}"
        print(f"{line} log: {stack.logs / name}.log")
    print(f"blender status page: http://127.0.0.1:{stack.ports.blender}/")
    if "prometheus" in pids:
        _print_alerts(stack)
    return 1 if bad else 0


def _print_alerts(stack: Stack) -> None:
    print(f"prometheus: {stack.prometheus_url}/alerts")
    try:
        alerts = describe_alerts(stack.prometheus_url)
    except CDError as exc:
        print(f"  alerts unknown: {exc}")
        return
    print(f"  {len(alerts)} alert(s) firing" + (":" if alerts else ""))
    for line in alerts:
        print(f"  FIRING {line}")


def free_ports() -> Ports:
    """Ports nothing listens on, for a stack beside another (tests)."""
    return Ports(
        free_port(), free_port(), free_port(), (free_port(), free_port()), free_port(), free_port()
    )


@contextmanager
def running_stack(
    home: Path,
    *,
    controller: bool = False,
    ports: Ports = Ports(),
    monitoring: Monitoring | None = None,
) -> Iterator[Stack]:
    """Start the stack for the duration of a block; stop all of it whatever happens."""
    stack = Stack(home, ports, controller=controller, monitoring=monitoring)
    procs = stack.up()
    try:
        yield stack
    finally:
        stop_all(procs)
        stack.pidfile.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.local.stack")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--home", type=Path, default=Path(".local/stack"))
    args = parser.parse_args(argv)
    stack = Stack(args.home.resolve(), monitoring=Monitoring())
    try:
        if args.command == "up":
            stack.up()
            print(f"stack is up; blender status page: http://127.0.0.1:{stack.ports.blender}/")
            print(f"prometheus (alerts, the dashboard's queries): {stack.prometheus_url}/alerts")
            print("`make status` to check it, `make down` to stop it")
            return 0
        if args.command == "down":
            down(stack)
            return 0
        return status(stack)
    except CDError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
