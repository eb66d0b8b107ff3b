"""A small loan-like dataset for drift scenarios: a reference sample and windows with injected faults."""

from __future__ import annotations

import numpy as np

from mlmon.stats.baseline import Baseline, CategoricalBaseline, FeatureBaseline, NumericBaseline

CHANNELS = ["web", "mobile", "branch", "partner"]
CHANNEL_SHARES = [0.5, 0.3, 0.15, 0.05]


def sample(rng: np.random.Generator, n: int, fault: str | None = None) -> dict[str, np.ndarray]:
    shares = np.array(CHANNEL_SHARES)
    if fault == "category_doubling":  # branch 15 % → 30 %, the others shrink in proportion
        shares = np.array([0.5, 0.3, 0.0, 0.05]) * (0.70 / 0.85)
        shares[2] = 0.30
    bureau = rng.normal(650, 60, n)
    fill = 0.2 if fault == "fill_rate" else 0.8
    bureau[rng.random(n) >= fill] = np.nan
    income = rng.lognormal(10.8, 0.5, n)
    seconds = rng.exponential(3600.0, n)
    if fault == "unit_change":
        seconds = seconds * 1000.0  # an upstream service now sends milliseconds
    logit = -2.0 + 0.8 * (income < 40_000) + rng.normal(0, 1, n)
    if fault == "prediction_shift":
        logit = logit + 0.5
    score = 1.0 / (1.0 + np.exp(-logit))
    return {
        "bureau_score": bureau,
        "income": income,
        "age": np.round(rng.normal(42, 12, n)).clip(18, 90),
        "seconds_since_last_application": seconds,
        "channel": rng.choice(CHANNELS, size=n, p=shares / shares.sum()).astype(object),
        "has_coborrower": rng.random(n) < 0.3,
        "prediction": score,
        "predicted_class": np.where(score >= 0.5, "default", "no_default").astype(object),
    }


def baseline(rng: np.random.Generator, n: int = 100_000) -> Baseline:
    ref = sample(rng, n)
    features: dict[str, FeatureBaseline] = {
        name: NumericBaseline.from_values(ref[name], keep_values=True)
        for name in ("bureau_score", "income", "age", "seconds_since_last_application")
    }
    features["channel"] = CategoricalBaseline.from_values(ref["channel"], CHANNELS)
    features["has_coborrower"] = CategoricalBaseline.from_values(ref["has_coborrower"], kind="boolean")
    features["prediction"] = NumericBaseline.from_values(ref["prediction"], role="output")
    features["predicted_class"] = CategoricalBaseline.from_values(
        ref["predicted_class"], ["no_default", "default"], role="output"
    )
    return Baseline(rows=n, features=features)
