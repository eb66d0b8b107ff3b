"""L1 / D1 distance between bin shares: ``d1 = Σ |p_i - q_i|``, in [0, 2] (twice the total variation).

It reads as "how much probability mass moved", counted on both sides. Its threshold is calibrated on the baseline
at the window's sizes (expected ``sqrt(2/π)·Σ sqrt(p_i(1 - p_i)(1/n + 1/m))`` with no change); practical floor 0.1.
"""

from __future__ import annotations

import math

import numpy as np

from mlmon.stats.base import Draws, Measurement, NullModel, SampleInput, StatTest, active_bins, shares
from mlmon.stats.power import l1_mde


def d1(ref_counts: np.ndarray, cur_counts: np.ndarray) -> np.ndarray | float:
    value = np.sum(np.abs(shares(ref_counts) - shares(cur_counts)), axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def _null(ref: Draws, cur: Draws, data: SampleInput) -> np.ndarray:
    return np.asarray(d1(ref.counts, cur.counts))


def _noise_floor(data: SampleInput, n: float, m: float) -> float | None:
    if data.ref_counts is None or n <= 0 or m <= 0:
        return None
    p = shares(np.asarray(data.ref_counts, dtype=float))
    return math.sqrt(2.0 / math.pi) * float(np.sum(np.sqrt(p * (1.0 - p) * (1.0 / n + 1.0 / m))))


def measure(data: SampleInput, alpha: float) -> Measurement:
    ref, cur = data.counts("l1")
    n, m = float(ref.sum()), float(cur.sum())
    statistic = float(d1(ref, cur)) if n > 0 and m > 0 else float("nan")
    return Measurement(statistic, None, n, m, l1_mde(active_bins(ref, cur) - 1, n, m, alpha))


L1 = StatTest(
    name="l1",
    display_name="L1 / D1 distance",
    kind="distance",
    feature_kinds=("numeric", "categorical", "boolean"),
    default_threshold=0.1,
    needs="counts",
    measure=measure,
    description="sum of absolute differences of bin shares, in [0, 2]",
    null=NullModel(counts=_null, noise_floor=_noise_floor),
)
