"""Data-integrity breaks: rules over one input check that say the input *broke*, not merely moved.

A break is actionable on its own (it notifies at once and decides in the first window); a shift of valid inputs
is context. The rules, on a check of an input feature (``FeatureComparison``):

- **fill rate** (missing-share check): the share of rows with a value fell to less than half of the training
  share, or by at least 30 points, or by at least 10 points with a gross effect (≥ 5× its threshold: the first
  window of a collapse is only partly affected) — "fill rate 80% → 20%"; or the feature is absent.
- **unit change** (numeric, measured on a ratio scale: no negative training values): some rows' values are a
  unit factor ``f`` (10ⁿ, 60, 3600, 86400, or the inverse) times what they were — also in a window only partly
  after the change. For each ``f``, the share of affected rows ``a`` follows from the share ``s`` of values
  outside the training range and the share ``p_f`` of training values that ``f`` would push out of it
  (``a = s / p_f``; the whole window without range information, the binned path); ``f`` explains the window when
  the mean it predicts, ``(1 − a)·mean_train + a·f·mean_train``, is within 30 % of the window's mean, with ``a`` ≥
  5 % and the mean at least 1.5× (or ⅔) off. The best fit names it: "values ≈1000× the training values — a unit
  change?"
- **out of range** (numeric): values outside the spec's declared ``range``; without one, at least 1 % of the
  values outside the training range *and* far from it — beyond it by more than half its width, or negative where
  training had none (a ``-1`` sentinel). Valid values a little past the training extremes (a warmer month) are a
  shift, not a break. On the serve-time counts (no single values) only the declared range is checked, from the
  values the server counted outside it (``served_out_of_range``).
- **stuck** (numeric or categorical): every value in the window is the same while training had variation (for a
  category: one that training saw in less than 80 % of rows) — "stuck at one value 0".
- **new category** (categorical): categories unseen in training take at least 5 % of the window (and 5 points
  more than in training); named when the caller could look them up ("new category 'x' at 30%").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlmon.stats.baseline import NumericBaseline
from mlmon.stats.decision import GROSS_FACTOR
from mlmon.stats.engine import FeatureComparison

OUT_OF_RANGE_SHARE = 0.01
FAR_OUT = 0.5  # beyond the training range by this fraction of its width
STUCK_CATEGORY = 0.8  # a category stuck in the window while training saw it in less than this share
NEW_CATEGORY_SHARE = 0.05
SERVED_OUTSIDE_MIN = 0.5  # values counted outside the declared range at serve time (increase() extrapolates)
FILL_RATE_COLLAPSE = 0.5  # the fill rate falls below this fraction of the training fill rate
FILL_RATE_DROP = 0.3  # … or by this many points
FILL_RATE_GROSS_DROP = 0.1  # … or by this many with a gross effect (decision rule 5)
UNIT_FACTORS = (10.0, 100.0, 1000.0, 1e6, 1e9, 60.0, 3600.0, 86400.0)
UNIT_FIT = 1.3  # the predicted mean within ×/÷ 1.3 of the window's (a mean of heavy-tailed values is noisy)
MIN_AFFECTED = 0.05
GROSS_MEAN = 1.5


@dataclass(frozen=True)
class Break:
    code: str  # fill_rate, unit_change, out_of_range, stuck, new_category
    text: str  # the fingerprint in words


def _pct(value: float) -> str:
    return f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


def _pushed_out(base: NumericBaseline | None, factor: float) -> float | None:
    """Share of training values that ``factor`` would push outside the training range (None: unknown)."""
    if base is None:
        return None
    if base.values is not None and base.values.size:
        scaled = base.values * factor
        return float(np.mean((scaled < base.min) | (scaled > base.max)))
    cdf = np.concatenate([[0.0], np.cumsum(base.shares)])
    points = np.concatenate([[base.min], base.edges, [base.max]])
    inside = np.interp([base.min / factor, base.max / factor], points, cdf)
    return float(1.0 - (inside[1] - inside[0]))


def unit_factor(check: FeatureComparison, base: NumericBaseline | None = None) -> float | None:
    """The unit factor that best explains the window (see the module docstring), or None."""
    ref, cur = check.summary.get("ref_mean"), check.summary.get("cur_mean")
    if ref is None or cur is None or not (math.isfinite(ref) and math.isfinite(cur)) or ref <= 0 or cur <= 0:
        return None
    low = check.summary.get("ref_min")
    if low is not None and low < 0:
        return None  # an interval scale (a temperature): a unit factor is not a multiplication there
    if abs(math.log(cur / ref)) < math.log(GROSS_MEAN):
        return None
    share = check.summary.get("out_of_range_share")
    best: tuple[float, float] | None = None
    for factor in (*UNIT_FACTORS, *(1.0 / f for f in UNIT_FACTORS)):
        affected = 1.0
        pushed = _pushed_out(base, factor) if share is not None else None
        if share is not None and pushed is not None:
            if pushed < OUT_OF_RANGE_SHARE:
                continue
            affected = min(1.0, share / pushed)
        if affected < MIN_AFFECTED:
            continue
        predicted = (1.0 - affected) * ref + affected * factor * ref
        error = abs(math.log(predicted / cur))
        if error <= math.log(UNIT_FIT) and (best is None or error < best[0]):
            best = (error, factor)
    return best[1] if best else None


def _times(factor: float) -> str:
    return f"≈{factor:,.0f}×" if factor >= 1 else f"≈1/{1 / factor:,.0f} of"


def _out_of_range(check: FeatureComparison, declared: tuple[float, float] | None) -> Break | None:
    summary = check.summary
    lo, hi = summary.get("cur_min"), summary.get("cur_max")
    if lo is None or hi is None:  # the binned paths do not see single values …
        counted = summary.get("served_out_of_range")  # … but the server counted those outside the declared range
        if declared is not None and counted is not None and counted >= SERVED_OUTSIDE_MIN:
            return Break(
                "out_of_range",
                f"values outside the declared range [{declared[0]:g}, {declared[1]:g}] "
                f"({counted:,.0f} counted by the model server)",
            )
        return None
    if declared is not None:
        if lo < declared[0] or hi > declared[1]:
            seen = f"{lo:.4g} … {hi:.4g}"
            return Break(
                "out_of_range", f"values outside the declared range [{declared[0]:g}, {declared[1]:g}] ({seen})"
            )
        return None
    share = summary.get("out_of_range_share")
    ref_lo, ref_hi = summary.get("ref_min"), summary.get("ref_max")
    if share is None or share < OUT_OF_RANGE_SHARE or ref_lo is None or ref_hi is None:
        return None
    width = ref_hi - ref_lo
    far = hi > ref_hi + FAR_OUT * width or lo < ref_lo - FAR_OUT * width or (ref_lo >= 0 > lo)
    if not far:
        return None
    return Break("out_of_range", f"{_pct(share)} of values out of the training range [{ref_lo:.4g}, {ref_hi:.4g}]")


def fingerprint(
    check: FeatureComparison,
    new_category: tuple[str, float] | None = None,
    base: NumericBaseline | None = None,
    declared: tuple[float, float] | None = None,
) -> Break | None:
    """The break this input check shows, or None (outputs are symptoms, never breaks). ``new_category``: the
    most frequent unseen category and its share of the window, when the caller looked it up; ``base``: the
    feature's baseline (a numeric one), to tell how far a unit factor would push values; ``declared``: the spec's
    valid range of the feature."""
    summary = check.summary
    if check.role == "quality":
        ref, cur = summary.get("ref_missing_share"), summary.get("cur_missing_share")
        if ref is None or cur is None:
            return None
        before, after = 1.0 - ref, 1.0 - cur
        gross = math.isfinite(check.score) and check.score >= GROSS_FACTOR
        drop = before - after
        if after < before * FILL_RATE_COLLAPSE or drop >= FILL_RATE_DROP or (gross and drop >= FILL_RATE_GROSS_DROP):
            absent = any("absent" in f for f in check.findings)
            return Break("fill_rate", f"fill rate {_pct(before)} → {_pct(after)}" + (" (absent)" if absent else ""))
        return None
    if check.role != "input":
        return None
    if check.kind == "numeric":
        factor = unit_factor(check, base)
        if factor is not None:
            return Break("unit_change", f"values {_times(factor)} the training values — a unit change?")
        lo, hi = summary.get("cur_min"), summary.get("cur_max")
        if lo is not None and lo == hi and (summary.get("ref_std") or 0) > 0 and check.n_cur > 1:
            return Break("stuck", f"stuck at one value ({lo:.4g})")
        return _out_of_range(check, declared)
    shares, ref_shares = check.cur_shares, check.ref_shares
    if not shares or not ref_shares or len(shares) != len(ref_shares):
        return None
    top = max(range(len(shares)), key=shares.__getitem__)
    if shares[top] >= 0.999 and check.n_cur > 1 and ref_shares[top] < STUCK_CATEGORY:
        return Break("stuck", f"stuck at one value ({check.labels[top]!r})")
    unseen, was = shares[-1], ref_shares[-1]
    if unseen >= NEW_CATEGORY_SHARE and unseen - was >= NEW_CATEGORY_SHARE:
        if new_category is not None:
            name, share = new_category
            return Break("new_category", f"new category {name!r} at {_pct(share)}")
        return Break("new_category", f"unseen categories at {_pct(unseen)}")
    return None
