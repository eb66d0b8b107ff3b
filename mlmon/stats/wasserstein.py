"""Wasserstein-1 (earth mover's) distance normalised by the reference standard deviation.

Dividing by ``std(ref)`` makes the distance unit-free: 0.1 means "mass moved by a tenth of a standard
deviation on average", whatever the feature's unit.

* ``wasserstein`` — raw values: ``scipy.stats.wasserstein_distance(ref, cur) / std(ref)``, computed from the
  samples sorted once (:mod:`mlmon.stats.exact`). NaN are dropped; ±inf are replaced by the most extreme finite
  value of the two samples (a distance to infinity says nothing; :mod:`mlmon.stats.binning` counts them
  separately as non-finite).
* ``wasserstein_binned`` — from counts on the baseline's interior edges (:mod:`mlmon.stats.histogram`). With the
  per-bin sums of both sides it models each bin's values by their mean (exponential tails in the open outer
  bins) and matches the raw-value distance within a few percent, heavy tails and values far beyond the baseline
  range included. With counts only it spreads each bin's mass uniformly, the outer bins closed at the baseline
  min and max: off by up to a bin width where the shapes differ inside a bin, and blind beyond the baseline range.

A constant baseline has ``std = 0``; the normaliser is then floored at ``1e-3·max(|min|, |max|, 1)`` so
that any change reads as a large distance and no change reads as 0.

Thresholds are calibrated on the baseline at the window's sizes (:mod:`mlmon.stats.calibration`) above the
practical floor of 0.05 standard deviations.
"""

from __future__ import annotations

import math

import numpy as np

from mlmon.stats.base import Draws, Measurement, NullModel, SampleInput, StatsError, StatTest, shares
from mlmon.stats.exact import sort_finite_first, w1_equal_size_rows
from mlmon.stats.histogram import means_w1, uniform_w1
from mlmon.stats.power import location_shift_mde

FLOOR = 0.05
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def normaliser(std: float | None, ref_min: float | None = None, ref_max: float | None = None) -> float:
    if std is not None and np.isfinite(std) and std > 0:
        return float(std)
    scale = max(abs(ref_min or 0.0), abs(ref_max or 0.0), 1.0)
    return 1e-3 * scale


def binned_distance(
    ref_counts: np.ndarray, cur_counts: np.ndarray, edges: np.ndarray, ref_min: float, ref_max: float
) -> float:
    """Un-normalised W1 distance between two piecewise-uniform histograms (counts only)."""
    return float(uniform_w1(ref_counts, cur_counts, edges, ref_min, ref_max))


def _scale(data: SampleInput, reference: np.ndarray | None = None) -> float:
    """The reference std (``ref_std``; without it, the std of the raw reference sample)."""
    std = data.ref_std
    if std is None and reference is not None and reference.size:
        finite = reference[np.isfinite(reference)]
        std = float(finite.std()) if finite.size else None
    return normaliser(std, data.ref_min, data.ref_max)


# --- raw values -----------------------------------------------------------------------------------------------
def _reference(data: SampleInput) -> np.ndarray:
    if data.presorted is not None:
        return data.presorted.ref
    if data.ref_values is None:
        raise StatsError("wasserstein: needs the raw reference sample")
    return sort_finite_first(data.ref_values)


def measure_raw(data: SampleInput, alpha: float) -> Measurement:
    pair = data.pair
    n, m = pair.ref.size, pair.cur.size
    statistic = pair.wasserstein / _scale(data, pair.ref) if not pair.empty else float("nan")
    return Measurement(statistic, None, n, m, location_shift_mde(n, m, alpha))


def _raw_sorted_null(ref: np.ndarray, cur: np.ndarray, data: SampleInput) -> np.ndarray:
    return w1_equal_size_rows(ref, cur) / _scale(data, _reference(data))


