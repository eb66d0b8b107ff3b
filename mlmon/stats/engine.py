"""Compare a window with the baseline: per feature, one effect size and one significance test.

Usage::

    from mlmon.stats.baseline import from_profile
    from mlmon.stats.engine import compare
    from mlmon.stats.decision import decide

    baseline = from_profile(model.profile, reference_values={"x": x_ref, "prediction": scores})  # once per version
    current = store.binned_counts(window, bins) | {"x": xs}         # BinnedCounts or arrays, per feature
    results = compare(baseline, current, rows=window_rows, alpha=settings.alpha,
                      exact_max_rows=settings.exact_ks_max_rows,
                      overrides={f.name: f.drift for f in spec.features})
    decisions, history = decide(results, consecutive=settings.consecutive, min_rows=settings.min_rows,
                                history=history)

``current`` maps a feature name to either

* a numpy array of the window's values (numeric: float, NaN = missing, ±inf allowed; categorical: object
  or string array, ``None``/NaN = missing; boolean: bool array or ``"true"``/``"false"`` strings), or
* counts already binned on the baseline's bins (``mlmon.store.base.BinnedCounts`` or
  :class:`mlmon.stats.binning.Counts`: ``counts``, ``missing``, optionally ``sums`` — the per-bin sums of a
  numeric feature's values — and ``nonfinite``; categorical counts end with ``__other__``).

A baseline feature missing from ``current`` counts as 100 % missing over ``rows`` (the window's row count;
default: the largest ``total`` among the given features): a data-quality finding, not an error. Features
in ``current`` but not in the baseline are ignored.

Each result (:class:`FeatureComparison`) is one check of one feature with a ``role``:

* ``"output"`` / ``"input"`` — the distribution of the values present (missing rows excluded);
* ``"quality"`` — the missing share (Z-test); only emitted when the baseline or the window has missing
  values, so that complete features do not dilute the Benjamini–Hochberg correction with p = 1.

Paths. Raw arrays use exact KS and raw Wasserstein when both the baseline's raw sample
(``NumericBaseline.values``, kept sorted) and the window have at most ``exact_max_rows`` values: each window
column is sorted once and merged once with the reference for both tests, and the KS p-values of all columns come
from one vectorised call. Otherwise everything is computed from bin counts, so arrays, SQLite and Elasticsearch
give the same numbers; with per-bin sums on both sides (arrays are summed here; the reference's come from its
sample) binned Wasserstein and the reported means match the raw values.

Thresholds. An effect threshold the spec does not set is calibrated on the baseline at the sizes the test used
(:mod:`mlmon.stats.calibration`, cached on ``baseline.calibration``); every result says which threshold judged it
and where it came from (``threshold_source``). ``calibrate=False`` uses each test's practical floor. Reported
``n_ref``/``n_cur`` are the sizes the tests used: the raw reference sample on the exact path, else the
feature's reference count (e.g. the holdout scores behind the output's bins).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from mlmon.errors import InvalidInput
from mlmon.stats.base import FeatureKind, SampleInput, StatResult, StatTest, Threshold
from mlmon.stats.baseline import Baseline, CategoricalBaseline, FeatureBaseline, NumericBaseline
from mlmon.stats.binning import OTHER, bin_labels, finite_part
from mlmon.stats.calibration import Request
from mlmon.stats.exact import SortedPair
from mlmon.stats.selection import Override, choose_tests, use_exact
from mlmon.stats.window import Current, Observed, absent, batch_p_values, observe

# below this share, values beyond the baseline min/max are the normal tail of a new sample
OUT_OF_RANGE_FINDING = 0.001

CheckRole = Literal["output", "input", "quality"]
Path = Literal["exact", "binned"]


@dataclass
class FeatureComparison:
    """One check of one feature; ``effect``/``significance`` are None when a side has no values."""

    feature: str
    role: CheckRole
    kind: FeatureKind
    n_ref: int
    n_cur: int
    effect: StatResult | None
    significance: StatResult | None
    alpha: float = 0.05  # significance level for the BH-adjusted p-value of this check
    findings: list[str] = field(default_factory=list)  # data-quality observations, plain sentences
    labels: list[str] = field(default_factory=list)  # bin / category names
    ref_shares: list[float] = field(default_factory=list)
    cur_shares: list[float] = field(default_factory=list)
    summary: dict[str, float | None] = field(default_factory=dict)  # missing shares, mean, …
    path: Path = "binned"  # "exact": raw values (exact KS / Wasserstein); "binned": bin counts

    @property
    def key(self) -> str:
        return f"{self.role}:{self.feature}"

    @property
    def score(self) -> float:
        """Effect size relative to its threshold (≥ 1 passes); NaN when there is no effect."""
        if self.effect is None or not math.isfinite(self.effect.statistic) or self.effect.threshold <= 0:
            return math.nan
        return self.effect.statistic / self.effect.threshold


def _two_bins(counts: np.ndarray | None, base: CategoricalBaseline) -> np.ndarray | None:
    """[not true, true] for a test of one share (the Z-test) on a boolean feature."""
    if counts is None:
        return None
    if "true" not in base.categories:
        raise InvalidInput("ztest", "needs a boolean feature with a 'true' category")
    hit = counts[base.categories.index("true")]
    return np.array([counts.sum() - hit, hit])


@dataclass(frozen=True)
class _Judge:
    """How thresholds are set in one run."""

    baseline: Baseline
    alpha: float
    calibrate: bool

    def run(
        self,
        feature: str,
        test: StatTest,
        data: SampleInput,
        fixed: float | None,
        categories: CategoricalBaseline | None = None,
    ) -> StatResult:
        """``categories``: a categorical feature's baseline, to fold its counts for a test of one share."""
        if test.proportion and categories is not None:
            data = SampleInput(_two_bins(data.ref_counts, categories), _two_bins(data.cur_counts, categories))
        measured = test.measure(data, self.alpha)
        if fixed is not None:
            return test.judge(measured, Threshold(fixed, "override"))
        if test.kind == "p_value":
            return test.judge(measured, Threshold(self.alpha, "alpha"))
        if not self.calibrate:
            return test.judge(measured, None)
        threshold = self.baseline.calibration.threshold(feature, test, data, measured.n_ref, measured.n_cur)
        return test.judge(measured, threshold)


