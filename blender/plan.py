"""What every blend request of one policy and score space shares, worked out once
per constants snapshot instead of once per request.

A request only needs, per candidate, its score combined with its type's term
(:func:`blender.blend.terms_for`). A :class:`Plan` keeps those terms by type name
for every name it has seen valid, so the blend is one list comprehension over the
candidates that also checks their types: a name in the table was valid, and one
that is not sends the request down the slow path (check the names, which refuses
a bad one with the usual 422, then learn the new ones). Profiling showed the
columns, the distinct names and the per-request offset tables of the general
path costing more than the blend itself.

:class:`Plans` swaps all plans at once when the constants snapshot changes, so a
request is blended, and answered, with one snapshot's policy, generation and
constants, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from blender.blend import ScoreSpace, saturate, terms_for
from blender.constants_source import Snapshot
from blender.request import BlendRequest, Candidate, check_types

# Type names a plan learns (a feed has a handful): bounded, so that a client sending
# ever new names cannot grow it; past the bound a request blends with a copy.
MAX_NAMES = 1024
# Experiment groups remembered per snapshot (each maps to a shared policy plan).
MAX_GROUPS = 1024


def _combine(terms: dict[str, float], candidates: list[Candidate], log: bool) -> list[float]:
    """Raises KeyError for a type not in ``terms``."""
    # Comprehensions, not map(attrgetter): CPython specialises their attribute reads.
    if log:
        return [c.score + terms[c.content_type] for c in candidates]
    return [c.score * terms[c.content_type] for c in candidates]


@dataclass(slots=True)
class Plan:
    """One policy in one score space, under one snapshot."""

    policy: str
    generation: int | None
    constants: Mapping[str, float]
    space: ScoreSpace
    terms: dict[str, float] = field(default_factory=dict)  # valid name -> its term

    def blend(self, request: BlendRequest) -> list[float]:
        """The blended scores; refuses a request with a bad content type (422)."""
        candidates = request.candidates
        log = self.space == "log"
        try:
            return saturate(_combine(self.terms, candidates, log))
        except KeyError:
            pass
        check_types(request)
        new = {
            name: float(self.constants.get(name, 0.0))
            for name in request.type_names
            if name not in self.terms
        }
        terms = terms_for(new, self.space)
        if len(self.terms) + len(terms) <= MAX_NAMES:
            self.terms.update(terms)
            terms = self.terms
        else:
            terms = {**self.terms, **terms}
        return saturate(_combine(terms, candidates, log))

    def constant(self, content_type: str) -> float:
        """The constant added for ``content_type`` (``explain``)."""
        return float(self.constants.get(content_type, 0.0))


class Plans:
    """The plans of the current snapshot, by experiment group and score space."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot
        self._of: Snapshot | None = None
        self._by_group: dict[tuple[str | None, ScoreSpace], Plan] = {}
        self._by_policy: dict[tuple[str, ScoreSpace], Plan] = {}

    def current(self) -> Plans:
        """These plans, swapped first if the snapshot changed; read once per request, so
        that one request sees one snapshot whatever the ZooKeeper watch does meanwhile."""
        snap = self._snapshot()
        if snap is not self._of:
            self._of = snap
            self._by_group = {}
            self._by_policy = {}
        return self

    def plan(self, group: str | None, space: ScoreSpace) -> Plan:
        found = self._by_group.get((group, space))
        if found is not None:
            return found
        snap = self._of
        assert snap is not None, "current() first"
        policy = snap.policy_for(group)
        plan = self._by_policy.get((policy, space))
        if plan is None:
            plan = Plan(policy, snap.generation, snap.constants_for(policy), space)
            self._by_policy[(policy, space)] = plan
        if len(self._by_group) < MAX_GROUPS:
            self._by_group[(group, space)] = plan
        return plan

    def blend(self, request: BlendRequest) -> None:
        """:func:`blender.request.parse_blend_request`'s type check, blending on the way."""
        request.blended = self.plan(request.group, request.space).blend(request)
