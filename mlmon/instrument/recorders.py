"""Recorders for what a model sees and says, in the units the drift detector compares against.

- ``PredictionRecorder``: the score histogram (buckets = the baseline's training-score edges, so Prometheus
  can compare shares bin by bin), predicted classes, non-finite scores, and the response kind.
- ``InputRecorder``: per feature, missing values, numeric values outside the allowed range (the spec's range,
  else the baseline min/max), numeric values per bin of the baseline's fixed edges with per-bin sums
  (``mlmon.instrument.bins``: the drift detector's counts source, a cost flat in traffic), and categories (known
  ones by name, anything else as ``__other__`` so that the label set stays bounded). PII features never get a
  category series: their values must not leave the process (their bin counts on the training edges are kept).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client.metrics import Counter, Histogram

from mlmon.baseline.profile import BaselineProfile, CategoricalProfile, NumericProfile
from mlmon.instrument.bins import FeatureBins, bin_labels, usable_edges
from mlmon.instrument.metrics import RESPONSE_KINDS, InputMetrics, OutputMetrics
from mlmon.spec import ModelSpec
from mlmon.store.base import OTHER


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def category_of(value: Any) -> str:
    """The store's spelling of a category: booleans are ``"true"``/``"false"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class PredictionRecorder:
    def __init__(self, metrics: OutputMetrics, model: str, model_version: str, classes: Sequence[str]) -> None:
        base = (model, model_version)
        self._histogram: Histogram = metrics.prediction.labels(*base)
        self._nonfinite: Counter = metrics.nonfinite.labels(*base)
        self._kinds: dict[str, Counter] = {k: metrics.responses.labels(*base, k) for k in RESPONSE_KINDS}
        self._classes: dict[str, Counter] = {c: metrics.predicted_class.labels(*base, c) for c in classes}
        self._class_family = metrics.predicted_class
        self._base = base

    def record(self, score: float | None, label: str | None = None, kind: str = "ok") -> None:
        """One response: ``score`` None or non-finite counts as non-finite (and is not observed)."""
        if score is None or not math.isfinite(score):
            self._nonfinite.inc()
        else:
            self._histogram.observe(score)
        if label is not None:
            self._class(label).inc()
        self._kinds[kind].inc()

    def record_many(self, scores: Sequence[float | None], labels: Sequence[str | None], kinds: Sequence[str]) -> None:
        """The responses of one request, counted per request: one increment per series that changes."""
        if len(scores) == 1:
            self.record(scores[0], labels[0], kinds[0])
            return
        finite = [s for s in scores if s is not None and math.isfinite(s)]
        if len(finite) < len(scores):
            self._nonfinite.inc(len(scores) - len(finite))
        observe_many(self._histogram, finite)
        for label, count in Tally(labels).items():
            if label is not None:
                self._class(label).inc(count)
        for kind, count in Tally(kinds).items():
            self._kinds[kind].inc(count)

    def _class(self, label: str) -> Counter:
        counter = self._classes.get(label)
        if counter is None:  # a class the spec did not list: still bounded by the model's outputs
            counter = self._class_family.labels(*self._base, label)
            self._classes[label] = counter
        return counter


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """``histogram.observe`` for each value, as one increment per bucket and one of the sum (prometheus_client
    keeps a count per bucket and a sum; a batch of 256 then takes ~20 locks, not ~500)."""
    if not values:
        return
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:  # another client version: the public path
            histogram.observe(value)
        return
    # a value goes to the first bucket whose upper bound is >= it (``le``): bisect_left on the bounds
    counts = Tally(bisect_left(bounds, value) for value in values)
    total.inc(math.fsum(values))
    for index, count in counts.items():
        buckets[index].inc(count)


class _FeatureRule:
    """What to count for one feature, resolved once from the spec and the baseline."""

    __slots__ = ("bins", "categories", "high", "low", "missing", "name", "numeric", "other", "out_of_range", "pii")

    def __init__(self, name: str, numeric: bool, pii: bool, missing: Counter) -> None:
        self.name = name
        self.numeric = numeric
        self.pii = pii
        self.low = -math.inf
        self.high = math.inf
        self.missing = missing
        self.out_of_range: Counter | None = None
        self.categories: dict[str, Counter] = {}
        self.other: Counter | None = None
        self.bins: FeatureBins | None = None


