"""Jensen–Shannon distance, base 2, in [0, 1]: the square root of the JS divergence.

``JSD = ½·KL(p‖m) + ½·KL(q‖m)`` with ``m = (p + q)/2``, in bits; the distance is ``sqrt(JSD)``. Equal to
``scipy.spatial.distance.jensenshannon(p, q, base=2)``; empty bins need no epsilon (``0·log 0 = 0``).

Like PSI it reads sampling noise as distance at small samples (expected ``sqrt((k - 1)(1/n + 1/m)/(8 ln 2))``
with no change), so its threshold is calibrated on the baseline at the window's sizes; practical floor 0.05.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from mlmon.stats.base import Draws, Measurement, NullModel, SampleInput, StatTest, active_bins, shares
from mlmon.stats.power import js_mde


def js_distance(ref_counts: np.ndarray, cur_counts: np.ndarray) -> np.ndarray | float:
    """JS distance along the last axis: a float for one pair of count vectors, an array for rows of replicates."""
    p = shares(ref_counts)
    q = shares(cur_counts)
    m = (p + q) / 2.0
    divergence = (np.sum(special.rel_entr(p, m), axis=-1) + np.sum(special.rel_entr(q, m), axis=-1)) / (
        2.0 * math.log(2.0)
    )
    value = np.sqrt(np.maximum(divergence, 0.0))  # rounding can leave -1e-17
    return float(value) if np.ndim(value) == 0 else value


def _null(ref: Draws, cur: Draws, data: SampleInput) -> np.ndarray:
    return np.asarray(js_distance(ref.counts, cur.counts))


def _noise_floor(data: SampleInput, n: float, m: float) -> float | None:
    if data.ref_counts is None or n <= 0 or m <= 0:
        return None
    df = int(np.count_nonzero(np.asarray(data.ref_counts) > 0)) - 1
    return math.sqrt(max(df, 0) * (1.0 / n + 1.0 / m) / (8.0 * math.log(2.0)))


def measure(data: SampleInput, alpha: float) -> Measurement:
    ref, cur = data.counts("jensenshannon")
    n, m = float(ref.sum()), float(cur.sum())
    statistic = float(js_distance(ref, cur)) if n > 0 and m > 0 else float("nan")
    return Measurement(statistic, None, n, m, js_mde(active_bins(ref, cur) - 1, n, m, alpha))


JENSEN_SHANNON = StatTest(
    name="jensenshannon",
    display_name="Jensen–Shannon distance (base 2)",
    kind="distance",
    feature_kinds=("numeric", "categorical", "boolean"),
    default_threshold=0.05,
    needs="counts",
    measure=measure,
    description="sqrt of the JS divergence in bits, in [0, 1]",
    null=NullModel(counts=_null, noise_floor=_noise_floor),
)
