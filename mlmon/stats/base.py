"""Shared types of the statistics engine: what a test is, what it sees, what it returns.

A test sees a :class:`SampleInput` — counts per bin for the reference and the current sample (numeric bins may
also carry the per-bin sums of the values), the raw values, or both — and measures a :class:`Measurement`.
Calling the :class:`StatTest` judges that against a threshold and returns a :class:`StatResult`.
``StatTest.kind`` says what the threshold applies to:

* ``"distance"``: the statistic is an effect size; the rule passes when ``statistic >= threshold``.
* ``"p_value"``: the threshold is a significance level; the rule passes when ``p_value < threshold``.

Some distance tests also report a p-value (the Z-test for proportions); pure distances report ``None``.
``mde`` is the smallest effect a test can see at the given sample sizes, in the unit of the statistic
(see :mod:`mlmon.stats.power` for each approximation).

A distance test's threshold is calibrated on the baseline (:mod:`mlmon.stats.calibration`): its
:class:`NullModel` says how to compute the statistic between resampled baseline samples, and the result records
where the threshold came from (:data:`ThresholdSource`).

Errors: :class:`StatsError` (a ``ValueError``) is an internal invariant broken by the caller — a bug, not a user
mistake. Data a user sent that does not fit (wrong dtype, wrong number of bins) is ``mlmon.errors.InvalidInput``,
raised by the engine before any test runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from mlmon.stats.exact import SortedPair

TestKind = Literal["p_value", "distance"]
FeatureKind = Literal["numeric", "categorical", "boolean", "missing"]
InputKind = Literal["values", "counts"]
# calibrated: the null quantile at these sample sizes; floor: the practical or the sampling-noise floor was higher;
# override: set by the spec (or the caller); alpha: a significance level
ThresholdSource = Literal["calibrated", "floor", "override", "alpha"]


class StatsError(ValueError):
    """An internal invariant of the statistics package does not hold (the caller's bug, not the user's data)."""


@dataclass
class StatResult:
    """One test of one feature over one window."""

    test: str
    statistic: float
    p_value: float | None
    threshold: float
    n_ref: int
    n_cur: int
    mde: float | None
    effect_passed: bool  # the test's own rule: statistic >= threshold (distance) or p < threshold (p_value)
    extra: dict[str, float] = field(default_factory=dict)  # e.g. z score, degrees of freedom
    threshold_source: ThresholdSource = "override"
    null_quantile: float | None = None  # calibrated: the no-change quantile of the statistic at these sizes
    noise_floor: float | None = None  # the statistic's expected value with no change at these sizes


@dataclass(frozen=True)
class Measurement:
    """What a test measured, before a threshold judges it. Sizes may be fractional (baseline shares × rows)."""

    statistic: float
    p_value: float | None
    n_ref: float
    n_cur: float
    mde: float | None
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Threshold:
    """A threshold and where it came from (see :mod:`mlmon.stats.calibration`)."""

    value: float
    source: ThresholdSource
    null_quantile: float | None = None
    noise_floor: float | None = None


@dataclass(frozen=True)
class SampleInput:
    """What a test may use. Counts may be fractional (baseline shares × baseline rows).

    ``edges`` are the interior bin edges of a numeric feature (``len(edges) + 1`` bins); ``ref_sums``/``cur_sums``
    the per-bin sums of the values (optional: binned Wasserstein uses them when both sides have them);
    ``ref_min``/``ref_max`` close the two open outer bins when there are no sums; ``ref_std`` normalises distances.
    ``presorted`` carries the raw values already sorted (the engine sorts each column once for KS and Wasserstein);
    without it, :attr:`pair` sorts ``ref_values``/``cur_values`` on first use.
    """

    ref_counts: np.ndarray | None = None
    cur_counts: np.ndarray | None = None
    ref_values: np.ndarray | None = None
    cur_values: np.ndarray | None = None
    edges: np.ndarray | None = None
    ref_min: float | None = None
    ref_max: float | None = None
    ref_std: float | None = None
    ref_sums: np.ndarray | None = None
    cur_sums: np.ndarray | None = None
    presorted: SortedPair | None = None

    def counts(self, test: str) -> tuple[np.ndarray, np.ndarray]:
        if self.ref_counts is None or self.cur_counts is None:
            raise StatsError(f"{test}: needs reference and current bin counts")
        ref = np.asarray(self.ref_counts, dtype=float)
        cur = np.asarray(self.cur_counts, dtype=float)
        if ref.shape != cur.shape or ref.ndim != 1:
            raise StatsError(f"{test}: reference and current counts differ: {ref.shape} vs {cur.shape}")
        if (ref < 0).any() or (cur < 0).any() or not (np.isfinite(ref).all() and np.isfinite(cur).all()):
            raise StatsError(f"{test}: counts must be finite and non-negative")
        return ref, cur

    def sums(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-bin sums of both sides, or None unless both are given (with the shape of the counts)."""
        if self.ref_sums is None or self.cur_sums is None:
            return None
        ref, cur = np.asarray(self.ref_sums, dtype=float), np.asarray(self.cur_sums, dtype=float)
        if self.ref_counts is not None and ref.shape != np.shape(self.ref_counts):
            raise StatsError(f"reference sums {ref.shape} do not match the counts {np.shape(self.ref_counts)}")
        if self.cur_counts is not None and cur.shape != np.shape(self.cur_counts):
            raise StatsError(f"current sums {cur.shape} do not match the counts {np.shape(self.cur_counts)}")
        return ref, cur

    def values(self, test: str) -> tuple[np.ndarray, np.ndarray]:
        if self.ref_values is None or self.cur_values is None:
            raise StatsError(f"{test}: needs reference and current raw values")
        return np.asarray(self.ref_values, dtype=float), np.asarray(self.cur_values, dtype=float)

    @cached_property
    def pair(self) -> SortedPair:
        """Both raw samples sorted, NaN dropped: KS and Wasserstein share one sort and one merge."""
        if self.presorted is not None:
            return self.presorted
        ref, cur = self.values("exact tests")
        return SortedPair.from_values(ref, cur)