def _finite(values: np.ndarray, *, ordered: bool) -> np.ndarray:
    if values.dtype.kind != "f":
        return values
    return finite_part(values) if ordered else values[np.isfinite(values)]


def _numeric_findings(
    base: NumericBaseline, values: np.ndarray, summary: dict[str, float | None], *, ordered: bool
) -> list[str]:
    """Range and constancy findings; ``ordered``: ``values`` are sorted, NaN dropped (the exact path)."""
    findings: list[str] = []
    finite = _finite(values, ordered=ordered)
    if finite.size == 0:
        return findings
    if ordered:
        lo, hi = float(finite[0]), float(finite[-1])
        outside = int(np.searchsorted(finite, base.min, side="left"))
        outside += int(finite.size - np.searchsorted(finite, base.max, side="right"))
    else:
        lo, hi = float(finite.min()), float(finite.max())
        outside = int(np.count_nonzero(finite < base.min) + np.count_nonzero(finite > base.max))
    summary.update(cur_mean=float(finite.mean()), cur_min=lo, cur_max=hi)
    share = outside / finite.size
    summary["out_of_range_share"] = share
    if share >= OUT_OF_RANGE_FINDING:
        findings.append(f"{share:.1%} of values outside the baseline range [{base.min:.4g}, {base.max:.4g}]")
    if lo == hi and finite.size > 1 and base.std > 0:
        findings.append(f"constant in the window (every value is {lo:.4g})")
    return findings