def _quantile_steps(reference: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``Q(v_g) - Q(v_{g-1})`` of the reference's empirical quantile function between the midpoints ``v`` of the
    grid (``v_0 = 0``: the minimum, ``v_G = 1``: the maximum)."""
    mids = np.concatenate([[0.0], (grid[1:] + grid[:-1]) / 2.0, [1.0]])
    n = reference.size
    index = np.clip(np.ceil(mids * n).astype(np.int64) - 1, 0, n - 1)
    finite = reference[np.isfinite(reference)]
    quantiles = np.clip(reference[index], finite[0], finite[-1]) if finite.size else np.zeros(index.size)
    return np.diff(quantiles)


def _raw_bridge_weights(grid: np.ndarray, data: SampleInput) -> np.ndarray:
    """W1 between two samples of the reference tends to ``sqrt(1/n + 1/m)·∫|B(F(x))| dx = ∫|B(u)| dQ(u)``."""
    reference = _reference(data)
    if reference.size == 0:
        return np.zeros(grid.size)
    return _quantile_steps(reference, grid) / _scale(data, reference)


# --- counts -----------------------------------------------------------------------------------------------------
def _context(data: SampleInput) -> tuple[np.ndarray, float, float]:
    if data.edges is None or data.ref_min is None or data.ref_max is None or data.ref_std is None:
        raise StatsError("wasserstein_binned: needs bin edges and the baseline min, max and std")
    return np.asarray(data.edges, dtype=float), data.ref_min, data.ref_max


def _binned(
    ref: np.ndarray,
    cur: np.ndarray,
    sums: tuple[np.ndarray, np.ndarray] | None,
    data: SampleInput,
) -> np.ndarray:
    edges, ref_min, ref_max = _context(data)
    if sums is not None:
        return means_w1(ref, sums[0], cur, sums[1], edges) / _scale(data)
    return uniform_w1(ref, cur, edges, ref_min, ref_max) / _scale(data)


def measure_binned(data: SampleInput, alpha: float) -> Measurement:
    ref, cur = data.counts("wasserstein_binned")
    _context(data)
    n, m = float(ref.sum()), float(cur.sum())
    mde = location_shift_mde(n, m, alpha)
    if n <= 0 or m <= 0:
        return Measurement(float("nan"), None, n, m, mde)
    sums = data.sums()
    statistic = float(_binned(ref, cur, sums, data))
    return Measurement(statistic, None, n, m, mde, {"sums": 1.0 if sums is not None else 0.0})


def _binned_null(ref: Draws, cur: Draws, data: SampleInput) -> np.ndarray:
    sums = (ref.sums, cur.sums) if ref.sums is not None and cur.sums is not None else None
    return _binned(ref.counts, cur.counts, sums, data)


def _binned_noise_floor(data: SampleInput, n: float, m: float) -> float | None:
    """``sqrt(2/π)·sqrt(1/n + 1/m)·∫ sqrt(F(1 - F)) dx / std`` over the bins: interior bins at their mid-CDF, the
    open outer bins as exponential tails (``2θ·sqrt(p)``, θ the distance of the bin's mean from its edge)."""
    if data.ref_counts is None or data.edges is None or n <= 0 or m <= 0:
        return None
    edges, ref_min, ref_max = _context(data)
    if edges.size == 0:
        return 0.0
    p = shares(np.asarray(data.ref_counts, dtype=float))
    cdf = np.cumsum(p)
    mid = np.clip(cdf - p / 2.0, 0.0, 1.0)
    spread = float(np.sum(np.diff(edges) * np.sqrt(mid[1:-1] * (1.0 - mid[1:-1]))))
    if data.ref_sums is not None:
        counts = np.asarray(data.ref_counts, dtype=float)
        sums = np.asarray(data.ref_sums, dtype=float)
        low = max(edges[0] - sums[0] / counts[0], 0.0) if counts[0] > 0 else 0.0
        high = max(sums[-1] / counts[-1] - edges[-1], 0.0) if counts[-1] > 0 else 0.0
    else:
        low, high = max(edges[0] - ref_min, 0.0) / 2.0, max(ref_max - edges[-1], 0.0) / 2.0
    spread += 2.0 * (low * math.sqrt(p[0]) + high * math.sqrt(p[-1]))
    return _SQRT_2_OVER_PI * math.sqrt(1.0 / n + 1.0 / m) * spread / _scale(data)


WASSERSTEIN = StatTest(
    name="wasserstein",
    display_name="Wasserstein distance / reference std",
    kind="distance",
    feature_kinds=("numeric",),
    default_threshold=FLOOR,
    needs="values",
    measure=measure_raw,
    binned_variant="wasserstein_binned",
    description="scipy.stats.wasserstein_distance on raw values divided by the reference std",
    null=NullModel(sorted_samples=_raw_sorted_null, bridge=_raw_bridge_weights),
)

WASSERSTEIN_BINNED = StatTest(
    name="wasserstein_binned",
    display_name="Wasserstein distance / reference std (binned)",
    kind="distance",
    feature_kinds=("numeric",),
    default_threshold=FLOOR,
    needs="counts",
    measure=measure_binned,
    description="W1 between the baseline-binned histograms (with per-bin sums: each bin at its mean), / reference std",
    null=NullModel(counts=_binned_null, noise_floor=_binned_noise_floor, uses_sums=True),
)
