"""What proposed targets would do, from the last window's samples (contract section 10).

``cdctl targets preview`` and the warning of ``cdctl targets set`` share this:
the proposed targets merged into the policy's current ones (as ``set`` would
write them), the policy's samples of the last full window (its own groups',
or the default policy's when it has none yet, as the controller solves a new
policy), and the predictive model's solve on them, with what the controller
has learned of the policy (how deep its users look, each type's remaining bias:
:mod:`pid_controller.learned`), so the preview predicts the shares that will be
measured, as the controller's own solve does. Nothing here writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from pid_controller import learned, model, sample_model
from pid_controller.predictive import interval, samples_by_policy
from pid_controller.samples_source import SamplesSource
from pid_controller.step import Bounds, resolve_bounds
from services.documents import TargetsDocument, validate_document
from services.local.process import port_open
from services.names import DEFAULT_POLICY
from services.samples import WindowSamples
from services.settings import ControllerSettings
from services.target_edits import set_targets
from services.timebuckets import iso, last_full_window_end

Interval = tuple[float, float]


@dataclass(frozen=True)
class Preview:
    policy: str
    window: tuple[int, int]
    samples_of: str  # the policy whose samples were solved on
    targets: dict[str, Interval]
    bounds: Interval
    solution: model.Solution
    learned: learned.Learned

    def out_of_range(self) -> list[str]:
        """One sentence per targeted type its bounds cannot bring to its target."""
        lines = []
        for name, (lo, hi) in sorted(self.targets.items()):
            if not self.solution.saturated.get(name):
                continue
            low, high = self.solution.reachable[name]
            lines.append(
                f"{name} reachable {low:.1%} to {high:.1%} with bounds "
                f"{_bounds(self.bounds)}; target {_target(lo, hi)}"
            )
        return lines


def merged_targets(doc: TargetsDocument, policy: str, shares: Mapping[str, Any]) -> TargetsDocument:
    """The targets document ``cdctl targets set`` would write (validated, not written)."""
    data = doc.model_dump(mode="json", by_alias=True)
    set_targets(policy, dict(shares), {})(data)
    return validate_document(TargetsDocument, data)


def preview(
    doc: TargetsDocument,
    policy: str,
    window: WindowSamples,
    span: tuple[int, int],
    settings: ControllerSettings,
    known: learned.Learned | None = None,
) -> Preview:
    """Solve ``policy``'s targets in ``doc`` on ``window`` (the samples of ``span``),
    with what the controller has learned of the policy (``known``; none: a new policy)."""
    entry = doc.policies[policy]
    # As the controller resolves them: each bound the policy sets, else the setting.
    resolved = resolve_bounds(
        entry.bounds, Bounds(settings.controller_u_min, settings.controller_u_max)
    )
    bounds = (resolved.lo, resolved.hi)
    by_policy = samples_by_policy(window, doc.policies, settings.controller_sample_cap)
    samples_of = policy if by_policy.get(policy) else DEFAULT_POLICY
    samples = by_policy.get(samples_of, [])
    targets = {t: interval(band) for t, band in entry.intervals().items()}
    prepared = sample_model.prepare(samples, settings.controller_default_slots, targets)
    known = known or learned.Learned()
    solution = learned.solve(prepared, targets, bounds, known)
    return Preview(policy, span, samples_of, targets, bounds, solution, known)


def last_window(
    settings: ControllerSettings, clock: Callable[[], float] = time.time
) -> tuple[int, int]:
    end = last_full_window_end(int(clock()), settings.controller_interval_seconds)
    return end - settings.controller_interval_seconds, end


def read_window(
    settings: ControllerSettings, span: tuple[int, int], timeout: float
) -> WindowSamples:
    """The window's samples; :class:`SamplesUnavailableError` when they cannot be read."""
    source = SamplesSource(
        settings.kafka_bootstrap,
        settings.samples_topic,
        max_per_group=settings.controller_sample_cap,
        grace_seconds=settings.controller_samples_grace_seconds,
        timeout=timeout,
    )
    return source(*span)


def broker_reachable(bootstrap: str) -> bool:
    """Whether any bootstrap address accepts a connection (librdkafka would retry a
    dead one until its deadline; ``targets set`` must not wait that long to say so)."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        if port.isdigit() and port_open(host or "localhost", int(port), timeout=0.5):
            return True
    return False


def as_json(p: Preview) -> dict[str, Any]:
    s = p.solution
    return {
        "policy": p.policy,
        "window": {"start": iso(p.window[0]), "end": iso(p.window[1])},
        "samples": s.samples,
        "samples_of": p.samples_of,
        "bounds": list(p.bounds),
        "targets": {t: list(v) for t, v in p.targets.items()},
        "constants": s.constants,
        "predicted_share": s.predicted,
        "reachable": {t: list(v) for t, v in s.reachable.items()},
        "cost": s.cost,
        "out_of_range": p.out_of_range(),
        "seen_fraction": p.learned.depth,
        "bias": dict(p.learned.bias),
    }


def table(p: Preview) -> Table:
    s = p.solution
    title = (
        f"Preview of {p.policy}: {s.samples} sampled requests of the window "
        f"{iso(p.window[0])} to {iso(p.window[1])}"
        + ("" if p.samples_of == p.policy else f" (of {p.samples_of}: {p.policy} has none yet)")
    )
    out = Table(title=title, title_justify="left")
    for col in ("type", "target", "predicted share", "reachable", "constant"):
        out.add_column(col)
    for name in sorted(set(s.predicted) | set(p.targets)):
        target = p.targets.get(name)
        reach = s.reachable.get(name)
        out.add_row(
            name,
            "-" if target is None else _target(*target),
            f"{s.predicted.get(name, 0.0):.2%}",
            "-" if reach is None else f"{reach[0]:.1%} to {reach[1]:.1%}",
            "-" if name not in s.constants else f"{s.constants[name]:+.3f}",
        )
    out.caption = (
        f"cost: {s.cost:.2%} of the expected engagement of the shown slots (against no constants)"
        + _learned(p.learned)
    )
    return out


def _learned(known: learned.Learned) -> str:
    if known == learned.Learned():
        return ""
    return f"; shares as measured: users see {known.depth:.0%} of the slots" + (
        "" if not known.bias else ", and each type's bias learned by the controller"
    )


def _target(lo: float, hi: float) -> str:
    return f"{lo:.1%}" if lo == hi else f"{lo:.1%} to {hi:.1%}"


def _bounds(bounds: Interval) -> str:
    lo, hi = bounds
    return f"±{hi:g}" if lo == -hi else f"[{lo:g}, {hi:g}]"
