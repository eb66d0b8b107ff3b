"""Population Stability Index: ``PSI = Σ (q_i - p_i)·ln(q_i / p_i)`` over bin shares.

``p`` are the reference shares, ``q`` the current ones. A bin empty on one side would make the logarithm
infinite, so every share is floored at :data:`EPSILON` (1e-4, i.e. 0.01 %) before the sum; the shares are not
renormalised afterwards, which keeps bins with data on both sides exact.

PSI grows with sampling noise alone: between two samples of one distribution its expected value is about
``(k - 1)·(1/n + 1/m)`` for ``k`` bins (≈ 0.25 with 20 bins and 150 values a side), more when a bin comes out
empty. So the threshold is calibrated on the baseline at the window's sizes (:mod:`mlmon.stats.calibration`);
the practical floor is 0.05 (the usual reading: < 0.1 stable, 0.1–0.2 moderate, > 0.2 significant; PSI judges
the model's output, where a moderate shift already matters).
"""

from __future__ import annotations

import numpy as np

from mlmon.stats.base import Draws, Measurement, NullModel, SampleInput, StatTest, active_bins, shares
from mlmon.stats.power import psi_mde

EPSILON = 1e-4


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, epsilon: float = EPSILON) -> np.ndarray | float:
    """PSI along the last axis: a float for one pair of count vectors, an array for rows of replicates."""
    p = np.maximum(shares(ref_counts), epsilon)
    q = np.maximum(shares(cur_counts), epsilon)
    value = np.sum((q - p) * np.log(q / p), axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def _null(ref: Draws, cur: Draws, data: SampleInput) -> np.ndarray:
    return np.asarray(psi(ref.counts, cur.counts))


def _noise_floor(data: SampleInput, n: float, m: float) -> float | None:
    if data.ref_counts is None or n <= 0 or m <= 0:
        return None
    return (int(np.count_nonzero(np.asarray(data.ref_counts) > 0)) - 1) * (1.0 / n + 1.0 / m)


def measure(data: SampleInput, alpha: float) -> Measurement:
    ref, cur = data.counts("psi")
    n, m = float(ref.sum()), float(cur.sum())
    statistic = float(psi(ref, cur)) if n > 0 and m > 0 else float("nan")
    return Measurement(statistic, None, n, m, psi_mde(active_bins(ref, cur) - 1, n, m, alpha))


PSI = StatTest(
    name="psi",
    display_name="Population Stability Index",
    kind="distance",
    feature_kinds=("numeric", "categorical", "boolean"),
    default_threshold=0.05,
    needs="counts",
    measure=measure,
    description=f"PSI on bin shares, empty bins floored at {EPSILON}",
    null=NullModel(counts=_null, scale=1.0, noise_floor=_noise_floor),
)
