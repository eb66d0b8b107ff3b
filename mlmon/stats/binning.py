"""Bin counts (and per-bin sums) from numpy arrays, by the convention every store follows (``mlmon.store.base``).

Numeric: ``edges`` are the baseline's interior edges ``e_1 < … < e_{k-1}``; bin ``i`` holds
``e_i <= x < e_{i+1}``, i.e. ``np.searchsorted(edges, x, side="right")`` — an Elasticsearch ``range``
aggregation with ``from`` inclusive and ``to`` exclusive, or a SQLite ``CASE`` on ``x >= e_i``. NaN is
missing and in no bin; ``-inf`` falls in the first bin and ``+inf`` in the last, and both are also counted
in ``nonfinite`` (a data-quality signal). ``sums`` are the per-bin sums of the values (SQL ``SUM`` / an ES
``sum`` sub-aggregation), with ``±inf`` counted at the most extreme finite value of the array, so that binned
Wasserstein and means match the raw values (:mod:`mlmon.stats.histogram`).

Categorical: counts of the known categories in the given order, then one ``__other__`` bin
(``mlmon.store.base.OTHER``) for every other value. ``None`` and float NaN are missing. Values are counted by
integer code (``pandas.factorize``: one hash per value, then one ``bincount``), not by one string comparison pass
per category. Boolean arrays (dtype ``bool``) are read as the categories ``"false"``/``"true"``, as the stores
keep them; only ``str`` values can match a category (``3`` is not ``"3"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlmon.errors import InvalidInput

OTHER = "__other__"  # same value as mlmon.store.base.OTHER (not imported: that module pulls in the store)


@dataclass(frozen=True)
class Counts:
    """Counts of one feature: ``counts`` per bin, ``missing`` rows, ``nonfinite`` rows (±inf, in bins), and for
    numeric features ``sums``, the per-bin sum of the values."""

    counts: np.ndarray
    missing: int
    nonfinite: int = 0
    sums: np.ndarray | None = None

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + self.missing


def check_edges(edges: Sequence[float] | np.ndarray, feature: str = "edges") -> np.ndarray:
    array = np.asarray(edges, dtype=float)
    if array.ndim != 1 or not np.isfinite(array).all():
        raise InvalidInput(feature, "bin edges must be a flat list of finite numbers")
    if array.size > 1 and not (np.diff(array) > 0).all():
        raise InvalidInput(feature, "bin edges must be strictly increasing")
    return array


# up to this many edges the bin index is built from one vectorised comparison pass per edge (int8, SIMD);
# more edges fall back to one binary search per value (same result)
_PASSES_MAX_EDGES = 48


def numeric_counts(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> Counts:
    """Counts and sums over ``len(edges) + 1`` bins.

    The bin index is computed as SQL would: ``#(x >= e_i)`` over the edges (NaN compares false and is put aside),
    one vectorised comparison per edge, ~7× faster than ``searchsorted`` for the usual 19 edges; counts and sums
    are then two ``bincount`` calls. Many edges fall back to ``searchsorted`` (same result)."""
    edges = check_edges(edges)
    values = np.asarray(values)
    if values.dtype.kind not in "fiub":
        raise InvalidInput("values", f"numeric feature needs a numeric array, got dtype {values.dtype}")
    values = values.ravel()
    k = edges.size + 1
    is_float = values.dtype.kind == "f"
    nan = np.isnan(values) if is_float else None
    missing = int(np.count_nonzero(nan)) if nan is not None else 0
    nonfinite = int(np.count_nonzero(np.isinf(values))) if is_float else 0
    if edges.size > _PASSES_MAX_EDGES:
        index = np.searchsorted(edges, values, side="right")  # NaN sorts after every edge: index k
        if nan is not None:
            index[nan] = k
    else:
        index = np.zeros(values.shape, dtype=np.int8)
        for edge in edges:
            index += values >= edge
        if missing:
            index[nan] = k  # in no bin: the extra slot k, dropped below
    weights = values.astype(float, copy=False)
    if nonfinite:
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        weights = np.clip(np.where(np.isnan(values), 0.0, values), low, high)
    counts = np.bincount(index, minlength=k + 1)[:k].astype(np.int64)
    sums = np.bincount(index, weights=weights, minlength=k + 1)[:k]
    return Counts(counts, missing, nonfinite, sums)


def categorical_counts(values: np.ndarray, categories: Sequence[str]) -> Counts:
    """Counts over ``len(categories) + 1`` bins, the last one ``__other__``."""
    values = np.asarray(values).ravel()
    if len(set(categories)) != len(categories):
        raise InvalidInput("categories", "categories must be unique")
    k = len(categories)
    if values.dtype.kind == "b":
        true = int(np.count_nonzero(values))
        by_name = {"false": values.size - true, "true": true}
        known = [by_name.get(c, 0) for c in categories]
        return Counts(np.array([*known, values.size - sum(known)], dtype=np.int64), 0, 0)
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts): compare them one by one
        return _compared(values, categories)
    index = {c: i for i, c in enumerate(categories)}
    # bin of each distinct value; slot 0 of the tally holds the missing rows (code -1)
    bins = np.array([index.get(u, k) if isinstance(u, str) else k for u in uniques], dtype=np.int64)
    tally = np.bincount(codes + 1, minlength=len(uniques) + 1)
    counts = np.bincount(bins, weights=tally[1:], minlength=k + 1).astype(np.int64)
    return Counts(counts, int(tally[0]), 0)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _compared(values: np.ndarray, categories: Sequence[str]) -> Counts:
    index = {c: i for i, c in enumerate(categories)}
    counts = np.zeros(len(categories) + 1, dtype=np.int64)
    missing = 0
    for value in values.tolist():
        if _missing(value):
            missing += 1
        else:
            counts[index.get(value, len(categories)) if isinstance(value, str) else len(categories)] += 1
    return Counts(counts, missing, 0)


def finite_part(ordered: np.ndarray) -> np.ndarray:
    """The finite values of a sorted array without NaN, as a view (``±inf`` sit at the ends)."""
    low = int(np.searchsorted(ordered, -np.inf, side="right"))
    high = int(np.searchsorted(ordered, np.inf, side="left"))
    return ordered[low:high]


def quantiles_of_sorted(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(ordered, q)`` (linear method, same rounding) of an array already sorted: O(len(q))."""
    position = np.asarray(q, dtype=float) * (ordered.size - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, ordered.size - 1)
    t = position - below
    a, b = ordered[below], ordered[above]
    gap = b - a
    return np.asarray(np.where(t >= 0.5, b - gap * (1.0 - t), a + gap * t))


