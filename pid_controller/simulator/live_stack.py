"""The running stack as ``cd-simulate --live`` sees it: where its parts are, the
event producer that remembers how far each partition got, what "counted" and
"the blender serves a generation" mean, and the targets and controller settings
a run puts in it (never overwriting an operator's targets unasked)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from confluent_kafka import KafkaError, Message

from pid_controller.simulator.engine import LoopSettings
from pid_controller.step import PolicyConfig
from services import kafka
from services.docstore import read_targets
from services.documents import TargetsDocument, validate_document
from services.errors import InvalidInputError, UpstreamError
from services.intervals import as_interval
from services.zk import ZkStore


@dataclass(frozen=True)
class Endpoints:
    blender_url: str
    counter_url: str
    kafka_bootstrap: str
    topic: str
    zk_hosts: str
    zk_root: str
    zk_auth: str | None = None
    samples_topic: str = "homefeed.blend-samples"
    zk_timeout: float = 10.0


def wait_until(what: str, check: Any, timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise UpstreamError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class EventSink:
    """Produces impression events and remembers how far each partition got."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._producer = kafka.make_producer(
            kafka.producer_config(bootstrap, {"linger.ms": 20, "batch.num.messages": 10000})
        )
        self.next_offsets: dict[int, int] = {}
        self._errors: list[str] = []

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(str(err))
            return
        partition, offset = msg.partition(), msg.offset()
        if partition is not None and offset is not None:
            self.next_offsets[partition] = max(self.next_offsets.get(partition, 0), offset + 1)

    def send(self, key: bytes, event: Mapping[str, Any]) -> None:
        while True:
            try:
                self._producer.produce(
                    self.topic, orjson.dumps(event), key, on_delivery=self._delivered
                )
                return
            except BufferError:
                self._producer.poll(0.05)

    def flush(self, timeout: float = 60.0) -> dict[int, int]:
        if self._producer.flush(timeout) > 0 or self._errors:
            raise UpstreamError(f"kafka: events not delivered: {self._errors[:3]}")
        return dict(self.next_offsets)


def counted(counter_url: str, topic: str, next_offsets: Mapping[int, int]) -> bool:
    """True once the counter has materialised every produced offset."""
    try:
        status = httpx.get(f"{counter_url}/v1/status", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return False
    offsets = {
        p["partition"]: p["offset"] for p in status.get("partitions", []) if p.get("topic") == topic
    }
    return all(offsets.get(p, -1) >= n for p, n in next_offsets.items())


def blender_generation(blender_url: str) -> int | None:
    try:
        doc = httpx.get(f"{blender_url}/v1/constants", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return None
    generation = doc.get("generation")
    return generation if isinstance(generation, int) else None


def blender_samples(blender_url: str) -> tuple[float, float] | None:
    """The blender's ``cd_blender_samples_total`` (sent, dropped), None if unreadable."""
    try:
        text = httpx.get(f"{blender_url}/metrics", timeout=2.0).text
    except httpx.HTTPError:
        return None
    found = {}
    for line in text.splitlines():
        if line.startswith("cd_blender_samples_total{"):
            labels, _, value = line.rpartition(" ")
            found[labels.split('result="', 1)[1].split('"', 1)[0]] = float(value)
    if "sent" not in found:
        return None
    return found["sent"], found.get("dropped", 0.0)


def targets_document(configs: Mapping[str, PolicyConfig], loop: LoopSettings) -> TargetsDocument:
    """The scenario's targets, with gains and bounds only where the scenario overrides
    the loop's: the loop's own go to the controller process as its settings, so no
    override the operator did not ask for is left in the stack's targets."""
    policies: dict[str, Any] = {}
    for name, c in configs.items():
        targets = {t: as_interval(v).to_json() for t, v in c.targets.items()}
        entry: dict[str, Any] = {"targets": targets}
        if c.gains != loop.gains:
            entry["gains"] = {"kp": c.gains.kp, "ki": c.gains.ki, "kd": c.gains.kd}
        if c.bounds != loop.bounds:
            entry["bounds"] = {"min": c.bounds.lo, "max": c.bounds.hi}
            if c.bounds.max_step not in (None, loop.bounds.max_step):
                entry["bounds"]["max_step"] = c.bounds.max_step
        policies[name] = entry
    return validate_document(TargetsDocument, {"schema": 1, "policies": policies})


def controller_env(loop: LoopSettings) -> dict[str, str]:
    """The loop's gains, bounds and rate limit as the controller's settings (exact: repr)."""
    g, b = loop.gains, loop.bounds
    values = {"KP": g.kp, "KI": g.ki, "KD": g.kd, "U_MIN": b.lo, "U_MAX": b.hi}
    if b.max_step is not None:
        values["MAX_STEP"] = b.max_step
    return {f"CD_CONTROLLER_{name}": repr(float(v)) for name, v in values.items()}


FRESH_STACK = "`make down && make clean && make up` gives a fresh local stack"


def claim_targets(store: ZkStore, replace: bool) -> int | None:
    """The version of ``<root>/targets`` this run may overwrite (None: absent).

    Targets this run did not write belong to the operator: refused unless
    ``--replace-targets`` says to replace them all with the scenario's.
    """
    if not replace:
        current = read_targets(store)
        if current.doc.policies:
            names = ", ".join(sorted(current.doc.policies))
            raise InvalidInputError(
                "--replace-targets",
                f"{store.paths.targets} already holds targets this run did not write "
                f"(policies {names}); pass --replace-targets to replace them all with the "
                f"scenario's, or run on a fresh stack ({FRESH_STACK})",
            )
    node = store.read(store.paths.targets)
    return None if node is None else node.version
