"""Simulated requests: draw candidates, blend them, count the impressions.

Everything is vectorised over a chunk of requests at once, and chunks are
bounded (``CHUNK_REQUESTS``) so memory stays flat however many requests an
hour has. The blend itself is :mod:`blender.blend`'s, not a copy: the
simulator must show what the blender does.

Each chunk draws from its own generator, seeded by (scenario seed, second of
simulated time, chunk number). That makes a run reproducible *and* independent
of how chunks are spread over worker processes, and gives ``--compare`` the
same requests for both controllers wherever their constants agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from blender.blend import apply_constants, offsets_for, select_top
from pid_controller.simulator.scenario import Scenario
from pid_controller.step import PolicyCounts
from services.names import policy_for_group
from services.samples import SampledRequest, WindowSamples

CHUNK_REQUESTS = 2000
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
CountArray = npt.NDArray[np.int64]


def type_means(scenario: Scenario, hour: float) -> FloatArray:
    """Each type's score mean at ``hour``: base, the diurnal swing, and shocks so far."""
    swing = math.sin(2.0 * math.pi * hour / 24.0)
    means = {name: spec.score_mean + spec.diurnal * swing for name, spec in scenario.types.items()}
    for shock in scenario.shocks:
        if shock.at_hour <= hour:
            means[shock.type] += shock.score_mean_delta
    return np.array([means[t] for t in scenario.type_names], dtype=np.float64)


def type_stds(scenario: Scenario, hour: float) -> FloatArray:
    """Each type's score spread at ``hour``: base times the spread factors of shocks so far."""
    stds = {name: spec.score_std for name, spec in scenario.types.items()}
    for shock in scenario.shocks:
        if shock.at_hour <= hour:
            stds[shock.type] *= shock.score_std_factor
    return np.array([stds[t] for t in scenario.type_names], dtype=np.float64)


def _cuts(weights: list[float]) -> FloatArray:
    """Inner cut points for inverse-CDF sampling (the last bin takes the rest)."""
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    cut: FloatArray = cum[:-1] / cum[-1]
    return cut


def _bin(u: FloatArray, cuts: FloatArray) -> IntArray:
    """``searchsorted(cuts, u, side="right")``, but a few compares are ~3x faster
    than a binary search when there are only a handful of cut points."""
    codes = np.zeros(u.shape, dtype=np.intp)
    for c in cuts:
        codes += u >= c
    return codes


@dataclass(frozen=True)
class Chunk:
    """Everything one chunk needs; small and picklable, so it can go to a worker."""

    seed: tuple[int, ...]
    requests: int
    candidates: int
    slots: int
    group_cuts: FloatArray
    type_cuts: FloatArray
    means: FloatArray
    std: FloatArray
    offsets: FloatArray  # (groups, types)
    # Sampling (contract section 10) and view depth (section 12). Each draws from
    # its own generator, so turning them on changes no candidate and no ranking.
    sample_rate: float = 0.0
    view_mean: float | None = None
    ts_ms: int = 0
    type_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()  # the policy each group's requests are blended under


def draw_chunk(c: Chunk) -> tuple[IntArray, IntArray, FloatArray]:
    """One chunk's requests: group per request, type and score per candidate.

    Shared by the in-process blend and ``--live`` (which sends the same draws
    to the real blender), so both runs see identical requests.
    """
    rng = np.random.default_rng(list(c.seed))
    group = _bin(rng.random(c.requests), c.group_cuts)
    codes = _bin(rng.random((c.requests, c.candidates)), c.type_cuts)
    scores = rng.standard_normal(codes.shape)
    scores *= np.take(c.std, codes)
    scores += np.take(c.means, codes)
    return group, codes, scores


def blend_chunk(c: Chunk) -> tuple[CountArray, list[SampledRequest]]:
    """Impressions per (group, type) of one chunk of requests, and the sampled requests."""
    n_types = c.offsets.shape[1]
    group, codes, scores = draw_chunk(c)
    # Group and type folded into one code, so one call applies every group's
    # own constants: the offsets table is just (groups x types) flattened.
    combined: IntArray = group[:, None] * n_types + codes
    blended = apply_constants(scores, combined, c.offsets.ravel(), "log")
    if c.view_mean is None:
        seen = combined[select_top(blended, c.slots)]
    else:
        seen = _viewed(c, combined, blended)
    hits = np.bincount(seen, minlength=c.offsets.size)
    return hits.reshape(c.offsets.shape).astype(np.int64), _sample(c, group, codes, scores)


