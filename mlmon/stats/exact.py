"""Exact two-sample statistics on raw values: one sort per sample, one merge per pair.

The reference is sorted once per baseline (``NumericBaseline.values`` is stored sorted) and each current column
once per run. :class:`SortedPair` merges the two sorted samples once — a stable argsort of two sorted runs is a
linear merge — and reads both statistics from that merge:

* KS: ``D = max |F_ref(x) - F_cur(x)|`` over every value of either sample, with right-continuous empirical CDFs,
  as :func:`scipy.stats.ks_2samp` computes it (ties count at the end of their run);
* Wasserstein-1: ``∫ |F_ref - F_cur| dx``, as :func:`scipy.stats.wasserstein_distance`; ``±inf`` are first
  clipped to the most extreme finite value of the two samples (a distance to infinity says nothing).

KS p-values (:func:`ks_p_values`, many pairs in one call): scipy's exact distribution when ``n·m <= 250,000``
(``ks_2samp(method="exact")``, at most ~1 ms; e.g. 500 against 500), else Smirnov's asymptotic
``kstwo.sf(D, round(n·m/(n+m)))`` exactly as ``ks_2samp(method="asymp")``, vectorised over the pairs — except
below 10⁻⁶, where the limiting Kolmogorov p-value is reported (see :func:`asymptotic_ks_p`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

EXACT_P_MAX_PRODUCT = 250_000  # n·m up to which the KS p-value uses the exact distribution (≤ ~1 ms)
TINY_P = 1e-6  # asymptotic KS p-values below this come from the limiting distribution


def sort_finite_first(values: np.ndarray) -> np.ndarray:
    """Sorted values without NaN (``±inf`` kept at the ends); skips the sort when already sorted."""
    values = np.asarray(values, dtype=float)
    if values.size and np.isnan(values).any():
        values = values[~np.isnan(values)]
    if values.size > 1 and not bool((values[1:] >= values[:-1]).all()):
        values = np.sort(values)
    return values


def _merge_statistics(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """``(D, W1)`` of two sorted, NaN-free, non-empty samples.

    After the merge, ``n·m·(F_ref - F_cur)`` at the i-th merged value is the integer ``seen·(n + m) - i·n``
    (``seen``: reference values so far), so D is exact; both statistics are read where the next value differs
    (the end of a run of ties, where right-continuous CDFs are evaluated), W1 weighting by the gap to it."""
    n, m = ref.size, cur.size
    merged = np.concatenate([ref, cur])
    order = np.argsort(merged, kind="stable")
    x = merged[order]
    if not (math.isfinite(x[0]) and math.isfinite(x[-1])):
        finite = x[np.isfinite(x)]
        x = np.clip(x, finite[0], finite[-1]) if finite.size else np.zeros_like(x)
    gap = np.abs(np.cumsum(order < n) * (n + m) - np.arange(1, n + m + 1) * n)
    widths = np.diff(x)
    scale = float(n) * float(m)
    d = max(int(np.max(gap[:-1], where=widths != 0, initial=0)), int(gap[-1])) / scale
    # not np.dot: BLAS would wake its thread pool for every column
    return d, float(np.sum(gap[:-1] * widths)) / scale


@dataclass
class SortedPair:
    """Reference and current raw values, each sorted ascending without NaN; statistics computed once, on demand."""

    ref: np.ndarray
    cur: np.ndarray
    _merged: tuple[float, float] | None = field(default=None, repr=False)
    _p: float | None = field(default=None, repr=False)

    @classmethod
    def from_values(cls, ref: np.ndarray, cur: np.ndarray) -> SortedPair:
        return cls(sort_finite_first(ref), sort_finite_first(cur))

    @property
    def empty(self) -> bool:
        return self.ref.size == 0 or self.cur.size == 0

    def _statistics(self) -> tuple[float, float]:
        if self._merged is None:
            self._merged = (math.nan, math.nan) if self.empty else _merge_statistics(self.ref, self.cur)
        return self._merged

    @property
    def ks_statistic(self) -> float:
        return self._statistics()[0]

    @property
    def wasserstein(self) -> float:
        """Un-normalised W1 distance."""
        return self._statistics()[1]

    @property
    def ks_p_value(self) -> float:
        if self._p is None:
            ks_p_values([self])
        assert self._p is not None
        return self._p


def ks_p_values(pairs: Sequence[SortedPair]) -> None:
    """Fill the KS p-value of every pair: the asymptotic ones in one vectorised scipy call."""
    asymptotic: list[SortedPair] = []
    for pair in pairs:
        if pair._p is not None:
            continue
        if pair.empty:
            pair._p = math.nan
        elif pair.ref.size * pair.cur.size <= EXACT_P_MAX_PRODUCT:
            with warnings.catch_warnings():  # where the exact sum does not converge scipy says so and goes asymp
                warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful")
                pair._p = float(stats.ks_2samp(pair.ref, pair.cur, method="exact").pvalue)
        else:
            asymptotic.append(pair)
    if not asymptotic:
        return
    d = np.array([p.ks_statistic for p in asymptotic])
    en = np.round(np.array([p.ref.size * p.cur.size / (p.ref.size + p.cur.size) for p in asymptotic]))
    p_values = asymptotic_ks_p(d, en)
    for pair, p in zip(asymptotic, p_values, strict=True):
        pair._p = float(p)


def asymptotic_ks_p(d: np.ndarray, en: np.ndarray) -> np.ndarray:
    """``kstwo.sf(D, en)`` (``ks_2samp(method="asymp")``) where the limiting p-value ``kstwobign.sf(D·√en)`` is at
    least :data:`TINY_P`; below, the limiting one (within a few percent of it there, far below any significance
    level, and free, where ``kstwo`` sums an O(n) series: ~4 ms per column at n = 5,000)."""
    limit = stats.kstwobign.sf(d * np.sqrt(en))
    moderate = limit >= TINY_P
    if moderate.any():
        limit[moderate] = stats.kstwo.sf(d[moderate], en[moderate])
    return np.asarray(np.clip(limit, 0.0, 1.0))


_BRIDGE_BULK = 256  # uniform bridge grid 1/256 … 255/256, plus 2^-9 … 2^-20 towards each end
_BRIDGE_TAIL = range(9, 21)


def bridge_grid() -> np.ndarray:
    """Points of (0, 1) where a Brownian bridge stands for the large-sample limit of a raw-value statistic's
    no-change distribution (:mod:`mlmon.stats.calibration`): uniform in the bulk, halving towards both ends."""
    tails = np.array([2.0**-j for j in _BRIDGE_TAIL])
    bulk = np.arange(1, _BRIDGE_BULK) / _BRIDGE_BULK
    return np.unique(np.concatenate([tails, bulk, 1.0 - tails]))


def w1_equal_size_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """W1 between two sorted samples of one size, per row of ``(replicates, n)`` arrays: ``mean |a_(i) - b_(i)|``."""
    return np.asarray(np.abs(ref - cur).mean(axis=-1))