@dataclass(frozen=True)
class Draws:
    """Resampled counts (and per-bin sums) of one side, one row per replicate: shape ``(replicates, bins)``."""

    counts: np.ndarray
    sums: np.ndarray | None = None


CountsNull = Callable[[Draws, Draws, SampleInput], np.ndarray]
SortedNull = Callable[[np.ndarray, np.ndarray, SampleInput], np.ndarray]
BridgeWeights = Callable[[np.ndarray, SampleInput], np.ndarray]
NoiseFloor = Callable[[SampleInput, float, float], float | None]


@dataclass(frozen=True)
class NullModel:
    """How :mod:`mlmon.stats.calibration` computes a distance test between resampled baseline samples.

    * ``counts(ref, cur, data)``: the statistic per replicate from resampled counts (counts tests);
    * ``sorted_samples(ref, cur, data)``: the statistic per row of two ``(replicates, n)`` sorted samples of one
      size (raw-value tests, small samples);
    * ``bridge(grid, data)``: weights ``w`` on the grid ``u`` of ``(0, 1)`` such that the statistic's large-sample
      limit is ``sqrt(1/n + 1/m)·Σ |B(u)|·w`` for a Brownian bridge ``B`` (raw-value tests);
    * ``scale``: the null scales as ``(1/n + 1/m) ** scale`` (0.5 for distances, 1 for PSI);
    * ``noise_floor(data, n, m)``: the statistic's expected value with no change (asymptotic), or None (a
      raw-value test with ``bridge`` gets the mean of its limit);
    * ``uses_sums``: the counts statistic reads per-bin sums, so the draws carry sums too.
    """

    counts: CountsNull | None = None
    sorted_samples: SortedNull | None = None
    bridge: BridgeWeights | None = None
    scale: float = 0.5
    noise_floor: NoiseFloor | None = None
    uses_sums: bool = False  # the counts statistic reads per-bin sums when both sides have them


Measure = Callable[[SampleInput, float], Measurement]  # (data, alpha) -> measurement


@dataclass(frozen=True)
class StatTest:
    """A registered test. Calling it measures ``data`` and judges the statistic against a threshold.

    ``default_threshold`` is the practical floor of a distance test (its threshold is calibrated above it, see
    :mod:`mlmon.stats.calibration`) and the significance level of a p-value test. ``proportion``: the test compares
    the share of one bin, so the engine folds a boolean feature's categories into ``[not true, true]``.
    """

    name: str
    display_name: str
    kind: TestKind
    feature_kinds: tuple[FeatureKind, ...]
    default_threshold: float
    needs: InputKind
    measure: Measure
    binned_variant: str | None = None  # what to use instead when only counts are at hand
    description: str = ""
    proportion: bool = False
    null: NullModel | None = None

    def __call__(
        self, data: SampleInput, threshold: float | Threshold | None = None, alpha: float = 0.05
    ) -> StatResult:
        return self.judge(self.measure(data, alpha), threshold)

    def judge(self, measured: Measurement, threshold: float | Threshold | None = None) -> StatResult:
        """A measurement against a threshold: the test's default (its floor, or alpha), a number given by the
        caller (``"override"``) or a :class:`Threshold` that says where it came from."""
        if threshold is None:
            judged = Threshold(self.default_threshold, "floor" if self.kind == "distance" else "alpha")
        elif isinstance(threshold, Threshold):
            judged = threshold
        else:
            judged = Threshold(float(threshold), "override")
        return StatResult(
            test=self.name,
            statistic=measured.statistic,
            p_value=measured.p_value,
            threshold=judged.value,
            n_ref=as_count(measured.n_ref),
            n_cur=as_count(measured.n_cur),
            mde=measured.mde,
            effect_passed=passed(self.kind, measured.statistic, measured.p_value, judged.value),
            extra=dict(measured.extra),
            threshold_source=judged.source,
            null_quantile=judged.null_quantile,
            noise_floor=judged.noise_floor,
        )


def passed(kind: TestKind, statistic: float, p_value: float | None, threshold: float) -> bool:
    if kind == "distance":
        return bool(np.isfinite(statistic) and statistic >= threshold)
    return p_value is not None and bool(p_value < threshold)


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts as shares along the last axis (rows of replicates allowed); an empty row stays all zero."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum(axis=-1, keepdims=True)
    return np.asarray(np.divide(counts, total, out=np.zeros_like(counts), where=total > 0))


def as_count(total: float) -> int:
    """Sample size for reporting: fractional baseline counts (shares × rows) are rounded."""
    return round(float(total))


def active_bins(ref_counts: np.ndarray, cur_counts: np.ndarray) -> int:
    """Bins with data on either side: the chi-square family's ``df + 1``."""
    return int(np.count_nonzero((np.asarray(ref_counts) + np.asarray(cur_counts)) > 0))
