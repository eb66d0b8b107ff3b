"""Recorders for what a model sees and says, in the units the drift detector compares against.

- ``PredictionRecorder``: the score histogram (buckets = the baseline's training-score edges, so Prometheus
  can compare shares bin by bin), predicted classes, non-finite scores, and the response kind.
- ``InputRecorder``: per feature, missing values, numeric values outside the allowed range (the spec's range,
  else the baseline min/max), and categories (known ones by name, anything else as ``__other__`` so that the
  label set stays bounded). PII features never get a category series: their values must not leave the process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client.metrics import Counter, Histogram

from mlmon.baseline.profile import BaselineProfile, CategoricalProfile, NumericProfile
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
            counter = self._classes.get(label)
            if counter is None:  # a class the spec did not list: still bounded by the model's outputs
                counter = self._class_family.labels(*self._base, label)
                self._classes[label] = counter
            counter.inc()
        self._kinds[kind].inc()


class _FeatureRule:
    """What to count for one feature, resolved once from the spec and the baseline."""

    __slots__ = ("categories", "high", "low", "missing", "name", "numeric", "other", "out_of_range", "pii")

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
            elif not feature.pii:
                for category in _known_categories(feature.type, feature.categories, baseline):
                    rule.categories[category] = metrics.category.labels(*base, feature.name, category)
                rule.other = metrics.category.labels(*base, feature.name, OTHER)
            self._rules.append(rule)

    def record(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Count one or more input rows (values as received, before PII hashing)."""
        for row in rows:
            for rule in self._rules:
                value: Any = row.get(rule.name)
                if is_missing(value):
                    rule.missing.inc()
                elif rule.numeric:
                    number = float(value)
                    if (number < rule.low or number > rule.high) and rule.out_of_range is not None:
                        rule.out_of_range.inc()
                elif rule.other is not None:
                    rule.categories.get(category_of(value), rule.other).inc()


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
