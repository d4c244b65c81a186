"""The predictive law's knobs, shared by the law and its filter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PredictiveSettings:
    """The law's knobs; defaults chosen with ``cd-simulate`` over the shipped scenarios."""

    min_samples: int = 50
    default_slots: int = 25
    sample_cap: int = 5000
    min_impressions: int = 1000
    bias_gain: float = 1.0
    max_bias: float = 2.0
    level_noise: float = 0.005  # how far the right constant may wander in a window (log units)
    trend_noise: float = 0.015  # how fast the trend may turn (a daily swing's turns)
    # The trend's uncertainty when the filter starts for the first time, and at a restart.
    first_trend: float = 0.05
    trend_start: float = 0.01
    gate: float = 3.0
    spread_gain: float = 0.1
    depth_gain: float = 0.5