def equal_mass_edges(values: np.ndarray, n_bins: int = 20, *, presorted: bool = False) -> np.ndarray:
    """Interior edges at the reference quantiles ``1/n_bins … (n_bins-1)/n_bins`` of the finite values,
    deduplicated (a value with a lot of mass yields fewer, wider bins), strictly increasing. ``presorted``: the
    finite values are already sorted ascending (no sort or partition needed)."""
    values = np.asarray(values, dtype=float)
    values = finite_part(values) if presorted else values[np.isfinite(values)]
    if values.size == 0 or n_bins < 2:
        return np.empty(0)
    q = np.arange(1, n_bins) / n_bins
    quantiles = quantiles_of_sorted(values, q) if presorted else np.quantile(values, q)
    edges = np.unique(quantiles)
    # an edge at the minimum leaves an empty first bin (x < min): drop it
    kept: np.ndarray = edges[edges > (values[0] if presorted else values.min())]
    return kept


def bin_labels(edges: Sequence[float] | np.ndarray) -> list[str]:
    """Human-readable bin names for reports: ``< e1``, ``[e1, e2)``, …, ``>= e_last``."""
    edges = list(np.asarray(edges, dtype=float))
    if not edges:
        return ["all"]
    labels = [f"< {edges[0]:.4g}"]
    labels += [f"[{a:.4g}, {b:.4g})" for a, b in itertools.pairwise(edges)]
    labels.append(f">= {edges[-1]:.4g}")
    return labels
