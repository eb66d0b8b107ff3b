"""The window's counts as the model server counted them at serve time, read from Prometheus.

A drift run on this source reads features × bins numbers whatever the traffic: per numeric feature the bin
counts and per-bin sums on the baseline's fixed edges (``mlmon_feature_bin_total``,
``mlmon_feature_bin_offset_total``: ``mlmon.instrument.bins``), per categorical feature the category counts
(``mlmon_feature_category_total``), the missing counts (``mlmon_feature_missing_total``), and for the output the
score histogram (``mlmon_prediction``, its mean from ``_sum``/``_count``), the non-finite scores and the predicted
classes; per numeric feature also the values outside its range (``mlmon_feature_out_of_range_total``), which stand
in for the single values the integrity checks cannot see in bins. The window size (and the rows of other model
versions) comes from ``mlmon_responses_total``. Each is ``sum by (…) (increase(…[window]))`` at the window's end:
summed across workers and replicas, robust to counter resets; ``increase`` extrapolates to the range's ends, so
counts are not whole numbers (every bin of a series scraped over the whole window by the same factor, so shares
are unchanged).

The counts are unusable (:class:`CountsUnusable`, the caller falls back to the store) when a feature of the
baseline has no serve-time series (a server without them, a PII categorical with known categories) or when the
served edges or categories are not the baseline's (another model version's profile). Bins follow the store's
convention; only the output histogram is Prometheus's own (``le``: a score equal to an edge counts in the bin
below, a difference of measure zero for continuous scores).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from mlmon.errors import MlmonError
from mlmon.promql import PrometheusClient, Sample, histogram_bins
from mlmon.stats.baseline import PREDICTED_CLASS, PREDICTION, Baseline, CategoricalBaseline, NumericBaseline
from mlmon.store.base import OTHER, BinnedCounts


class CountsUnusable(MlmonError):
    """Prometheus answered, but its serve-time counts cannot stand for the window (the reason says why)."""


@dataclass(frozen=True)
class ServedRows:
    rows: int  # responses of the model version in the window
    others: int  # responses of other versions of the model


@dataclass
class ServeCounts:
    rows: ServedRows
    current: dict[str, BinnedCounts]
    means: dict[str, float] = field(default_factory=dict)  # the output's mean (histogram sum / count)
    # per numeric input, the values the server counted outside the feature's range (the spec's, else the
    # training min/max: ``mlmon_feature_out_of_range_total``); the bins cannot show single values
    outside: dict[str, float] = field(default_factory=dict)


def _edges_match(bounds: list[float], edges: np.ndarray) -> bool:
    return len(bounds) == edges.size and bool(np.allclose(bounds, edges, rtol=1e-9, atol=1e-12))


def _by(samples: list[Sample], *labels: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for sample in samples:
        key = tuple(sample.labels.get(label, "") for label in labels)
        out[key] = out.get(key, 0.0) + sample.value
    return out


def numeric_counts(
    name: str, base: NumericBaseline, bins: list[Sample], offsets: list[Sample], missing: float
) -> BinnedCounts:
    """One numeric feature's ``BinnedCounts`` from its bin and offset samples (labels ``bin``)."""
    counts_by = {float(k[0]): v for k, v in _by(bins, "bin").items()}
    if not counts_by:
        raise CountsUnusable(f"no serve-time bins of {name!r} (a model server without mlmon_feature_bin_total?)")
    bounds = sorted(counts_by)
    if bounds[-1] != math.inf or not _edges_match(bounds[:-1], base.edges):
        raise CountsUnusable(f"the serve-time bins of {name!r} are not the baseline's edges (another model version?)")
    counts = np.array([max(counts_by[b], 0.0) for b in bounds])
    offsets_by = {float(k[0]): v for k, v in _by(offsets, "bin").items()}
    sums = None
    if sorted(offsets_by) == bounds:
        offset = np.array([max(offsets_by[b], 0.0) for b in bounds])
        anchor = np.concatenate([[base.edges[0]], base.edges])
        sums = np.where(np.arange(counts.size) == 0, counts * anchor - offset, counts * anchor + offset)
    gone = round(max(missing, 0.0))
    return BinnedCounts(name, counts, gone, round(float(counts.sum())) + gone, sums)


def categorical_counts(
    name: str, base: CategoricalBaseline, by_category: Mapping[str, float], missing: float
) -> BinnedCounts:
    """One categorical feature's counts over the baseline's categories, then ``__other__`` (every other series)."""
    known = list(base.categories)
    if known and not set(known) <= set(by_category):
        lacking = sorted(set(known) - set(by_category))
        raise CountsUnusable(f"no serve-time counts of {name!r} categories {lacking[:3]} (another model version?)")
    counts = [max(by_category.get(c, 0.0), 0.0) for c in known]
    counts.append(sum(max(v, 0.0) for c, v in by_category.items() if c not in known))
    array = np.array(counts, dtype=float)
    gone = round(max(missing, 0.0))
    return BinnedCounts(name, array, gone, round(float(array.sum())) + gone)


