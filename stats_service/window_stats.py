"""Window statistics computed where the data lives (SQL on SQLite, aggregations on Elasticsearch).

Per numeric feature and for the output score: count, missing share, mean, std, min, max, p1/p5/p50/p95/p99 and
the share outside the baseline range (a three-bin count on ``[baseline min, baseline max]``). Per categorical
feature: missing share and the share of categories unseen in the baseline (known categories + ``__other__``).
Never pulls the window's rows into Python.
"""

from __future__ import annotations

import math

import numpy as np

from mlmon.baseline.profile import BaselineProfile, CategoricalProfile, NumericProfile
from mlmon.spec import ModelSpec
from mlmon.store.base import BinSpec, CategoryBins, InferenceStore, NumericBins, TimeWindow
from mlmon.store.fields import DocField

PERCENTILES = (1.0, 5.0, 50.0, 95.0, 99.0)
OUTPUT_NAME = "prediction"  # the output score's name in the metrics and reports


def _range_bins(name: str, profile: NumericProfile) -> NumericBins | None:
    if profile.min is None or profile.max is None:
        return None
    upper = float(np.nextafter(profile.max, math.inf))  # x == max stays in range (bins are [lo, hi))
    lower = float(profile.min)
    if upper <= lower:
        return None
    return NumericBins(name, [lower, upper])


def window_statistics(
    store: InferenceStore, spec: ModelSpec, profile: BaselineProfile, window: TimeWindow, rows: int
) -> dict[str, dict[str, float]]:
    """``{feature: {stat: value}}``; the output score appears as ``prediction``."""
    numeric = [f.name for f in spec.features if f.type == "numeric" and not f.pii]
    categorical = [f.name for f in spec.features if f.type != "numeric" and not f.pii]
    stats: dict[str, dict[str, float]] = {}
    if rows == 0:
        return stats
    summaries = store.numeric_summaries(window, [*numeric, DocField.SCORE], PERCENTILES)
    bins: list[BinSpec] = []
    for name in numeric:
        feature_profile = profile.features.get(name)
        if isinstance(feature_profile, NumericProfile) and (b := _range_bins(name, feature_profile)):
            bins.append(b)
    for name in categorical:
        cat_profile = profile.features.get(name)
        known = list(cat_profile.categories) if isinstance(cat_profile, CategoricalProfile) else []
        bins.append(CategoryBins(name, known))
    if spec.prediction.kind == "classification" and spec.prediction.classes:
        bins.append(CategoryBins(DocField.PREDICTED_LABEL, list(spec.prediction.classes)))
    counts = store.binned_counts(window, bins) if bins else {}

    for name in [*numeric, DocField.SCORE]:
        summary = summaries.get(name)
        if summary is None:
            continue
        total = summary.count + summary.missing
        entry: dict[str, float] = {
            "count": float(summary.count),
            "missing_share": summary.missing / total if total else math.nan,
        }
        for key in ("mean", "std", "min", "max"):
            value = getattr(summary, key)
            if value is not None:
                entry[key] = float(value)
        for pct, value in summary.percentiles.items():
            if value is not None:
                entry[f"p{pct:g}"] = float(value)
        binned = counts.get(name)
        if binned is not None and binned.counts.sum() > 0:
            present = float(binned.counts.sum())
            entry["out_of_range_share"] = float(binned.counts[0] + binned.counts[-1]) / present
        stats[OUTPUT_NAME if name == DocField.SCORE else name] = entry
    if DocField.SCORE in summaries:
        # The store keeps non-finite scores as null: their share is the output's missing share.
        stats[OUTPUT_NAME]["nonfinite_share"] = stats[OUTPUT_NAME]["missing_share"]
    labels = counts.get(DocField.PREDICTED_LABEL)
    if labels is not None and OUTPUT_NAME in stats and labels.counts.sum() > 0:
        # Response heuristic (seed 000): how varied the answers are; a collapse to one answer shows here.
        stats[OUTPUT_NAME].update(diversity(labels.counts))
    for name in categorical:
        binned = counts.get(name)
        if binned is None:
            continue
        total = binned.total
        present = float(binned.counts.sum())
        stats[name] = {
            "count": present,
            "missing_share": binned.missing / total if total else math.nan,
            "unseen_share": float(binned.counts[-1]) / present if present else 0.0,
        }
    return stats


def diversity(counts: np.ndarray) -> dict[str, float]:
    """Diversity of the predicted labels/items: Shannon entropy in bits and the Gini–Simpson index
    (1 - sum p^2; 0 when every answer is the same)."""
    total = float(counts.sum())
    if total <= 0:
        return {}
    shares = counts[counts > 0] / total
    return {"label_entropy_bits": float(-(shares * np.log2(shares)).sum()), "label_gini": float(1 - (shares**2).sum())}


def response_shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    if not total:
        return {}
    return {f"{kind}_share": counts.get(kind, 0) / total for kind in ("empty", "fallback", "ok")}
