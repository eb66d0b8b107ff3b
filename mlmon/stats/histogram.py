"""Wasserstein-1 between two histograms on the same bins, vectorised over rows of replicates.

Both functions take counts of shape ``(bins,)`` or ``(replicates, bins)`` and return the un-normalised distance
per row. Two models of the values inside a bin:

* counts only — :func:`uniform_w1`: mass spread uniformly in each bin, the two open outer bins closed at the
  baseline min and max: the exact W1 between the two piecewise-uniform histograms. It can be far off where the
  shape inside a bin matters (heavy tails, values beyond the baseline range).
* counts and per-bin sums — :func:`means_w1`: each bin's values follow a one-parameter shape matched to the bin's
  mean ``μ``. Inside an interior bin ``[a, b)`` the quantile function is ``a + (b - a)·t^κ`` with
  ``κ = (b - μ)/(μ - a)`` (uniform when ``μ`` is the midpoint, mass piling up at the end the mean leans to); in
  the open outer bins an exponential tail from the edge with the bin's mean (``e - θ·ln(1 - t)`` above the last
  edge, ``e + θ·ln t`` below the first, ``θ = |μ - e|``). ``W1 = ∫₀¹ |Q_ref(u) - Q_cur(u)| du`` is integrated
  through each side's antiderivative ``A(u) = ∫₀ᵘ Q(s) ds`` on the union of both sides' cumulative shares:
  ``Σ |ΔA_ref - ΔA_cur|`` over those cells. ``A`` is exact at every bin boundary of its own side (the
  cumulative sum of the bins' sums / n), and where ``Q_ref - Q_cur`` keeps its sign only the ends of that stretch
  matter, so the result is exact for a location shift or the scale change of a positive variable
  (``W1 = |Δ mean|``) and within a few percent of the raw-value distance otherwise, heavy tails and values far
  beyond the baseline range included (the outer bins carry them at their real mean).

Values must be finite for the sums to mean anything: the engine clips ``±inf`` to the window's finite extremes
before summing.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from mlmon.stats.base import shares


def _rows(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    return array[None, :] if array.ndim == 1 else array


def _out(value: np.ndarray, one_row: bool) -> np.ndarray:
    return value[0] if one_row else value


def uniform_w1(
    ref_counts: np.ndarray, cur_counts: np.ndarray, edges: np.ndarray, ref_min: float, ref_max: float
) -> np.ndarray:
    """W1 between two piecewise-uniform histograms on ``[ref_min, e_1, …, e_{k-1}, ref_max]``."""
    one_row = np.ndim(ref_counts) == 1
    ref, cur = _rows(ref_counts), _rows(cur_counts)
    edges = np.asarray(edges, dtype=float)
    if edges.size == 0:
        return _out(np.zeros(ref.shape[0]), one_row)
    lo = min(ref_min, float(edges[0]))
    hi = max(ref_max, float(edges[-1]))
    widths = np.diff(np.concatenate([[lo], edges, [hi]]))
    gap = np.cumsum(shares(ref) - shares(cur), axis=-1)
    gap[:, -1] = 0.0  # both CDFs reach 1 at the top (kills rounding residue)
    before = np.concatenate([np.zeros((gap.shape[0], 1)), gap[:, :-1]], axis=-1)
    a, b = np.abs(before), np.abs(gap)
    same_sign = before * gap >= 0
    total = a + b
    crossing = np.divide(a**2 + b**2, 2.0 * total, out=np.zeros_like(total), where=total > 0)
    return _out(np.sum(widths * np.where(same_sign, total / 2.0, crossing), axis=-1), one_row)


class _Side:
    """One side's piecewise quantile model, rows of replicates × bins."""

    def __init__(self, counts: np.ndarray, sums: np.ndarray, edges: np.ndarray) -> None:
        k = counts.shape[-1]
        self.k = k
        self.p = shares(counts)
        self.cum_p = np.cumsum(self.p, axis=-1)
        self.cum_p[:, -1] = 1.0
        mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        lower = np.concatenate([[-np.inf], edges])
        upper = np.concatenate([edges, [np.inf]])
        empty = counts <= 0
        if k == 1:  # no edges: only the mean is known, all mass at it
            self.mean = mean
            self.cum_a = self.p * mean
            return
        width = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
        # an empty bin has no mean: its midpoint (interior) or its edge (outer); its mass is 0 anyway
        fallback = np.where(np.isfinite(lower) & np.isfinite(upper), lower + width / 2.0, edges[[0] * (k - 1) + [-1]])
        mean = np.where(empty, fallback, mean)
        mean = np.clip(mean, np.where(np.isfinite(lower), lower, -np.inf), np.where(np.isfinite(upper), upper, np.inf))
        self.lower = np.where(np.isfinite(lower), lower, 0.0)
        self.width, self.mean = width, mean
        self.ratio = np.clip((mean - self.lower) / width, 0.0, 1.0)
        self.theta_bottom = np.maximum(edges[0] - mean[:, 0], 0.0)
        self.theta_top = np.maximum(mean[:, -1] - edges[-1], 0.0)
        self.edges = edges
        self.cum_a = np.cumsum(self.p * mean, axis=-1)

    def antiderivative(self, u: np.ndarray, before: np.ndarray, own: np.ndarray) -> np.ndarray:
        """``A(u) = ∫₀ᵘ Q(s) ds`` at the points ``u`` (rows × points, each in [0, 1]). ``before``: how many of this
        side's cumulative shares come before each point in the merged order, i.e. the bin holding it; ``own``: the
        point is one of this side's cumulative shares, where ``A`` is the cumulative sum of the bins' means."""
        if self.k == 1:
            return np.asarray(u * self.mean[:, :1])
        k = self.k
        # flat positions (row * k + bin) instead of 2-D fancy indexing: one take per array
        flat = np.minimum(before, k - 1) + (np.arange(u.shape[0]) * k)[:, None]
        result = np.empty_like(u)
        result[own] = self.cum_a.ravel().take(flat[own])
        other = ~own
        position, x = flat[other], u[other]
        i = position % k
        p = self.p.ravel().take(position)
        previous = np.maximum(position - 1, 0)
        start = np.where(i > 0, self.cum_p.ravel().take(previous), 0.0)
        done = np.where(i > 0, self.cum_a.ravel().take(previous), 0.0)
        t = np.clip(np.divide(x - start, p, out=np.ones_like(x), where=p > 0), 0.0, 1.0)
        ratio = self.ratio.ravel().take(position)
        exponent = np.divide(1.0, ratio, out=np.full_like(ratio, 1e300), where=ratio > 0)
        local = self.lower.take(i) * t + self.width.take(i) * ratio * np.power(t, exponent)
        top, bottom = i == k - 1, i == 0
        if top.any():
            tt, rows = t[top], position[top] // k
            local[top] = self.edges[-1] * tt + self.theta_top.take(rows) * (special.xlogy(1.0 - tt, 1.0 - tt) + tt)
        if bottom.any():
            tb, rows = t[bottom], position[bottom] // k
            local[bottom] = self.edges[0] * tb + self.theta_bottom.take(rows) * (special.xlogy(tb, tb) - tb)
        result[other] = done + p * local
        return result


