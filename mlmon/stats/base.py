"""Shared types of the statistics engine: what a test is, what it sees, what it returns.

A test sees a :class:`TestInput` — counts per bin (reference and current), raw values, or both — and
returns a :class:`TestResult`. ``StatTest.kind`` says what the threshold applies to:

* ``"distance"``: the statistic is an effect size; the rule passes when ``statistic >= threshold``.
* ``"p_value"``: the threshold is a significance level; the rule passes when ``p_value < threshold``.

Some distance tests also report a p-value (the Z-test for proportions); pure distances report ``None``.
``mde`` is the smallest effect a test can see at the given sample sizes, in the unit of the statistic
(see :mod:`mlmon.stats.power` for each approximation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlmon.errors import InvalidInput

TestKind = Literal["p_value", "distance"]
FeatureKind = Literal["numeric", "categorical", "boolean", "missing"]
InputKind = Literal["values", "counts"]


@dataclass
class TestResult:
    """One test of one feature over one window."""

    __test__ = False  # not a pytest test class

    test: str
    statistic: float
    p_value: float | None
    threshold: float
    n_ref: int
    n_cur: int
    mde: float | None
    effect_passed: bool  # the test's own rule: statistic >= threshold (distance) or p < threshold (p_value)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. z score, degrees of freedom

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "threshold": self.threshold,
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
            "mde": self.mde,
            "effect_passed": self.effect_passed,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass(frozen=True)
class TestInput:
    """What a test may use. Counts may be fractional (baseline shares × baseline rows).

    ``edges`` are the interior bin edges of a numeric feature (``len(edges) + 1`` bins);
    ``ref_min``/``ref_max`` close the two open outer bins; ``ref_std`` normalises distances.
    """

    __test__ = False

    ref_counts: np.ndarray | None = None
    cur_counts: np.ndarray | None = None
    ref_values: np.ndarray | None = None
    cur_values: np.ndarray | None = None
    edges: np.ndarray | None = None
    ref_min: float | None = None
    ref_max: float | None = None
    ref_std: float | None = None

    def counts(self, test: str) -> tuple[np.ndarray, np.ndarray]:
        if self.ref_counts is None or self.cur_counts is None:
            raise InvalidInput(test, "needs reference and current bin counts")
        ref = np.asarray(self.ref_counts, dtype=float)
        cur = np.asarray(self.cur_counts, dtype=float)
        if ref.shape != cur.shape or ref.ndim != 1:
            raise InvalidInput(test, f"reference and current counts differ: {ref.shape} vs {cur.shape}")
        if (ref < 0).any() or (cur < 0).any() or not (np.isfinite(ref).all() and np.isfinite(cur).all()):
            raise InvalidInput(test, "counts must be finite and non-negative")
        return ref, cur

    def values(self, test: str) -> tuple[np.ndarray, np.ndarray]:
        if self.ref_values is None or self.cur_values is None:
            raise InvalidInput(test, "needs reference and current raw values")
        return np.asarray(self.ref_values, dtype=float), np.asarray(self.cur_values, dtype=float)


Runner = Callable[[TestInput, float, float], TestResult]  # (data, threshold, alpha) -> result


@dataclass(frozen=True)
class StatTest:
    """A registered test. ``run(data, threshold, alpha)``; alpha only feeds the ``mde``."""

    name: str
    display_name: str
    kind: TestKind
    feature_kinds: tuple[FeatureKind, ...]
    default_threshold: float
    needs: InputKind
    run: Runner
    binned_variant: str | None = None  # what to use instead when only counts are at hand
    description: str = ""

    def __call__(self, data: TestInput, threshold: float | None = None, alpha: float = 0.05) -> TestResult:
        return self.run(data, self.default_threshold if threshold is None else threshold, alpha)


def passed(kind: TestKind, statistic: float, p_value: float | None, threshold: float) -> bool:
    if kind == "distance":
        return bool(np.isfinite(statistic) and statistic >= threshold)
    return p_value is not None and bool(p_value < threshold)


def shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts, dtype=float)


def as_count(total: float) -> int:
    """Sample size for reporting: fractional baseline counts (shares × rows) are rounded."""
    return round(float(total))
