"""Benjamini–Hochberg false-discovery-rate adjustment, as ``statsmodels`` ``multipletests(method="fdr_bh")``.

Adjusted ``p_(i) = min_{k >= i} (m / k)·p_(k)``, capped at 1, returned in the input order. ``None`` or NaN
p-values (a test that could not run) are left out of ``m`` and come back as NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bh_adjust(p_values: Sequence[float | None] | np.ndarray) -> np.ndarray:
    raw = np.array([np.nan if p is None else float(p) for p in p_values], dtype=float)
    out = np.full(raw.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(raw))
    m = valid.size
    if m == 0:
        return out
    if ((raw[valid] < 0) | (raw[valid] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(raw[valid], kind="mergesort")
    ranked = raw[valid][order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    out[valid[order]] = adjusted
    return out


def bh_reject(p_values: Sequence[float | None] | np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Which hypotheses are rejected at false discovery rate ``alpha`` (False where p is missing)."""
    adjusted = bh_adjust(p_values)
    return np.where(np.isnan(adjusted), False, adjusted <= alpha)
