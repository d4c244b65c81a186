"""``cd-simulate --live``: the same loop, driven through the real running stack.

Requests go to the blender's HTTP API, the impressions it returns go to Kafka
as events with the simulated hour's event time, the counter service counts
them, ``pid-controller run --at`` computes each window from the counter's
numbers, and the loop waits until the blender serves the new generation.
Simulated time ends at the present, so every event is inside retention.

In predictive mode (the default) the controller solves on the candidate
samples the blender published to Kafka. The blender's own sampling is random,
so the traffic tells it which requests to sample (``"sample": true``, the
in-process run's choice, :func:`traffic.sampled_rows`) and stamps them with the
simulated time (``"ts"``): both runs then solve on the same candidate lists,
and the step waits until the blender reports them delivered. A seeded sampler
in the blender would not do: requests reach it concurrently, in no fixed order.

Waiting for "counted" uses offsets, not ``complete_through``: a backfilled
hour is older than the counter's wall-clock heartbeats, so the completeness
mark says nothing about it, while "every partition's next offset has passed
the last one produced" says exactly that.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson

from pid_controller.simulator.engine import (
    Constants,
    LoopSettings,
    RunResult,
    default_bounds,
    default_gains,
    min_impressions_of,
    run,
)
from pid_controller.simulator.live_stack import (
    FRESH_STACK,
    Endpoints,
    EventSink,
    blender_generation,
    blender_samples,
    claim_targets,
    controller_env,
    counted,
    targets_document,
    wait_until,
)
from pid_controller.simulator.scenario import Scenario
from pid_controller.simulator.traffic import SimulatedTraffic, draw_chunk, sampled_rows
from pid_controller.step import PolicyConfig, PolicyCounts, PolicyStep, TypeState, TypeStep
from services.docstore import write_targets
from services.errors import CDError, InvalidInputError, UpstreamError
from services.intervals import as_interval
from services.samples import WindowSamples
from services.timebuckets import iso, last_full_window_end
from services.zk import ZkStore

log = logging.getLogger(__name__)


def _steps_from(doc: Mapping[str, Any]) -> dict[str, PolicyStep]:
    """The published diagnostics, in the shape the loop's recorder reads."""
    steps = {}
    for policy, constants in doc.get("policies", {}).items():
        diags = doc.get("diagnostics", {}).get(policy, {})
        types = {}
        for t, u in constants.items():
            d = diags.get(t, {})
            types[t] = TypeStep(
                u=u,
                state=TypeState(u=u),
                target=as_interval(d.get("target", 0.0)),
                share=d.get("share"),
                impressions=d.get("impressions", 0),
                error=d.get("error"),
                p=d.get("p", 0.0),
                i=d.get("i", 0.0),
                d=d.get("d", 0.0),
                saturated=d.get("saturated"),
                skipped=d.get("skipped"),
                rate_limited=bool(d.get("rate_limited", False)),
            )
        steps[policy] = PolicyStep(types)
    return steps


