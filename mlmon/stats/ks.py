"""Kolmogorov–Smirnov two-sample test: exact on raw values, or from bin counts.

* ``ks`` — on the raw values, sorted once per sample and merged once (:mod:`mlmon.stats.exact`): the statistic
  equals :func:`scipy.stats.ks_2samp`'s; the p-value is the exact one for ``n·m <= 10⁶`` and Smirnov's
  asymptotic one above (``ks_2samp(method="asymp")``). NaN are dropped; ±inf keep their order (they are the
  extreme values).
* ``ks_binned`` — the KS statistic from cumulative bin shares, ``D = max_i |F_ref(e_i) - F_cur(e_i)|`` over the
  bin edges. It equals the exact statistic when no two distinct values share a bin, and is otherwise a lower
  bound (the CDFs are only compared at the edges), so the test is conservative. The p-value is Smirnov's
  asymptotic one, as ``ks_2samp(method="asymp")`` computes it: ``kstwo.sf(D, round(n·m/(n+m)))`` (below 10⁻⁶
  the limiting Kolmogorov one, :func:`mlmon.stats.exact.asymptotic_ks_p`).
"""

from __future__ import annotations

import numpy as np

from mlmon.stats.base import Measurement, SampleInput, StatTest, shares
from mlmon.stats.exact import asymptotic_ks_p
from mlmon.stats.power import ks_critical


def ks_binned_statistic(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    cdf_ref = np.cumsum(shares(ref_counts))
    cdf_cur = np.cumsum(shares(cur_counts))
    return float(np.max(np.abs(cdf_ref - cdf_cur))) if cdf_ref.size else 0.0


def ks_asymptotic_p(statistic: float, n: float, m: float) -> float:
    if n <= 0 or m <= 0:
        return float("nan")
    return float(asymptotic_ks_p(np.array([statistic]), np.array([round(n * m / (n + m))], dtype=float))[0])


def measure_exact(data: SampleInput, alpha: float) -> Measurement:
    pair = data.pair
    n, m = pair.ref.size, pair.cur.size
    return Measurement(pair.ks_statistic, pair.ks_p_value, n, m, ks_critical(n, m, alpha))


def measure_binned(data: SampleInput, alpha: float) -> Measurement:
    ref, cur = data.counts("ks_binned")
    n, m = float(ref.sum()), float(cur.sum())
    if n <= 0 or m <= 0:
        return Measurement(float("nan"), float("nan"), n, m, ks_critical(n, m, alpha))
    d = ks_binned_statistic(ref, cur)
    return Measurement(d, ks_asymptotic_p(d, n, m), n, m, ks_critical(n, m, alpha))


KS = StatTest(
    name="ks",
    display_name="Kolmogorov–Smirnov (exact)",
    kind="p_value",
    feature_kinds=("numeric",),
    default_threshold=0.05,
    needs="values",
    measure=measure_exact,
    binned_variant="ks_binned",
    description="two-sample KS on raw values (scipy.stats.ks_2samp's statistic and p-value)",
)

KS_BINNED = StatTest(
    name="ks_binned",
    display_name="Kolmogorov–Smirnov (binned)",
    kind="p_value",
    feature_kinds=("numeric",),
    default_threshold=0.05,
    needs="counts",
    measure=measure_binned,
    description="KS statistic from cumulative bin shares, asymptotic p-value",
)
