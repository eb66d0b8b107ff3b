"""Kolmogorov–Smirnov two-sample test: exact on raw values, or from bin counts.

* ``ks`` — :func:`scipy.stats.ks_2samp` on the raw values (two-sided, ``method="auto"``). NaN are dropped;
  ±inf keep their order (they are the extreme values).
* ``ks_binned`` — the KS statistic from cumulative bin shares, ``D = max_i |F_ref(e_i) - F_cur(e_i)|``
  over the bin edges. It equals the exact statistic when no two distinct values share a bin, and is
  otherwise a lower bound (the CDFs are only compared at the edges), so the test is conservative. The
  p-value is Smirnov's asymptotic one, as ``ks_2samp(method="asymp")`` computes it:
  ``kstwo.sf(D, round(n·m/(n+m)))``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from mlmon.stats import power
from mlmon.stats.base import StatTest, TestInput, TestResult, as_count, passed, shares


def ks_binned_statistic(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    cdf_ref = np.cumsum(shares(ref_counts))
    cdf_cur = np.cumsum(shares(cur_counts))
    return float(np.max(np.abs(cdf_ref - cdf_cur))) if cdf_ref.size else 0.0


def ks_asymptotic_p(statistic: float, n: float, m: float) -> float:
    if n <= 0 or m <= 0:
        return float("nan")
    en = n * m / (n + m)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(en)), 0.0, 1.0))


def _result(name: str, d: float, p: float, n: float, m: float, threshold: float, alpha: float) -> TestResult:
    return TestResult(
        test=name,
        statistic=d,
        p_value=p,
        threshold=threshold,
        n_ref=as_count(n),
        n_cur=as_count(m),
        mde=power.ks_critical(n, m, alpha),
        effect_passed=passed("p_value", d, p, threshold),
    )


def run_exact(data: TestInput, threshold: float, alpha: float) -> TestResult:
    ref, cur = data.values("ks")
    ref = ref[~np.isnan(ref)]
    cur = cur[~np.isnan(cur)]
    if ref.size == 0 or cur.size == 0:
        return _result("ks", float("nan"), float("nan"), ref.size, cur.size, threshold, alpha)
    res = stats.ks_2samp(ref, cur)
    return _result("ks", float(res.statistic), float(res.pvalue), ref.size, cur.size, threshold, alpha)


def run_binned(data: TestInput, threshold: float, alpha: float) -> TestResult:
    ref, cur = data.counts("ks_binned")
    n, m = float(ref.sum()), float(cur.sum())
    if n <= 0 or m <= 0:
        return _result("ks_binned", float("nan"), float("nan"), n, m, threshold, alpha)
    d = ks_binned_statistic(ref, cur)
    return _result("ks_binned", d, ks_asymptotic_p(d, n, m), n, m, threshold, alpha)


KS = StatTest(
    name="ks",
    display_name="Kolmogorov–Smirnov (exact)",
    kind="p_value",
    feature_kinds=("numeric",),
    default_threshold=0.05,
    needs="values",
    run=run_exact,
    binned_variant="ks_binned",
    description="two-sample KS on raw values (scipy.stats.ks_2samp)",
)

KS_BINNED = StatTest(
    name="ks_binned",
    display_name="Kolmogorov–Smirnov (binned)",
    kind="p_value",
    feature_kinds=("numeric",),
    default_threshold=0.05,
    needs="counts",
    run=run_binned,
    description="KS statistic from cumulative bin shares, asymptotic p-value",
)