class LiveController:
    """Targets to ZooKeeper; each window: wait until counted, run the real command,
    wait until the blender serves the new generation."""

    def __init__(
        self,
        endpoints: Endpoints,
        store: ZkStore,
        sink: EventSink,
        first_window_end: int,
        interval: int,
        min_impressions: int,
        loop: LoopSettings,
        targets_version: int | None,
        timeout: float = 120.0,
        samples_flagged: Callable[[], int] = lambda: 0,
    ) -> None:
        self._samples_flagged = samples_flagged
        self._e = endpoints
        self._loop = loop
        self._targets_version = targets_version
        self._min_impressions = min_impressions
        self._store = store
        self._sink = sink
        self._next_end = first_window_end
        self._interval = interval
        self._timeout = timeout
        self._constants: Constants = {}

    def configure(self, configs: Mapping[str, PolicyConfig]) -> None:
        """Write the targets over the version this run claimed or last wrote, only."""
        document = targets_document(configs, self._loop)
        node = self._store.read(self._store.paths.targets)
        if (None if node is None else node.version) != self._targets_version:
            raise CDError(
                f"{self._store.paths.targets} changed during the live run, not by it: "
                "stopping without overwriting it"
            )
        self._targets_version = write_targets(self._store, document, node)

    def _run_controller(self, window_end: int) -> None:
        at = iso(window_end)
        env_cmd = [str(Path(sys.executable).parent / "pid-controller"), "run", "--at", at]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CD_")}
        env = {
            **inherited,
            "CD_ZK_HOSTS": self._e.zk_hosts,
            "CD_ZK_ROOT": self._e.zk_root,
            "CD_COUNTER_URLS": self._e.counter_url,
            "CD_CONTROLLER_INTERVAL_SECONDS": str(self._interval),
            "CD_CONTROLLER_MAX_WAIT_SECONDS": "0",
            "CD_CONTROLLER_MIN_IMPRESSIONS": str(self._min_impressions),
            **controller_env(self._loop),
            "CD_CONTROLLER_MODE": self._loop.controller,
            # The samples the blender published for the window (see step()).
            "CD_KAFKA_BOOTSTRAP": self._e.kafka_bootstrap,
            "CD_SAMPLES_TOPIC": self._e.samples_topic,
            # step() waited until the blender delivered them: none can come late.
            "CD_CONTROLLER_SAMPLES_GRACE_SECONDS": "1",
        }
        if self._e.zk_auth:
            env["CD_ZK_AUTH"] = self._e.zk_auth
        done = subprocess.run(
            env_cmd, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise CDError(f"pid-controller run --at {at} failed: {done.stderr.strip()}")

    def step(
        self, counts: Mapping[str, PolicyCounts], samples: WindowSamples | None
    ) -> Mapping[str, PolicyStep]:
        del samples  # the real controller reads the blender's, from Kafka
        offsets = self._sink.flush()
        wait_until(
            "the counter to count the window",
            lambda: counted(self._e.counter_url, self._sink.topic, offsets),
            self._timeout,
        )
        self._wait_for_samples()
        self._run_controller(self._next_end)
        self._next_end += self._interval
        node = self._store.read(self._store.paths.constants)
        if node is None:
            raise CDError("the controller ran but published no constants")
        doc = orjson.loads(node.data)
        generation = doc["generation"]
        wait_until(
            f"the blender to serve generation {generation}",
            lambda: (blender_generation(self._e.blender_url) or -1) >= generation,
            self._timeout,
        )
        self._constants = {p: dict(c) for p, c in doc.get("policies", {}).items()}
        return _steps_from(doc)

    def constants(self) -> Constants:
        return self._constants

    def _wait_for_samples(self) -> None:
        """Every request sent with ``"sample": true`` is in the topic (or the run fails:
        a lost sample would make the live solve differ from the in-process one)."""
        if self._loop.controller != "predictive":
            return
        wanted = self._samples_flagged()

        def delivered() -> tuple[float, float] | None:
            counts = blender_samples(self._e.blender_url)
            return counts if counts and counts[0] + counts[1] >= wanted else None

        got = wait_until(f"the blender to deliver {wanted} samples", delivered, self._timeout)
        if got[1] > 0:
            raise CDError(
                f"the blender dropped {got[1]:.0f} samples (is sampling turned off? "
                "CD_BLENDER_SAMPLE_RATE and CD_BLENDER_SAMPLES_PER_SECOND must be above 0)"
            )


class LiveTraffic(SimulatedTraffic):
    """The same draws as the in-process traffic, ranked by the real blender over HTTP;
    the impressions it returns go to Kafka stamped with the simulated time."""

    def __init__(
        self,
        scenario: Scenario,
        endpoints: Endpoints,
        sink: EventSink,
        base_epoch: int,
        concurrency: int = 8,
        hour_seconds: int = 3600,
    ) -> None:
        super().__init__(scenario, scenario.seed)
        # Real milliseconds per simulated second (window_seconds: an "hour" is a window).
        self._ms = hour_seconds / 3.6
        self._e = endpoints
        self._sink = sink
        self._base_ms = base_epoch * 1000
        self._pool = ThreadPoolExecutor(concurrency)
        self._http = httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=concurrency))
        self.samples_flagged = 0  # requests sent with "sample": true

    def close(self) -> None:
        self._pool.shutdown()
        self._http.close()

    def _blend(
        self, group: str, types: list[str], scores: list[float], sample: bool, ts: int
    ) -> list[str]:
        body = {
            "experiment_group": group,
            "limit": self._s.slots,
            # The in-process run's choice of samples, at the simulated time.
            "sample": sample,
            "ts": ts,
            "candidates": [
                {"id": f"p{j}", "content_type": t, "score": sc}
                for j, (t, sc) in enumerate(zip(types, scores, strict=True))
            ],
        }
        content = orjson.dumps(body)
        url, headers = f"{self._e.blender_url}/v1/blend", {"content-type": "application/json"}
        try:
            response = self._http.post(url, content=content, headers=headers)
        except httpx.RemoteProtocolError:
            # A keep-alive connection the server closed while idle (the loop pauses
            # between windows): the request never reached it, so sending it again
            # neither blends nor samples it twice.
            response = self._http.post(url, content=content, headers=headers)
        if response.status_code != 200:
            raise UpstreamError(f"blender answered {response.status_code}: {response.text[:200]}")
        return [r["content_type"] for r in response.json()["results"]]

    def serve(
        self, start_hour: float, seconds: int, constants: Mapping[str, Mapping[str, float]]
    ) -> dict[str, PolicyCounts]:
        counts: dict[str, dict[str, int]] = {}
        start_ms = self._base_ms + round(start_hour * 3600 * self._ms)
        for chunk_no, chunk in enumerate(self.chunks(start_hour, seconds, constants)):
            group, codes, scores = draw_chunk(chunk)
            groups = [self._groups[g] for g in group]
            sampled = set(sampled_rows(chunk).tolist())
            self.samples_flagged += len(sampled)
            stamps = [
                start_ms + int(seconds * self._ms * i) // max(1, chunk.requests)
                for i in range(chunk.requests)
            ]
            jobs = [
                self._pool.submit(
                    self._blend,
                    groups[i],
                    [self._types[c] for c in codes[i]],
                    scores[i].tolist(),
                    i in sampled,
                    stamps[i],
                )
                for i in range(chunk.requests)
            ]
            for i, job in enumerate(jobs):
                shown = job.result()
                ts = stamps[i]
                request_id = f"r{round(start_hour * 3600)}-{chunk_no}-{i}"
                for position, type_name in enumerate(shown):
                    self._sink.send(
                        request_id.encode(),
                        {
                            "ts": ts,
                            "content_type": type_name,
                            "experiment_group": groups[i],
                            "request_id": request_id,
                            "position": position,
                        },
                    )
                    per_group = counts.setdefault(groups[i], {})
                    per_group[type_name] = per_group.get(type_name, 0) + 1
        return {g: PolicyCounts(sum(c.values()), c) for g, c in counts.items()}


