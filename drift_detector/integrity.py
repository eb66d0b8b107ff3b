"""Data-integrity breaks: rules over one input check that say the input *broke*, not merely moved.

A break is actionable on its own (it notifies at once and decides in the first window); a shift of valid inputs
is context. The rules, on a check of an input feature (``FeatureComparison``):

- **fill rate** (missing-share check): the share of rows with a value fell to less than half of the training
  share ("fill rate 80% → 20%"), or the feature is absent from the window.
- **unit change** (numeric): the values are about a unit factor (10ⁿ, 60, 3600, 86400, 1024, or the inverse)
  times the training values, within ±30 %. The factor is estimated robustly to a window only partly affected:
  with a share ``s`` of values outside the training range, ``k = (mean_now / mean_train − (1 − s)) / s`` (the
  affected rows scaled by ``k``, the rest unchanged); without range information (the binned path),
  ``k = mean_now / mean_train``. "values ≈1000× the training values — a unit change?"
- **out of range** (numeric): at least 1 % of the values lie outside the training range [min, max] (a new sample
  of the training distribution puts about 1/n_train there).
- **stuck** (numeric or categorical): every value in the window is the same while training had variation
  ("stuck at one value 0").
- **new category** (categorical): categories unseen in training take at least 5 % of the window (and 5 points
  more than in training); named when the caller could look them up ("new category 'x' at 30%").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlmon.stats.engine import FeatureComparison

OUT_OF_RANGE_SHARE = 0.01
NEW_CATEGORY_SHARE = 0.05
FILL_RATE_COLLAPSE = 0.5  # the fill rate falls below this fraction of the training fill rate
UNIT_FACTORS = (10.0, 100.0, 1000.0, 1e6, 1e9, 60.0, 3600.0, 86400.0, 1024.0, 1024.0**2)
UNIT_TOLERANCE = 1.3  # factor within ×/÷ 1.3 of a unit factor


@dataclass(frozen=True)
class Break:
    code: str  # fill_rate, unit_change, out_of_range, stuck, new_category
    text: str  # the fingerprint in words


def _pct(value: float) -> str:
    return f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


def scale_factor(check: FeatureComparison) -> float | None:
    """How many times the training values the window's values are (see the module docstring)."""
    ref, cur = check.summary.get("ref_mean"), check.summary.get("cur_mean")
    if ref is None or cur is None or not (math.isfinite(ref) and math.isfinite(cur)) or ref == 0:
        return None
    ratio = cur / ref
    share = check.summary.get("out_of_range_share")
    if share is not None and math.isfinite(share) and share >= OUT_OF_RANGE_SHARE:
        ratio = (ratio - (1.0 - share)) / share
    return ratio if ratio > 0 else None


def unit_factor(ratio: float) -> float | None:
    """The unit factor (or its inverse) ``ratio`` is close to, or None."""
    for factor in UNIT_FACTORS:
        for candidate in (factor, 1.0 / factor):
            if abs(math.log(ratio / candidate)) <= math.log(UNIT_TOLERANCE):
                return candidate
    return None


def _times(factor: float) -> str:
    return f"≈{factor:,.0f}×" if factor >= 1 else f"≈1/{1 / factor:,.0f} of"


def fingerprint(check: FeatureComparison, new_category: tuple[str, float] | None = None) -> Break | None:
    """The break this input check shows, or None (outputs are symptoms, never breaks). ``new_category``: the
    most frequent unseen category and its share of the window, when the caller looked it up."""
    summary = check.summary
    if check.role == "quality":
        ref, cur = summary.get("ref_missing_share"), summary.get("cur_missing_share")
        if ref is None or cur is None:
            return None
        before, after = 1.0 - ref, 1.0 - cur
        if after < before * FILL_RATE_COLLAPSE:
            absent = any("absent" in f for f in check.findings)
            return Break("fill_rate", f"fill rate {_pct(before)} → {_pct(after)}" + (" (absent)" if absent else ""))
        return None
    if check.role != "input":
        return None
    if check.kind == "numeric":
        ratio = scale_factor(check)
        factor = unit_factor(ratio) if ratio is not None and (ratio >= 5 or ratio <= 0.2) else None
        if factor is not None:
            return Break("unit_change", f"values {_times(factor)} the training values — a unit change?")
        lo, hi = summary.get("cur_min"), summary.get("cur_max")
        if lo is not None and lo == hi and (summary.get("ref_std") or 0) > 0 and check.n_cur > 1:
            return Break("stuck", f"stuck at one value ({lo:.4g})")
        share = summary.get("out_of_range_share")
        if share is not None and share >= OUT_OF_RANGE_SHARE:
            low, high = summary.get("ref_min"), summary.get("ref_max")
            where = f" [{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
            return Break("out_of_range", f"{_pct(share)} of values out of the training range{where}")
        return None
    shares, ref_shares = check.cur_shares, check.ref_shares
    if not shares or not ref_shares or len(shares) != len(ref_shares):
        return None
    top = max(range(len(shares)), key=shares.__getitem__)
    if shares[top] >= 0.999 and check.n_cur > 1 and max(ref_shares) < 0.95:
        return Break("stuck", f"stuck at one value ({check.labels[top]!r})")
    unseen, was = shares[-1], ref_shares[-1]
    if unseen >= NEW_CATEGORY_SHARE and unseen - was >= NEW_CATEGORY_SHARE:
        if new_category is not None:
            name, share = new_category
            return Break("new_category", f"new category {name!r} at {_pct(share)}")
        return Break("new_category", f"unseen categories at {_pct(unseen)}")
    return None