def means_w1(
    ref_counts: np.ndarray, ref_sums: np.ndarray, cur_counts: np.ndarray, cur_sums: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """W1 between two histograms with per-bin sums, on the same interior ``edges`` (see the module docstring)."""
    one_row = np.ndim(ref_counts) == 1
    edges = np.asarray(edges, dtype=float)
    ref = _Side(_rows(ref_counts), _rows(ref_sums), edges)
    cur = _Side(_rows(cur_counts), _rows(cur_sums), edges)
    # merge both sides' cumulative shares (stable: on a tie the reference's comes first); the bin of a point on
    # either side is the number of that side's shares before it, so no search is needed
    points = np.concatenate([ref.cum_p, cur.cum_p], axis=-1)
    order = np.argsort(points, axis=-1, kind="stable")
    points = np.take_along_axis(points, order, axis=-1)
    from_ref = order < ref.k
    ref_before = np.cumsum(from_ref, axis=-1) - from_ref
    cur_before = np.arange(points.shape[-1]) - ref_before
    gap = ref.antiderivative(points, ref_before, from_ref) - cur.antiderivative(points, cur_before, ~from_ref)
    steps = np.abs(np.diff(gap, axis=-1, prepend=0.0))
    return _out(steps.sum(axis=-1), one_row)


def model_std(counts: np.ndarray, sums: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Standard deviation of the values inside each bin under the model of :func:`means_w1` (one row)."""
    side = _Side(_rows(counts), _rows(sums), np.asarray(edges, dtype=float))
    if side.k == 1:
        return np.zeros(1)
    r = side.ratio[0]
    inner = side.width * np.sqrt(np.maximum(r / (2.0 - r) - r**2, 0.0))
    inner[0], inner[-1] = side.theta_bottom[0], side.theta_top[0]
    return np.asarray(inner)