def simulate_live(
    scenario: Scenario,
    endpoints: Endpoints,
    *,
    on_hour: Callable[[int, int], None] | None = None,
    now: float | None = None,
    replace_targets: bool = False,
    mode: Literal["predictive", "pid"] = "predictive",
) -> RunResult:
    """Run the scenario through the real stack; simulated time ends at the present.

    Refuses a stack that already has constants, and one whose targets it did not
    write unless ``replace_targets``; writes only the scenario's targets. With
    ``window_seconds`` each scenario hour is one real window of that length: events
    are stamped, and ``pid-controller run`` steps, in windows that short.
    """
    hours, hour = scenario.hours, scenario.hour_seconds
    if hours * hour > 190 * 3600:
        raise InvalidInputError("--hours", "a live run must fit in the counter's retention (190 h)")
    base = last_full_window_end(int(now or time.time()), hour) - hours * hour
    e = endpoints
    store = ZkStore(e.zk_hosts, e.zk_root, auth=e.zk_auth, timeout=e.zk_timeout).start()
    try:
        _require_fresh(store, endpoints.zk_root)
        claimed = claim_targets(store, replace_targets)
        sink = EventSink(endpoints.kafka_bootstrap, endpoints.topic)
        traffic = LiveTraffic(scenario, endpoints, sink, base, hour_seconds=hour)
        try:
            loop = LoopSettings(hours, mode, default_gains(), default_bounds())
            interval = scenario.interval_seconds * hour // 3600  # the controller's, in real s
            controller = LiveController(
                endpoints,
                store,
                sink,
                base + interval,
                interval,
                min_impressions_of(scenario),
                loop,
                claimed,
                samples_flagged=lambda: traffic.samples_flagged,
            )
            return run(scenario, traffic, controller, loop, on_hour)
        finally:
            traffic.close()
    finally:
        store.stop()


def _require_fresh(store: ZkStore, zk_root: str) -> None:
    if store.read(store.paths.constants) is not None:
        raise InvalidInputError(
            "CD_ZK_ROOT",
            f"{zk_root} already has constants: a live run needs a "
            f"fresh stack (its windows would mix with earlier runs'); {FRESH_STACK}",
        )


def feed(
    scenario: Scenario,
    endpoints: Endpoints,
    stop: threading.Event,
    *,
    slice_seconds: int = 10,
    clock: Callable[[], float] = time.time,
) -> int:
    """Real-time traffic until ``stop``: every slice, that slice's requests are ranked by
    the blender and their impressions written to Kafka stamped with the wall clock, as a
    front end would. The running controller closes the loop. Returns requests sent."""
    sink = EventSink(endpoints.kafka_bootstrap, endpoints.topic)
    traffic = LiveTraffic(scenario, endpoints, sink, 0)
    sent = 0
    try:
        while not stop.is_set():
            start = clock()
            counts = traffic.serve(start / 3600, slice_seconds, {})
            sink.flush()
            sent += round(scenario.requests_per_hour * slice_seconds / 3600)
            shown = sum(c.total for c in counts.values())
            log.info("fed %d impressions (%d requests so far)", shown, sent)
            stop.wait(max(0.0, start + slice_seconds - clock()))
    finally:
        traffic.close()
    return sent
