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
``kstwo.sf(D, round(n·m/(n+m)))`` exactly as ``ks_2samp(method="asymp")``, vectorised over the pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

EXACT_P_MAX_PRODUCT = 250_000  # n·m up to which the KS p-value uses the exact distribution (≤ ~1 ms)


def sort_finite_first(values: np.ndarray) -> np.ndarray:
    """Sorted values without NaN (``±inf`` kept at the ends); skips the sort when already sorted."""
    values = np.asarray(values, dtype=float)
    if values.size and np.isnan(values).any():
        values = values[~np.isnan(values)]
    if values.size > 1 and not bool((values[1:] >= values[:-1]).all()):
        values = np.sort(values)
    return values


def _merge_statistics(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """``(D, W1)`` of two sorted, NaN-free, non-empty samples."""
    n, m = ref.size, cur.size
    merged = np.concatenate([ref, cur])
    order = np.argsort(merged, kind="stable")
    x = merged[order]
    ref_seen = np.cumsum(order < n)
    cur_seen = np.arange(1, n + m + 1) - ref_seen
    gap = ref_seen / n - cur_seen / m
    ends = np.empty(x.size, dtype=bool)
    ends[:-1] = x[1:] != x[:-1]
    ends[-1] = True
    d = float(np.abs(gap[ends]).max())
    if not (math.isfinite(x[0]) and math.isfinite(x[-1])):
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            return d, 0.0
        x = np.clip(x, finite[0], finite[-1])
    w1 = float(np.dot(np.abs(gap[:-1]), np.diff(x)))
    return d, w1


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
            pair._p = float(stats.ks_2samp(pair.ref, pair.cur, method="exact").pvalue)
        else:
            asymptotic.append(pair)
    if not asymptotic:
        return
    d = np.array([p.ks_statistic for p in asymptotic])
    en = np.array([p.ref.size * p.cur.size / (p.ref.size + p.cur.size) for p in asymptotic])
    p_values = np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0)
    for pair, p in zip(asymptotic, p_values, strict=True):
        pair._p = float(p)


def w1_equal_size_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """W1 between two sorted samples of one size, per row of ``(replicates, n)`` arrays: ``mean |a_(i) - b_(i)|``."""
    return np.asarray(np.abs(ref - cur).mean(axis=-1))
