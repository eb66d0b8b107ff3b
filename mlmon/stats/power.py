"""Smallest detectable effect (MDE) at given sample sizes, in the unit of each test's statistic.

``n`` is the reference size, ``m`` the current size, ``alpha`` the two-sided significance level and
``power`` the chance to detect an effect of exactly the MDE (0.8 where it applies). ``None`` when a
sample is empty. The approximations, and why they hold:

* **KS** (:func:`ks_critical`): the critical distance ``D = c(α)·sqrt((n+m)/(n·m))`` with
  ``c(α) = sqrt(-ln(α/2)/2)`` (Smirnov's asymptotic bound); a shift with ``D`` at this value is detected
  half of the time (no power term: the KS alternative distribution has no closed form).
* **Chi-square family** (:func:`chi2_mde`, :func:`psi_mde`, :func:`js_mde`, :func:`l1_mde`): the
  noncentrality ``λ`` for which a chi-square test with ``df = bins - 1`` reaches the power at ``α``
  (noncentral chi-square). For two samples, ``λ = Σ (p_i - q_i)²/π_i · n·m/(n+m)``, so with
  ``h = 1/n + 1/m``:

  - chi-square statistic: expected statistic at that alternative, ``df + λ``;
  - PSI: PSI ≈ Σ (p_i - q_i)²/π_i for small differences (symmetric KL), so ``PSI_mde = λ·h``;
  - Jensen–Shannon distance (base 2): JSD ≈ Σ (p_i - q_i)²/(8·m_i·ln 2), so ``sqrt(λ·h / (8 ln 2))``;
  - L1/D1: by Cauchy–Schwarz Σ|p_i - q_i| ≤ sqrt(Σ (p_i - q_i)²/π_i), so ``sqrt(λ·h)`` — the largest
    L1 distance that can still hide at the detection boundary (conservative).
* **Two proportions** (:func:`proportion_mde`): ``(z_{1-α/2} + z_power)·sqrt(p(1-p)·h)`` with ``p`` the
  reference proportion, kept at least ``1/(n+m)`` away from 0 and 1 so that a constant baseline still
  gives a usable (small) MDE.
* **Normalised Wasserstein** (:func:`location_shift_mde`): a pure location shift of ``δ`` reference
  standard deviations has normalised Wasserstein distance ``δ``; a two-sample z-test on the means
  detects ``δ = (z_{1-α/2} + z_power)·sqrt(h)``.
"""

from __future__ import annotations

import math
from functools import lru_cache

from scipy import optimize, stats

DEFAULT_POWER = 0.8


def _h(n: float, m: float) -> float | None:
    if n <= 0 or m <= 0:
        return None
    return 1.0 / n + 1.0 / m


def ks_critical(n: float, m: float, alpha: float = 0.05) -> float | None:
    h = _h(n, m)
    if h is None:
        return None
    return math.sqrt(-math.log(alpha / 2.0) / 2.0) * math.sqrt(h)


@lru_cache(maxsize=256)
def noncentrality(df: int, alpha: float = 0.05, power: float = DEFAULT_POWER) -> float:
    """λ such that ``P(χ²(df, λ) > χ²_{1-α}(df)) = power``."""
    if df < 1:
        return math.inf
    critical = stats.chi2.ppf(1.0 - alpha, df)

    def gap(lam: float) -> float:
        return float(stats.ncx2.sf(critical, df, lam)) - power

    upper = 10.0
    for _ in range(60):  # bounded: λ grows roughly linearly with df
        if gap(upper) > 0:
            break
        upper *= 2.0
    return float(optimize.brentq(gap, 1e-9, upper, xtol=1e-10))


def chi2_mde(df: int, alpha: float = 0.05, power: float = DEFAULT_POWER) -> float | None:
    if df < 1:
        return None
    return df + noncentrality(df, alpha, power)


def psi_mde(df: int, n: float, m: float, alpha: float = 0.05, power: float = DEFAULT_POWER) -> float | None:
    h = _h(n, m)
    if h is None or df < 1:
        return None
    return noncentrality(df, alpha, power) * h


def js_mde(df: int, n: float, m: float, alpha: float = 0.05, power: float = DEFAULT_POWER) -> float | None:
    value = psi_mde(df, n, m, alpha, power)
    return None if value is None else math.sqrt(value / (8.0 * math.log(2.0)))


def l1_mde(df: int, n: float, m: float, alpha: float = 0.05, power: float = DEFAULT_POWER) -> float | None:
    value = psi_mde(df, n, m, alpha, power)
    return None if value is None else math.sqrt(value)


@lru_cache(maxsize=64)
def _z_sum(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power))


def proportion_mde(p_ref: float, n: float, m: float, alpha: float = 0.05, power: float = DEFAULT_POWER) -> float | None:
    h = _h(n, m)
    if h is None:
        return None
    floor = 1.0 / (n + m)
    p = min(max(p_ref, floor), 1.0 - floor)
    return _z_sum(alpha, power) * math.sqrt(p * (1.0 - p) * h)


def location_shift_mde(n: float, m: float, alpha: float = 0.05, power: float = DEFAULT_POWER) -> float | None:
    h = _h(n, m)
    return None if h is None else _z_sum(alpha, power) * math.sqrt(h)
