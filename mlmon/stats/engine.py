"""Compare a window with the baseline: per feature, one effect size and one significance test.

Usage::

    from mlmon.stats.baseline import from_profile
    from mlmon.stats.engine import compare
    from mlmon.stats.decision import decide

    baseline = from_profile(model.profile)                         # or Baseline(rows, {name: …})
    current = store.binned_counts(window, bins) | {"age": ages}     # BinnedCounts or arrays, per feature
    results = compare(baseline, current, rows=window_rows, alpha=settings.alpha,
                      exact_max_rows=settings.exact_ks_max_rows,
                      overrides={f.name: f.drift for f in spec.features})
    decisions, history = decide(results, consecutive=settings.consecutive, min_rows=settings.min_rows,
                                history=history)

``current`` maps a feature name to either

* a numpy array of the window's values (numeric: float, NaN = missing, ±inf allowed; categorical: object
  or string array, ``None``/NaN = missing; boolean: bool array or ``"true"``/``"false"`` strings), or
* counts already binned on the baseline's bins (``mlmon.store.base.BinnedCounts`` or
  :class:`mlmon.stats.binning.Counts`: ``counts``, ``missing``; categorical counts end with
  ``__other__``).

A baseline feature missing from ``current`` counts as 100 % missing over ``rows`` (the window's row count;
default: the largest ``total`` among the given features): a data-quality finding, not an error. Features
in ``current`` but not in the baseline are ignored.

Each result (:class:`FeatureComparison`) is one check of one feature with a ``role``:

* ``"output"`` / ``"input"`` — the distribution of the values present (missing rows excluded);
* ``"quality"`` — the missing share (Z-test); only emitted when the baseline or the window has missing
  values, so that complete features do not dilute the Benjamini–Hochberg correction with p = 1.

Results come ordered: outputs first, then inputs and quality checks by ``score`` (effect / threshold),
largest first. Raw arrays use exact KS and raw Wasserstein when both the baseline's raw sample
(``NumericBaseline.values``) and the window have at most ``exact_max_rows`` values; otherwise everything
is computed from bin counts, so arrays, SQLite and Elasticsearch give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from mlmon.errors import InvalidInput
from mlmon.stats.base import FeatureKind, StatTest, TestInput, TestResult
from mlmon.stats.baseline import Baseline, CategoricalBaseline, FeatureBaseline, NumericBaseline
from mlmon.stats.binning import OTHER, bin_labels, categorical_counts, numeric_counts
from mlmon.stats.selection import Override, choose_tests, use_exact

# below this share, values beyond the baseline min/max are the normal tail of a new sample
OUT_OF_RANGE_FINDING = 0.001

CheckRole = Literal["output", "input", "quality"]


class BinnedLike(Protocol):
    """``mlmon.store.base.BinnedCounts`` or :class:`Counts`."""

    @property
    def counts(self) -> np.ndarray: ...

    @property
    def missing(self) -> int: ...


Current = np.ndarray | BinnedLike


@dataclass
class FeatureComparison:
    """One check of one feature; ``effect``/``significance`` are None when a side has no values."""

    feature: str
    role: CheckRole
    kind: FeatureKind
    n_ref: int
    n_cur: int
    effect: TestResult | None
    significance: TestResult | None
    alpha: float = 0.05  # significance level for the BH-adjusted p-value of this check
    findings: list[str] = field(default_factory=list)  # data-quality observations, plain sentences
    labels: list[str] = field(default_factory=list)  # bin / category names
    ref_shares: list[float] = field(default_factory=list)
    cur_shares: list[float] = field(default_factory=list)
    summary: dict[str, float | None] = field(default_factory=dict)  # missing shares, mean, …

    @property
    def key(self) -> str:
        return f"{self.role}:{self.feature}"

    @property
    def score(self) -> float:
        """Effect size relative to its threshold (≥ 1 passes); NaN when there is no effect."""
        if self.effect is None or not math.isfinite(self.effect.statistic) or self.effect.threshold <= 0:
            return math.nan
        return self.effect.statistic / self.effect.threshold

    @property
    def tests(self) -> list[TestResult]:
        found = [t for t in (self.effect, self.significance) if t is not None]
        return found[:1] if len(found) == 2 and found[0] is found[1] else found

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "role": self.role,
            "kind": self.kind,
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
            "score": None if math.isnan(self.score) else self.score,
            "effect": self.effect.to_dict() if self.effect else None,
            "significance": self.significance.to_dict() if self.significance else None,
            "alpha": self.alpha,
            "findings": list(self.findings),
            "labels": list(self.labels),
            "ref_shares": list(self.ref_shares),
            "cur_shares": list(self.cur_shares),
            "summary": dict(self.summary),
        }


@dataclass
class _Observed:
    counts: np.ndarray
    missing: int
    nonfinite: int = 0
    values: np.ndarray | None = None  # the raw array, when given
    absent: bool = False


def _observe(name: str, base: FeatureBaseline, data: Current | None, rows: int) -> _Observed:
    k = base.shares.size
    if data is None:
        return _Observed(np.zeros(k), rows, absent=True)
    if isinstance(data, np.ndarray):
        if isinstance(base, NumericBaseline):
            if data.dtype.kind not in "fiub":
                raise InvalidInput(name, f"numeric feature needs a numeric array, got dtype {data.dtype}")
            counted = numeric_counts(data, base.edges)
        else:
            counted = categorical_counts(data, base.categories)
        return _Observed(counted.counts.astype(float), counted.missing, counted.nonfinite, data)
    counts = np.asarray(data.counts, dtype=float)
    if counts.shape != (k,):
        raise InvalidInput(name, f"expected {k} bin counts (baseline bins), got {counts.size}")
    return _Observed(counts, int(data.missing), int(getattr(data, "nonfinite", 0)))


def _two_bins(counts: np.ndarray, base: CategoricalBaseline) -> np.ndarray:
    """[not true, true] for the Z-test on a boolean feature."""
    if "true" not in base.categories:
        raise InvalidInput("ztest", "needs a boolean feature with a 'true' category")
    hit = counts[base.categories.index("true")]
    return np.array([counts.sum() - hit, hit])


def _run(test: StatTest, data: TestInput, threshold: float, alpha: float, base: FeatureBaseline) -> TestResult:
    if test.name == "ztest" and isinstance(base, CategoricalBaseline):
        assert data.ref_counts is not None and data.cur_counts is not None
        data = TestInput(_two_bins(data.ref_counts, base), _two_bins(data.cur_counts, base))
    return test(data, threshold, alpha)


def _numeric_findings(base: NumericBaseline, values: np.ndarray, summary: dict[str, float | None]) -> list[str]:
    findings: list[str] = []
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return findings
    lo, hi = float(finite.min()), float(finite.max())
    summary.update(cur_mean=float(finite.mean()), cur_min=lo, cur_max=hi)
    outside = int(np.count_nonzero(finite < base.min) + np.count_nonzero(finite > base.max))
    share = outside / finite.size
    summary["out_of_range_share"] = share
    if share >= OUT_OF_RANGE_FINDING:
        findings.append(f"{share:.1%} of values outside the baseline range [{base.min:.4g}, {base.max:.4g}]")
    if lo == hi and finite.size > 1 and base.std > 0:
        findings.append(f"constant in the window (every value is {lo:.4g})")
    return findings


def _distribution(
    name: str,
    base: FeatureBaseline,
    obs: _Observed,
    ref_rows: float,
    alpha: float,
    exact_max_rows: int,
    override: Override | None,
) -> FeatureComparison:
    n_ref = ref_rows * (1.0 - base.missing_share)
    n_cur = float(obs.counts.sum())
    kind: FeatureKind = base.kind
    summary: dict[str, float | None] = {"ref_missing_share": base.missing_share}
    findings: list[str] = []
    if isinstance(base, NumericBaseline):
        labels = bin_labels(base.edges)
        summary.update(ref_min=base.min, ref_max=base.max, ref_std=base.std)
        if base.std == 0:
            findings.append("constant in the baseline")
    else:
        labels = [*base.categories, OTHER]
    if obs.nonfinite:
        findings.append(f"{obs.nonfinite} non-finite values (±inf)")
    ref_counts = base.shares * n_ref
    cur_shares = obs.counts / n_cur if n_cur > 0 else np.zeros_like(obs.counts)
    result = FeatureComparison(
        feature=name,
        role=base.role,
        kind=kind,
        n_ref=round(n_ref),
        n_cur=round(n_cur),
        effect=None,
        significance=None,
        alpha=alpha,
        findings=findings,
        labels=labels,
        ref_shares=[float(s) for s in base.shares],
        cur_shares=[float(s) for s in cur_shares],
        summary=summary,
    )
    if n_cur <= 0:
        findings.append("no values in the window" + (" (feature absent)" if obs.absent else ""))
        return result
    if n_ref <= 0:
        findings.append("no values in the baseline")
        return result
    if isinstance(base, CategoricalBaseline) and cur_shares[-1] > base.shares[-1]:
        findings.append(f"{cur_shares[-1]:.1%} of values are categories unseen in the baseline")

    ref_values = cur_values = None
    exact = False
    if isinstance(base, NumericBaseline) and obs.values is not None:
        findings.extend(_numeric_findings(base, obs.values, summary))
        ref_size = None if base.values is None else int(base.values.size)
        exact = use_exact(ref_size, int(n_cur), exact_max_rows)
        if exact:
            ref_values = base.values
            cur_values = obs.values[~np.isnan(obs.values)] if obs.values.dtype.kind == "f" else obs.values
    choice = choose_tests(kind, base.role, has_values=exact, alpha=alpha, override=override, feature=name)
    data = TestInput(
        ref_counts=ref_counts,
        cur_counts=obs.counts,
        ref_values=ref_values,
        cur_values=cur_values,
        edges=base.edges if isinstance(base, NumericBaseline) else None,
        ref_min=base.min if isinstance(base, NumericBaseline) else None,
        ref_max=base.max if isinstance(base, NumericBaseline) else None,
        ref_std=base.std if isinstance(base, NumericBaseline) else None,
    )
    result.alpha = choice.significance_threshold
    result.effect = _run(choice.effect, data, choice.effect_threshold, alpha, base)
    if choice.significance is choice.effect and choice.significance_threshold == choice.effect_threshold:
        result.significance = result.effect
    else:
        result.significance = _run(choice.significance, data, choice.significance_threshold, alpha, base)
    return result


def _quality(name: str, base: FeatureBaseline, obs: _Observed, ref_rows: float, alpha: float) -> FeatureComparison:
    present = float(obs.counts.sum())
    total = present + obs.missing
    cur_share = obs.missing / total if total else math.nan
    data = TestInput(
        ref_counts=np.array([ref_rows * (1.0 - base.missing_share), ref_rows * base.missing_share]),
        cur_counts=np.array([present, float(obs.missing)]),
    )
    choice = choose_tests("missing", "quality", alpha=alpha)
    effect = choice.effect(data, choice.effect_threshold, alpha) if total > 0 else None
    findings = []
    if total > 0 and obs.missing == total:
        findings.append("feature absent from the window" if obs.absent else "every value is missing")
    elif total > 0 and effect is not None and effect.effect_passed:
        findings.append(f"missing share {base.missing_share:.1%} → {cur_share:.1%}")
    return FeatureComparison(
        feature=name,
        role="quality",
        kind="missing",
        n_ref=round(ref_rows),
        n_cur=round(total),
        effect=effect,
        significance=effect,
        alpha=choice.significance_threshold,
        findings=findings,
        labels=["present", "missing"],
        ref_shares=[1.0 - base.missing_share, base.missing_share],
        cur_shares=[1.0 - cur_share, cur_share] if total else [],
        summary={"ref_missing_share": base.missing_share, "cur_missing_share": cur_share if total else None},
    )


def _sort_key(result: FeatureComparison) -> tuple[int, int, float, str, str]:
    score = result.score
    unknown = math.isnan(score)
    return (0 if result.role == "output" else 1, int(unknown), 0.0 if unknown else -score, result.feature, result.role)


def compare(
    baseline: Baseline,
    current: Mapping[str, Current],
    *,
    rows: int | None = None,
    alpha: float = 0.05,
    exact_max_rows: int = 50_000,
    overrides: Mapping[str, Override | None] | None = None,
) -> list[FeatureComparison]:
    """Every baseline feature against the window; see the module docstring."""
    overrides = overrides or {}
    observed: dict[str, _Observed] = {}
    for name, base in baseline.features.items():
        if name in current:
            observed[name] = _observe(name, base, current[name], 0)
    if rows is None:
        rows = max((int(o.counts.sum()) + o.missing for o in observed.values()), default=0)
    results: list[FeatureComparison] = []
    for name, base in baseline.features.items():
        obs = observed.get(name) or _observe(name, base, None, rows)
        results.append(_distribution(name, base, obs, baseline.rows, alpha, exact_max_rows, overrides.get(name)))
        if base.missing_share > 0 or obs.missing > 0:
            results.append(_quality(name, base, obs, baseline.rows, alpha))
    return sorted(results, key=_sort_key)