class InputRecorder:
    def __init__(
        self,
        metrics: InputMetrics,
        spec: ModelSpec,
        model_version: str,
        profile: BaselineProfile | None = None,
    ) -> None:
        base = (spec.model, model_version)
        self._rules: list[_FeatureRule] = []
        for feature in spec.features:
            rule = _FeatureRule(
                feature.name, feature.is_numeric, feature.pii, metrics.missing.labels(*base, feature.name)
            )
            baseline = profile.features.get(feature.name) if profile else None
            if feature.is_numeric:
                rule.low, rule.high = _allowed_range(feature.range, baseline)
                rule.out_of_range = metrics.out_of_range.labels(*base, feature.name)
                rule.bins = _feature_bins(metrics, base, feature.name, baseline)
            elif not feature.pii:
                for category in _known_categories(feature.type, feature.categories, baseline):
                    rule.categories[category] = metrics.category.labels(*base, feature.name, category)
                rule.other = metrics.category.labels(*base, feature.name, OTHER)
            self._rules.append(rule)

    def record(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Count one or more input rows (values as received, before PII hashing): per feature, the counts of
        the request are added up first, then each series that changed gets one increment."""
        batch = rows if isinstance(rows, Sequence) else list(rows)
        for rule in self._rules:
            values: list[Any] = [row.get(rule.name) for row in batch]
            present: list[Any] = [v for v in values if not is_missing(v)]
            if len(present) < len(values):
                rule.missing.inc(len(values) - len(present))
            if not present:
                continue
            if rule.numeric:
                if rule.out_of_range is not None:
                    low, high = rule.low, rule.high
                    outside = len([v for v in present if not low <= float(v) <= high])
                    if outside:
                        rule.out_of_range.inc(outside)
                if rule.bins is not None:
                    rule.bins.add(present)
            elif rule.other is not None:
                if len(present) == 1:
                    rule.categories.get(category_of(present[0]), rule.other).inc()
                    continue
                known, other = rule.categories, rule.other
                for category, count in Tally(category_of(v) for v in present).items():
                    known.get(category, other).inc(count)

    def record_columns(self, columns: Mapping[str, Any]) -> None:
        """Count a batch given as columns (feature name → array of equal length: numeric as float with NaN
        missing, categorical as objects with None missing), e.g. a batch-scoring job's frame; the same series
        and counts as :meth:`record` of its rows. A spec feature absent from ``columns`` is missing in every row."""
        import numpy as np

        sizes = {len(v) for v in columns.values()}
        if len(sizes) > 1:
            raise ValueError("columns must have the same length")
        n = sizes.pop() if sizes else 0
        for rule in self._rules:
            column = columns.get(rule.name)
            if column is None:
                if n:
                    rule.missing.inc(n)
                continue
            if rule.numeric:
                values = np.asarray(column, dtype=float)
                present = values[~np.isnan(values)]
            else:
                values = np.asarray(column, dtype=object)
                present = values[np.array([not is_missing(v) for v in values], dtype=bool)] if n else values
            if present.size < n:
                rule.missing.inc(n - present.size)
            if not present.size:
                continue
            if rule.numeric:
                if rule.out_of_range is not None:
                    outside = int(np.count_nonzero(~((present >= rule.low) & (present <= rule.high))))
                    if outside:
                        rule.out_of_range.inc(outside)
                if rule.bins is not None:
                    rule.bins.add(present)
            elif rule.other is not None:
                known, other = rule.categories, rule.other
                names, counts = np.unique(np.array([category_of(v) for v in present], dtype=object), return_counts=True)
                for category, count in zip(names.tolist(), counts.tolist(), strict=True):
                    known.get(category, other).inc(count)


def _feature_bins(
    metrics: InputMetrics, base: tuple[str, str], name: str, baseline: NumericProfile | CategoricalProfile | None
) -> FeatureBins | None:
    """The bin counters of a numeric feature, created at zero (so ``increase()`` sees a window's first rows)."""
    edges = usable_edges(baseline.edges) if isinstance(baseline, NumericProfile) else None
    if edges is None:
        return None
    labels = bin_labels(edges)
    counts = [metrics.bins.labels(*base, name, label) for label in labels]
    offsets = [metrics.bin_offsets.labels(*base, name, label) for label in labels]
    return FeatureBins(edges, counts, offsets)


def _allowed_range(
    spec_range: tuple[float, float] | None, baseline: NumericProfile | CategoricalProfile | None
) -> tuple[float, float]:
    if spec_range is not None:
        return float(spec_range[0]), float(spec_range[1])
    if isinstance(baseline, NumericProfile) and baseline.min is not None and baseline.max is not None:
        return float(baseline.min), float(baseline.max)
    return -math.inf, math.inf


def _known_categories(
    kind: str, spec_categories: Sequence[str] | None, baseline: NumericProfile | CategoricalProfile | None
) -> list[str]:
    if kind == "boolean":
        return ["false", "true"]
    if spec_categories:
        return list(spec_categories)
    if isinstance(baseline, CategoricalProfile):
        return sorted(baseline.categories)
    return []