def _sample_input(
    base: FeatureBaseline,
    n_ref: float,
    *,
    cur_counts: np.ndarray | None = None,
    cur_sums: np.ndarray | None = None,
    pair: SortedPair | None = None,
) -> SampleInput:
    """What the tests see of one feature: the reference as ``shares × n_ref`` (with per-bin sums when the
    baseline has bin means), the window, and the context of a numeric feature's bins."""
    numeric = base if isinstance(base, NumericBaseline) else None
    ref_sums = None if numeric is None or numeric.bin_means is None else base.shares * n_ref * numeric.bin_means
    return SampleInput(
        ref_counts=base.shares * n_ref,
        cur_counts=cur_counts,
        edges=numeric.edges if numeric else None,
        ref_min=numeric.min if numeric else None,
        ref_max=numeric.max if numeric else None,
        ref_std=numeric.std if numeric else None,
        ref_sums=ref_sums,
        cur_sums=cur_sums if ref_sums is not None else None,
        presorted=pair,
    )


def _quality_input(base: FeatureBaseline, rows: int) -> tuple[SampleInput, float]:
    """The reference side of the missing-share check, ``[present, missing]``, and its row count."""
    ref_present = base.reference_size(rows)
    ref_rows = ref_present / (1.0 - base.missing_share) if base.missing_share < 1 else float(rows)
    return SampleInput(ref_counts=np.array([ref_present, ref_rows - ref_present])), ref_rows


def _distribution(
    name: str,
    base: FeatureBaseline,
    obs: Observed,
    judge: _Judge,
    override: Override | None,
) -> FeatureComparison:
    pair = obs.pair
    exact = pair is not None
    n_ref = float(pair.ref.size) if pair is not None else base.reference_size(judge.baseline.rows)
    n_cur = float(obs.counts.sum())
    summary: dict[str, float | None] = {"ref_missing_share": base.missing_share}
    findings: list[str] = []
    if isinstance(base, NumericBaseline):
        labels = bin_labels(base.edges)
        summary.update(ref_min=base.min, ref_max=base.max, ref_std=base.std)
        if base.bin_means is not None:
            summary["ref_mean"] = float(np.sum(base.shares * base.bin_means))
        if base.std == 0:
            findings.append("constant in the baseline")
    else:
        labels = [*base.categories, OTHER]
    if obs.nonfinite:
        findings.append(f"{obs.nonfinite} non-finite values (±inf)")
    cur_shares = obs.counts / n_cur if n_cur > 0 else np.zeros_like(obs.counts)
    result = FeatureComparison(
        feature=name,
        role=base.role,
        kind=base.kind,
        n_ref=round(n_ref),
        n_cur=round(n_cur),
        effect=None,
        significance=None,
        alpha=judge.alpha,
        findings=findings,
        labels=labels,
        ref_shares=[float(s) for s in base.shares],
        cur_shares=[float(s) for s in cur_shares],
        summary=summary,
        path="exact" if exact else "binned",
    )
    if n_cur <= 0:
        findings.append("no values in the window" + (" (feature absent)" if obs.absent else ""))
        return result
    if n_ref <= 0:
        findings.append("no values in the baseline")
        return result
    if isinstance(base, CategoricalBaseline) and cur_shares[-1] > base.shares[-1]:
        findings.append(f"{cur_shares[-1]:.1%} of values are categories unseen in the baseline")
    if isinstance(base, NumericBaseline):
        if pair is not None:
            findings.extend(_numeric_findings(base, pair.cur, summary, ordered=True))
        elif obs.values is not None:
            findings.extend(_numeric_findings(base, obs.values, summary, ordered=False))
        elif obs.sums is not None:
            summary["cur_mean"] = float(obs.sums.sum() / n_cur)
    choice = choose_tests(base.kind, base.role, has_values=exact, alpha=judge.alpha, override=override, feature=name)
    data = _sample_input(base, n_ref, cur_counts=obs.counts, cur_sums=obs.sums, pair=pair)
    categories = base if isinstance(base, CategoricalBaseline) else None
    result.alpha = choice.significance_threshold
    result.effect = judge.run(name, choice.effect, data, choice.effect_threshold, categories)
    if choice.significance is choice.effect and choice.effect_threshold is None:
        result.significance = result.effect
    else:
        fixed = choice.significance_threshold if choice.significance_overridden else None
        result.significance = judge.run(name, choice.significance, data, fixed, categories)
    return result


