"""How deep users look: the share of a request's slots that become impressions. Pure.

The sample holds whole ranked lists, but an impression is only counted for a
slot a user actually saw. Users who stop scrolling see the top of the list,
and the top is where a boosted type sits: so the impression share of a type
is not its share of all ``slots``, and the gap moves with the constant
(a type pushed down leaves the seen part of the list faster than the whole
list). A bias that depends on the constant is what makes feedback overshoot.

So the model is given the depth users see, as a fraction of each request's
slots, fitted to the window's measured impressions: among a grid of depths,
the one whose predicted shares (at the constants that were in force) make
the measured counts most likely. The full list wins unless the counts say
otherwise by a clear margin, so a feed whose users see every slot is modelled
exactly as before. What one depth cannot describe (a spread of depths) is
left to the feedback's bias, which is then small and nearly flat in the
constant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from pid_controller.model import predicted_shares
from pid_controller.sample_model import SampleModel

FULL = 1.0
# Log-likelihood (nats) another depth must gain over the one believed to be taken:
# twice that is a likelihood-ratio statistic of 16, far beyond chance for one parameter.
MARGIN = 8.0
MAX_GRID = 24
# Shallower than this, the sample's few remaining slots make the shares too noisy to
# tell a depth from chance.
MIN_FRACTION = 0.25
MIN_TYPES = 3
SHARE_FLOOR = 1e-9


def with_depth(sample: SampleModel, fraction: float) -> SampleModel:
    """The sample as users see it: each request's first ``fraction`` of its slots (at least 1)."""
    if fraction >= FULL or sample.requests == 0:
        return sample
    seen = np.maximum(1, np.rint(sample.slots * fraction)).astype(np.int64)
    return replace(sample, slots=np.minimum(sample.slots, seen))


def grid(sample: SampleModel) -> list[float]:
    """Candidate fractions: one per whole slot of a typical request, at most ``MAX_GRID``."""
    if sample.requests == 0:
        return [FULL]
    typical = max(1, int(np.median(sample.slots)))
    steps = min(typical, MAX_GRID)
    return [k / steps for k in range(1, steps + 1) if k / steps >= MIN_FRACTION]


def log_likelihood(shares: Mapping[str, float], counts: Mapping[str, int]) -> float:
    """Multinomial log-likelihood of the counts under the predicted shares (up to a constant)."""
    total = sum(shares.get(t, 0.0) for t in counts)
    if total <= 0:
        return -math.inf
    return math.fsum(
        n * math.log(max(SHARE_FLOOR, shares.get(t, 0.0) / total)) for t, n in counts.items() if n
    )


def evidence_scale(sample: SampleModel, impressions: int) -> float:
    """How much of the counts' likelihood is evidence: the predicted shares come
    from a sample, so the comparison is no sharper than the smaller of the two
    (the harmonic combination of impressions and sampled slots)."""
    slots = sample.total_slots
    if impressions <= 0 or slots <= 0:
        return 0.0
    return 1.0 / (1.0 + impressions / slots)


def fit(
    sample: SampleModel,
    in_force: Mapping[str, float],
    counts: Mapping[str, int],
    current: float = FULL,
) -> float:
    """The seen fraction of the slots that best explains ``counts``.

    ``current`` (what was believed so far; the full list at first) stays
    unless another depth explains the counts better by ``MARGIN``. Only types
    the sample knows count: an impression of a type the sample never saw says
    nothing about depth. With two types the shares have one degree of freedom,
    which a type's bias explains as well as a depth does, so a depth is fitted
    only from three types on.
    """
    known = {t: n for t, n in counts.items() if sample.index(t) is not None and n > 0}
    if len(known) < MIN_TYPES or sample.total_slots == 0:
        return current
    scale = evidence_scale(sample, sum(known.values()))

    def score(f: float) -> float:
        return scale * log_likelihood(predicted_shares(with_depth(sample, f), in_force), known)

    scored = {f: score(f) for f in grid(sample)}
    best = max(scored, key=lambda f: (scored[f], f))
    believed = scored[current] if current in scored else score(current)
    return best if scored[best] > believed + MARGIN else current
