"""The constants document a blender serves, as gauges per policy and type (contract section 13).

Built at scrape time from the current snapshot, like the generation and age gauges:
never stale, and the request path never touches them. A sample is exported only for
what the document holds: no diagnostics, no share; no ``reachable``, no reachable range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from blender.constants_source import Snapshot
from services.documents import ConstantsDocument, Diagnostic

LABELS = ["policy", "type"]
SOURCES = ("zookeeper", "cache", "none")

FAMILIES = {
    "cd_constant": "Normalization constant served, added to the log score",
    "cd_share": "Share of the policy's impressions in the last computed window",
    "cd_target": "Target share (a point target)",
    "cd_target_min": "Lower bound of a range target",
    "cd_target_max": "Upper bound of a range target",
    "cd_saturated": "1 while the constant sits at a bound and the error keeps its sign, else 0",
    "cd_reachable_low": "Lowest share the type can reach within the bounds (predictive mode)",
    "cd_reachable_high": "Highest share the type can reach within the bounds (predictive mode)",
}


def target_samples(target: Any) -> dict[str, float]:
    """A point target is one number; a range target (section 11) gives its bounds.

    A range is read as an object or mapping with optional ``min`` / ``max``: the shape the
    range-target work gives a diagnostic's ``target``. A missing bound exports no sample.
    """
    if isinstance(target, int | float):
        return {"cd_target": float(target)}
    bounds = {
        side: target.get(side) if isinstance(target, Mapping) else getattr(target, side, None)
        for side in ("min", "max")
    }
    return {f"cd_target_{side}": float(v) for side, v in bounds.items() if v is not None}


def reachable_samples(diag: Diagnostic) -> dict[str, float]:
    reachable = getattr(diag, "reachable", None)
    if reachable is None:
        return {}
    low, high = reachable
    return {"cd_reachable_low": float(low), "cd_reachable_high": float(high)}


def type_samples(constant: float, diag: Diagnostic | None) -> dict[str, float]:
    samples = {"cd_constant": float(constant)}
    if diag is None:
        return samples
    if diag.share is not None:
        samples["cd_share"] = float(diag.share)
    samples.update(target_samples(diag.target))
    samples["cd_saturated"] = 1.0 if diag.saturated else 0.0
    samples.update(reachable_samples(diag))
    return samples


def document_samples(doc: ConstantsDocument) -> Iterator[tuple[str, str, str, float]]:
    """``(metric, policy, type, value)`` for every policy and type the document holds."""
    for policy, constants in sorted(doc.policies.items()):
        diags = doc.diagnostics.get(policy, {})
        for type_name, constant in sorted(constants.items()):
            for name, value in type_samples(constant, diags.get(type_name)).items():
                yield name, policy, type_name, value


class DocumentCollector(Collector):
    def __init__(
        self, snapshot: Callable[[], Snapshot], connected: Callable[[], bool | None]
    ) -> None:
        self._snapshot = snapshot
        self._connected = connected

    def collect(self) -> list[Metric]:
        snap = self._snapshot()
        families = {
            name: GaugeMetricFamily(name, doc, labels=LABELS) for name, doc in FAMILIES.items()
        }
        if snap.doc is not None:
            for name, policy, type_name, value in document_samples(snap.doc):
                families[name].add_metric([policy, type_name], value)
        return [*families.values(), *self._serving(snap)]

    def _serving(self, snap: Snapshot) -> list[Metric]:
        source = GaugeMetricFamily(
            "cd_blender_constants_source",
            "1 for where the constants in use came from: zookeeper, cache (the local "
            "file: ZooKeeper not reached since start) or none",
            labels=["source"],
        )
        for name in SOURCES:
            source.add_metric([name], 1.0 if snap.source == name else 0.0)
        families: list[Metric] = [source]
        connected = self._connected()
        if connected is not None:
            families.append(
                GaugeMetricFamily(
                    "cd_blender_zookeeper_connected",
                    "1 while the blender's ZooKeeper session is connected",
                    value=1.0 if connected else 0.0,
                )
            )
        complete = None if snap.doc is None else getattr(snap.doc, "counts_complete", None)
        if complete is not None:
            families.append(
                GaugeMetricFamily(
                    "cd_constants_counts_complete",
                    "0 when the served constants were computed on incomplete counts",
                    value=1.0 if complete else 0.0,
                )
            )
        return families