class ServeCountsReader:
    """PromQL for one model version's window: ``increase(...[window])`` at ``at``, summed over the series."""

    def __init__(self, prometheus: PrometheusClient, model: str, version: str, window: str, at: datetime) -> None:
        self._prometheus = prometheus
        self._model, self._version = model, version
        self._window, self._at = window, at

    def _query(self, series: str, by: str | None, version: bool = True) -> list[Sample]:
        selector = f'model="{self._model}"' + (f',model_version="{self._version}"' if version else "")
        grouping = f" by ({by})" if by else ""
        return self._prometheus.query(f"sum{grouping} (increase({series}{{{selector}}}[{self._window}]))", at=self._at)

    def rows(self) -> ServedRows | None:
        """Responses of the version and of the model's other versions; None when Prometheus has no samples."""
        by_version = _by(self._query("mlmon_responses_total", "model_version", version=False), "model_version")
        if not by_version:
            return None
        rows = by_version.get((self._version,), 0.0)
        others = sum(v for k, v in by_version.items() if k != (self._version,))
        return ServedRows(round(max(rows, 0.0)), round(max(others, 0.0)))

    def counts(self, engine: Baseline, rows: ServedRows) -> ServeCounts:
        """Every feature of the baseline from the serve-time counters (raises :class:`CountsUnusable`)."""
        missing = {k[0]: v for k, v in _by(self._query("mlmon_feature_missing_total", "feature"), "feature").items()}
        numeric = [n for n, b in engine.features.items() if isinstance(b, NumericBaseline) and b.role == "input"]
        categorical = [
            n for n, b in engine.features.items() if isinstance(b, CategoricalBaseline) and b.role == "input"
        ]
        out = ServeCounts(rows, {})
        if numeric:
            bins = self._query("mlmon_feature_bin_total", "feature, bin")
            offsets = self._query("mlmon_feature_bin_offset_total", "feature, bin")
            for name in numeric:
                base = engine.features[name]
                assert isinstance(base, NumericBaseline)
                mine = [s for s in bins if s.labels.get("feature") == name]
                theirs = [s for s in offsets if s.labels.get("feature") == name]
                out.current[name] = numeric_counts(name, base, mine, theirs, missing.get(name, 0.0))
            outside = _by(self._query("mlmon_feature_out_of_range_total", "feature"), "feature")
            out.outside = {name: max(outside.get((name,), 0.0), 0.0) for name in numeric}
        if categorical:
            found = _by(self._query("mlmon_feature_category_total", "feature, category"), "feature", "category")
            for name in categorical:
                base = engine.features[name]
                assert isinstance(base, CategoricalBaseline)
                by_category = {c: v for (f, c), v in found.items() if f == name}
                if not by_category and base.categories:
                    raise CountsUnusable(f"no serve-time counts of {name!r} (mlmon_feature_category_total)")
                if not by_category:  # no known categories (a PII feature): every present value is "other"
                    by_category = {OTHER: max(rows.rows - missing.get(name, 0.0), 0.0)}
                out.current[name] = categorical_counts(name, base, by_category, missing.get(name, 0.0))
        self._outputs(engine, out)
        return out

    def _outputs(self, engine: Baseline, out: ServeCounts) -> None:
        score = engine.features.get(PREDICTION)
        if isinstance(score, NumericBaseline):
            bounds, counts = histogram_bins(self._query("mlmon_prediction_bucket", "le"))
            if not counts or not _edges_match(bounds, score.edges):
                raise CountsUnusable("the served mlmon_prediction buckets are not the baseline's score edges")
            nonfinite = sum(s.value for s in self._query("mlmon_nonfinite_predictions_total", None))
            array = np.array(counts, dtype=float)
            gone = round(max(nonfinite, 0.0))
            out.current[PREDICTION] = BinnedCounts(PREDICTION, array, gone, round(float(array.sum())) + gone)
            total = sum(s.value for s in self._query("mlmon_prediction_sum", None))
            if array.sum() > 0 and math.isfinite(total):
                out.means[PREDICTION] = total / float(array.sum())
        label = engine.features.get(PREDICTED_CLASS)
        if isinstance(label, CategoricalBaseline):
            by_class = {k[0]: v for k, v in _by(self._query("mlmon_predicted_class_total", "class"), "class").items()}
            present = sum(max(v, 0.0) for v in by_class.values())
            out.current[PREDICTED_CLASS] = categorical_counts(
                PREDICTED_CLASS, label, by_class, max(out.rows.rows - present, 0.0)
            )
