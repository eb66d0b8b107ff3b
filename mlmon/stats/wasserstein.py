"""Wasserstein-1 (earth mover's) distance normalised by the reference standard deviation.

Dividing by ``std(ref)`` makes the distance unit-free: 0.1 means "mass moved by a tenth of a standard
deviation on average", whatever the feature's unit.

* ``wasserstein`` — raw values: ``scipy.stats.wasserstein_distance(ref, cur) / std(ref)``. NaN are dropped;
  ±inf are replaced by the most extreme finite value of the two samples (a distance to infinity says
  nothing; :mod:`mlmon.stats.binning` counts them separately as non-finite).
* ``wasserstein_binned`` — from counts and the baseline's interior edges: the integral of
  ``|CDF_ref - CDF_cur|`` over the bins, where mass is spread uniformly inside each bin and the two open
  outer bins are closed at the baseline min and max. This is the exact W1 distance between the two
  piecewise-uniform histograms; it differs from the raw-value distance by at most one bin width where the
  shapes differ inside a bin, and it cannot see mass beyond the baseline min/max (a value 1000× too
  large counts as sitting at the baseline max — still a large distance, but a lower bound).

A constant baseline has ``std = 0``; the normaliser is then floored at ``1e-3·max(|min|, |max|, 1)`` so
that any change reads as a large distance and no change reads as 0.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from mlmon.errors import InvalidInput
from mlmon.stats import power
from mlmon.stats.base import StatTest, TestInput, TestResult, as_count, passed, shares


def normaliser(std: float, ref_min: float | None = None, ref_max: float | None = None) -> float:
    if np.isfinite(std) and std > 0:
        return float(std)
    scale = max(abs(ref_min or 0.0), abs(ref_max or 0.0), 1.0)
    return 1e-3 * scale


def binned_distance(
    ref_counts: np.ndarray, cur_counts: np.ndarray, edges: np.ndarray, ref_min: float, ref_max: float
) -> float:
    """Un-normalised W1 distance between two histograms on ``[ref_min, e_1, …, e_{k-1}, ref_max]``."""
    edges = np.asarray(edges, dtype=float)
    if edges.size == 0:
        return 0.0
    lo = min(ref_min, float(edges[0]))
    hi = max(ref_max, float(edges[-1]))
    bounds = np.concatenate([[lo], edges, [hi]])
    widths = np.diff(bounds)
    gap = np.concatenate([[0.0], np.cumsum(shares(ref_counts) - shares(cur_counts))])
    gap[-1] = 0.0  # both CDFs reach 1 at the top (kills rounding residue)
    a, b = np.abs(gap[:-1]), np.abs(gap[1:])
    same_sign = gap[:-1] * gap[1:] >= 0
    total = a + b
    crossing = np.divide(a**2 + b**2, 2.0 * total, out=np.zeros_like(total), where=total > 0)
    return float(np.sum(widths * np.where(same_sign, total / 2.0, crossing)))


def _finite(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    values = values[~np.isnan(values)]
    return np.clip(values, lo, hi) if values.size else values


def _result(name: str, statistic: float, n: float, m: float, threshold: float, alpha: float) -> TestResult:
    return TestResult(
        test=name,
        statistic=statistic,
        p_value=None,
        threshold=threshold,
        n_ref=as_count(n),
        n_cur=as_count(m),
        mde=power.location_shift_mde(n, m, alpha),
        effect_passed=passed("distance", statistic, None, threshold),
    )


def run_raw(data: TestInput, threshold: float, alpha: float) -> TestResult:
    ref, cur = data.values("wasserstein")
    pooled = np.concatenate([ref[np.isfinite(ref)], cur[np.isfinite(cur)]])
    if pooled.size == 0:
        return _result("wasserstein", float("nan"), 0, 0, threshold, alpha)
    ref = _finite(ref, float(pooled.min()), float(pooled.max()))
    cur = _finite(cur, float(pooled.min()), float(pooled.max()))
    if ref.size == 0 or cur.size == 0:
        return _result("wasserstein", float("nan"), ref.size, cur.size, threshold, alpha)
    std = data.ref_std if data.ref_std is not None else float(np.std(ref))
    scale = normaliser(std, data.ref_min, data.ref_max)
    statistic = float(stats.wasserstein_distance(ref, cur)) / scale
    return _result("wasserstein", statistic, ref.size, cur.size, threshold, alpha)


def run_binned(data: TestInput, threshold: float, alpha: float) -> TestResult:
    ref, cur = data.counts("wasserstein_binned")
    if data.edges is None or data.ref_min is None or data.ref_max is None or data.ref_std is None:
        raise InvalidInput("wasserstein_binned", "needs bin edges and the baseline min, max and std")
    n, m = float(ref.sum()), float(cur.sum())
    if n <= 0 or m <= 0:
        return _result("wasserstein_binned", float("nan"), n, m, threshold, alpha)
    distance = binned_distance(ref, cur, np.asarray(data.edges), data.ref_min, data.ref_max)
    statistic = distance / normaliser(data.ref_std, data.ref_min, data.ref_max)
    return _result("wasserstein_binned", statistic, n, m, threshold, alpha)


WASSERSTEIN = StatTest(
    name="wasserstein",
    display_name="Wasserstein distance / reference std",
    kind="distance",
    feature_kinds=("numeric",),
    default_threshold=0.1,
    needs="values",
    run=run_raw,
    binned_variant="wasserstein_binned",
    description="scipy.stats.wasserstein_distance on raw values divided by the reference std",
)

WASSERSTEIN_BINNED = StatTest(
    name="wasserstein_binned",
    display_name="Wasserstein distance / reference std (binned)",
    kind="distance",
    feature_kinds=("numeric",),
    default_threshold=0.1,
    needs="counts",
    run=run_binned,
    description="W1 between piecewise-uniform histograms on the baseline bins, divided by the reference std",
)
