"""What a window holds per feature, read once: counts (and sums) on the baseline's bins, and for the exact path
the values sorted once.

The engine accepts, per feature, a raw numpy array or counts already binned (a store's ``BinnedCounts`` or
:class:`mlmon.stats.binning.Counts`); both become an :class:`Observed`. A numeric column that takes the exact
path (raw reference sample and window both within ``exact_max_rows``) is sorted here, once: its bin counts and
sums come from that sorted array (one binary search per edge) and the same array serves KS and Wasserstein
(:class:`mlmon.stats.exact.SortedPair`); the KS p-values of all exact columns are computed in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mlmon.errors import InvalidInput
from mlmon.stats.baseline import FeatureBaseline, NumericBaseline, sorted_bin_stats
from mlmon.stats.binning import categorical_counts, numeric_counts
from mlmon.stats.exact import SortedPair, ks_p_values, sort_finite_first
from mlmon.stats.selection import use_exact


class BinnedLike(Protocol):
    """``mlmon.store.base.BinnedCounts`` or :class:`mlmon.stats.binning.Counts` (``sums`` and ``nonfinite`` are
    read when present)."""

    @property
    def counts(self) -> np.ndarray: ...

    @property
    def missing(self) -> int: ...


Current = np.ndarray | BinnedLike


@dataclass
class Observed:
    """One feature of the window on the baseline's bins."""

    counts: np.ndarray
    missing: int
    nonfinite: int = 0
    values: np.ndarray | None = None  # the raw array, when given
    sums: np.ndarray | None = None  # per-bin sums (numeric)
    absent: bool = False
    pair: SortedPair | None = None  # the exact path: reference and window sorted

    @property
    def present(self) -> float:
        return float(self.counts.sum())


def absent(base: FeatureBaseline, rows: int) -> Observed:
    """A baseline feature the window does not have: every row missing."""
    return Observed(np.zeros(base.shares.size), rows, absent=True)


def observe(name: str, base: FeatureBaseline, data: Current, exact_max_rows: int) -> Observed:
    """Counts (and sums) of one feature; a numeric array within the exact cap is sorted once for the exact path."""
    k = base.shares.size
    if isinstance(data, np.ndarray):
        if not isinstance(base, NumericBaseline):
            counted = categorical_counts(data, base.categories)
            return Observed(counted.counts.astype(float), counted.missing, counted.nonfinite, data)
        if data.dtype.kind not in "fiub":
            raise InvalidInput(name, f"numeric feature needs a numeric array, got dtype {data.dtype}")
        if base.values is not None:
            present = data.size - (int(np.count_nonzero(np.isnan(data))) if data.dtype.kind == "f" else 0)
            if use_exact(int(base.values.size), present, exact_max_rows):
                return _exact(base, data, base.values)
        counted = numeric_counts(data, base.edges)
        return Observed(counted.counts.astype(float), counted.missing, counted.nonfinite, data, counted.sums)
    counts = np.asarray(data.counts, dtype=float)
    if counts.shape != (k,):
        raise InvalidInput(name, f"expected {k} bin counts (baseline bins), got {counts.size}")
    sums = getattr(data, "sums", None)  # optional field of the store's BinnedCounts
    if sums is not None:
        sums = np.asarray(sums, dtype=float)
        if sums.shape != (k,) or not isinstance(base, NumericBaseline):
            raise InvalidInput(name, f"per-bin sums must be {k} numbers of a numeric feature, got {sums.size}")
    return Observed(counts, int(data.missing), int(getattr(data, "nonfinite", 0)), None, sums)


def _exact(base: NumericBaseline, data: np.ndarray, reference: np.ndarray) -> Observed:
    ordered = sort_finite_first(data)
    counts, sums = sorted_bin_stats(ordered, base.edges)
    nonfinite = int(np.searchsorted(ordered, -np.inf, side="right"))
    nonfinite += int(ordered.size - np.searchsorted(ordered, np.inf, side="left"))
    missing = data.size - ordered.size
    return Observed(counts.astype(float), missing, nonfinite, data, sums, pair=SortedPair(reference, ordered))


def batch_p_values(observed: dict[str, Observed]) -> None:
    """The KS p-values of every exact-path column, in one vectorised call."""
    ks_p_values([o.pair for o in observed.values() if o.pair is not None])