def _quality(name: str, base: FeatureBaseline, obs: Observed, judge: _Judge) -> FeatureComparison:
    present = float(obs.counts.sum())
    total = present + obs.missing
    cur_share = obs.missing / total if total else math.nan
    reference, ref_rows = _quality_input(base, judge.baseline.rows)
    data = replace(reference, cur_counts=np.array([present, float(obs.missing)]))
    choice = choose_tests("missing", "quality", alpha=judge.alpha)
    effect = judge.run(name, choice.effect, data, None) if total > 0 else None
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


def calibrate(
    baseline: Baseline,
    rows: int,
    *,
    alpha: float = 0.05,
    exact_max_rows: int = 50_000,
    overrides: Mapping[str, Override | None] | None = None,
) -> int:
    """Calibrate, ahead of the first run, the thresholds a window of ``rows`` rows will need (each feature at
    ``rows × (1 - missing_share)`` values, the path :func:`compare` would take, numeric counts with per-bin
    sums); returns how many thresholds were drawn. Optional: :func:`compare` calibrates what it misses."""
    overrides = overrides or {}
    drawn = baseline.calibration.draws
    requests: list[Request] = []
    for name, base in baseline.features.items():
        n_cur = rows * (1.0 - base.missing_share)
        reference = base.values if isinstance(base, NumericBaseline) else None
        exact = reference is not None and use_exact(int(reference.size), int(n_cur), exact_max_rows)
        choice = choose_tests(base.kind, base.role, has_values=exact, alpha=alpha, override=overrides.get(name))
        if choice.effect_threshold is None and n_cur > 0:
            n_ref = float(reference.size) if exact and reference is not None else base.reference_size(baseline.rows)
            pair = SortedPair(reference, np.empty(0)) if exact and reference is not None else None
            data = _sample_input(base, n_ref, pair=pair)
            data = replace(data, cur_sums=data.ref_sums)  # the window will bring sums too
            if choice.effect.proportion and isinstance(base, CategoricalBaseline):
                data = SampleInput(_two_bins(data.ref_counts, base))
            requests.append((name, choice.effect, data, n_ref, n_cur))
        if base.missing_share > 0:
            quality, ref_rows = _quality_input(base, baseline.rows)
            requests.append((name, choose_tests("missing").effect, quality, ref_rows, float(rows)))
    baseline.calibration.prime(requests)
    return baseline.calibration.draws - drawn


def compare(
    baseline: Baseline,
    current: Mapping[str, Current],
    *,
    rows: int | None = None,
    alpha: float = 0.05,
    exact_max_rows: int = 50_000,
    overrides: Mapping[str, Override | None] | None = None,
    calibrate: bool = True,
) -> list[FeatureComparison]:
    """Every baseline feature against the window; see the module docstring."""
    overrides = overrides or {}
    observed: dict[str, Observed] = {}
    for name, base in baseline.features.items():
        if name in current:
            observed[name] = observe(name, base, current[name], exact_max_rows)
    if rows is None:
        rows = max((int(o.counts.sum()) + o.missing for o in observed.values()), default=0)
    batch_p_values(observed)
    judge = _Judge(baseline, alpha, calibrate)
    results: list[FeatureComparison] = []
    for name, base in baseline.features.items():
        obs = observed.get(name) or absent(base, rows)
        results.append(_distribution(name, base, obs, judge, overrides.get(name)))
        if base.missing_share > 0 or obs.missing > 0:
            results.append(_quality(name, base, obs, judge))
    return sorted(results, key=_sort_key)