def _viewed(c: Chunk, combined: IntArray, blended: FloatArray) -> IntArray:
    """Codes of the results users saw: each request's first ``min(slots, 1 + Poisson(M - 1))``."""
    assert c.view_mean is not None
    rng = np.random.default_rng([*c.seed, 2])
    depth = np.minimum(c.slots, 1 + rng.poisson(c.view_mean - 1.0, c.requests))
    order = np.argsort(-blended, axis=1, kind="stable")[:, : c.slots]
    visible = np.arange(order.shape[1])[None, :] < depth[:, None]
    viewed: IntArray = np.take_along_axis(combined, order, axis=1)[visible]
    return viewed


def sampled_rows(c: Chunk) -> IntArray:
    """Which of the chunk's requests are sampled: each with probability ``sample_rate``.

    ``--live`` sends the same choice to the real blender (``"sample": true``) so both
    runs solve on the same candidate lists.
    """
    if c.sample_rate <= 0:
        return np.empty(0, dtype=np.intp)
    rng = np.random.default_rng([*c.seed, 1])
    rows: IntArray = np.flatnonzero(rng.random(c.requests) < c.sample_rate)
    return rows


def _sample(c: Chunk, group: IntArray, codes: IntArray, scores: FloatArray) -> list[SampledRequest]:
    """The blender's sampling: each request with probability ``sample_rate``, raw scores."""
    names = np.array(c.type_names, dtype=object)
    return [
        SampledRequest(
            ts_ms=c.ts_ms,
            experiment_group=c.group_names[group[i]],
            policy=c.policies[group[i]],
            score_space="log",
            slots=c.slots,
            types=tuple(names[codes[i]].tolist()),
            scores=scores[i].copy(),
        )
        for i in sampled_rows(c)
    ]


class SimulatedTraffic:
    """Requests drawn from a scenario's distributions, blended in-process.

    ``executor`` (optional) spreads a slice's chunks over worker processes;
    results do not depend on it.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        executor: Executor | None = None,
        chunk: int = CHUNK_REQUESTS,
    ) -> None:
        self._s = scenario
        self._seed = seed
        self._executor = executor
        self._chunk = chunk
        self._types = scenario.type_names
        self._groups = scenario.group_names
        self._type_cuts = _cuts([t.mix for t in scenario.types.values()])
        self._group_cuts = _cuts(list(scenario.groups.values()))
        self._samples = WindowSamples()

    def _offsets(self, constants: Mapping[str, Mapping[str, float]]) -> FloatArray:
        # One row per group: each group follows its policy's constants, exactly
        # as the blender resolves a request's experiment group.
        rows = [
            offsets_for(self._types, constants.get(policy_for_group(g, constants), {}))
            for g in self._groups
        ]
        return np.stack(rows)

    def chunks(
        self, start_hour: float, seconds: int, constants: Mapping[str, Mapping[str, float]]
    ) -> list[Chunk]:
        """The chunks of requests of ``seconds`` from ``start_hour`` on."""
        requests = round(self._s.requests_per_hour * seconds / 3600)
        second = round(start_hour * 3600)
        means, offsets = type_means(self._s, start_hour), self._offsets(constants)
        policies = tuple(policy_for_group(g, constants) for g in self._groups)
        depth = self._s.view_depth
        return [
            Chunk(
                seed=(self._seed, second, i),
                requests=min(self._chunk, requests - first),
                candidates=self._s.candidates_per_request,
                slots=self._s.slots,
                group_cuts=self._group_cuts,
                type_cuts=self._type_cuts,
                means=means,
                std=type_stds(self._s, start_hour),
                offsets=offsets,
                sample_rate=self._s.sample_rate,
                view_mean=None if depth is None else depth.mean,
                ts_ms=second * 1000,
                type_names=self._types,
                group_names=self._groups,
                policies=policies,
            )
            for i, first in enumerate(range(0, requests, self._chunk))
        ]

    def serve(
        self, start_hour: float, seconds: int, constants: Mapping[str, Mapping[str, float]]
    ) -> dict[str, PolicyCounts]:
        """Blend the requests of ``seconds`` from ``start_hour`` on; impressions per group."""
        chunks = self.chunks(start_hour, seconds, constants)
        mapped = (
            self._executor.map(blend_chunk, chunks) if self._executor else map(blend_chunk, chunks)
        )
        counts = np.zeros((len(self._groups), len(self._types)), dtype=np.int64)
        for part, samples in mapped:
            counts += part
            for sample in samples:
                self._samples.by_group.setdefault(sample.experiment_group, []).append(sample)
        return {
            g: PolicyCounts(int(row.sum()), dict(zip(self._types, map(int, row), strict=True)))
            for g, row in zip(self._groups, counts, strict=True)
            if row.sum() > 0
        }

    def take_samples(self) -> WindowSamples:
        """The samples drawn since the last call (a window's, when the loop calls it)."""
        taken, self._samples = self._samples, WindowSamples()
        return taken
