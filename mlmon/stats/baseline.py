"""The baseline as the statistics engine sees it: per feature, bins and shares fixed at training time.

Built from the stored profile (:func:`from_profile`, duck-typed on ``mlmon.baseline.profile``) or, in
tests and benchmarks, from reference arrays (``NumericBaseline.from_values`` /
``CategoricalBaseline.from_values``). Shares are among rows *with* a value; the reference counts are
``shares × count`` where ``count`` is the number of reference values the shares came from (default
``rows × (1 - missing_share)``).

Fitting happens once per model version, here: a raw reference sample (``NumericBaseline.values``) is stored
sorted (NaN dropped), so exact KS and Wasserstein only sort the window; the per-bin means of the reference
(``bin_means``, from the sample) let binned Wasserstein and means match the raw values; and
:attr:`Baseline.calibration` caches the calibrated thresholds (:mod:`mlmon.stats.calibration`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlmon.errors import InvalidInput
from mlmon.stats.binning import OTHER, categorical_counts, check_edges, equal_mass_edges, finite_part
from mlmon.stats.calibration import NullCalibration
from mlmon.stats.exact import sort_finite_first

Role = Literal["output", "input"]
PREDICTION = "prediction"  # the output score distribution, as named in the metrics
PREDICTED_CLASS = "predicted_class"


def sorted_bin_stats(ordered: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin ``(counts, sums)`` of values sorted ascending without NaN (``±inf`` summed at the finite extremes):
    two binary searches per edge and one cumulative sum, no pass over the values per edge."""
    bounds = np.concatenate([[0], np.searchsorted(ordered, edges, side="left"), [ordered.size]])
    finite = finite_part(ordered)
    clipped = np.clip(ordered, finite[0], finite[-1]) if finite.size and finite.size < ordered.size else ordered
    running = np.concatenate([[0.0], np.cumsum(clipped)]) if ordered.size else np.zeros(1)
    return np.diff(bounds), running[bounds[1:]] - running[bounds[:-1]]


@dataclass(frozen=True)
class NumericBaseline:
    edges: np.ndarray  # interior edges, strictly increasing
    shares: np.ndarray  # len(edges) + 1, among rows with a value
    min: float
    max: float
    std: float
    missing_share: float = 0.0
    values: np.ndarray | None = None  # optional raw reference sample (exact KS / Wasserstein); kept sorted, no NaN
    role: Role = "input"
    kind: Literal["numeric"] = "numeric"
    bin_means: np.ndarray | None = None  # mean of the reference values per bin; default: from ``values``
    count: int | None = None  # reference values behind ``shares``; default: ``values.size`` or rows × (1 - missing)

    def __post_init__(self) -> None:
        edges = check_edges(self.edges, "baseline.edges")
        shares = np.asarray(self.shares, dtype=float)
        if shares.shape != (edges.size + 1,):
            raise InvalidInput("baseline.bin_shares", f"needs {edges.size + 1} shares, got {shares.size}")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "shares", shares)
        if self.values is not None:
            object.__setattr__(self, "values", sort_finite_first(self.values))
        means = self.bin_means
        if means is None and self.values is not None and self.values.size:
            counts, sums = sorted_bin_stats(self.values, edges)
            # only when the sample covers every bin the shares say has values
            if not ((counts == 0) & (shares > 0)).any():
                means = np.divide(sums, counts, out=np.zeros(counts.size), where=counts > 0)
        if means is not None:
            means = np.asarray(means, dtype=float)
            if means.shape != shares.shape or not np.isfinite(means).all():
                raise InvalidInput("baseline.bin_means", f"needs {shares.size} finite means, got {means.shape}")
        object.__setattr__(self, "bin_means", means)

    @classmethod
    def from_values(
        cls, values: np.ndarray, n_bins: int = 20, *, keep_values: bool = False, role: Role = "input"
    ) -> NumericBaseline:
        """Fit on a reference sample: one sort gives the edges, shares, per-bin means, min, max and std."""
        values = np.asarray(values, dtype=float)
        ordered = np.sort(values)  # NaN sort last
        present = ordered[: values.size - int(np.count_nonzero(np.isnan(values)))]
        edges = equal_mass_edges(present, n_bins, presorted=True)
        counts, sums = sorted_bin_stats(present, edges)
        finite = finite_part(present)
        n = present.size
        return cls(
            edges=edges,
            shares=counts / n if n else np.zeros(edges.size + 1),
            min=float(finite[0]) if finite.size else 0.0,
            max=float(finite[-1]) if finite.size else 0.0,
            std=float(finite.std()) if finite.size else 0.0,
            missing_share=(values.size - n) / values.size if values.size else 0.0,
            values=present if keep_values else None,
            role=role,
            bin_means=np.divide(sums, counts, out=np.zeros(counts.size), where=counts > 0) if n else None,
            count=n,
        )

    def reference_size(self, rows: float) -> float:
        """How many reference values the shares stand for."""
        if self.count is not None:
            return float(self.count)
        if self.values is not None:
            return float(self.values.size)
        return rows * (1.0 - self.missing_share)


@dataclass(frozen=True)
class CategoricalBaseline:
    categories: tuple[str, ...]
    shares: np.ndarray  # len(categories) + 1: the known categories, then __other__ (usually 0)
    missing_share: float = 0.0
    role: Role = "input"
    kind: Literal["categorical", "boolean"] = "categorical"
    count: int | None = None  # reference values behind ``shares``; default: rows × (1 - missing_share)

    def __post_init__(self) -> None:
        shares = np.asarray(self.shares, dtype=float)
        if shares.shape != (len(self.categories) + 1,):
            raise InvalidInput("baseline.categories", f"needs {len(self.categories) + 1} shares")
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "shares", shares)

    @classmethod
    def from_shares(
        cls,
        categories: Mapping[str, float],
        missing_share: float = 0.0,
        *,
        role: Role = "input",
        kind: Literal["categorical", "boolean"] = "categorical",
        count: int | None = None,
    ) -> CategoricalBaseline:
        names = tuple(c for c in categories if c != OTHER)
        shares = [float(categories[c]) for c in names] + [float(categories.get(OTHER, 0.0))]
        return cls(names, np.asarray(shares), missing_share, role, kind, count)

    @classmethod
    def from_values(
        cls,
        values: np.ndarray,
        categories: Sequence[str] | None = None,
        *,
        role: Role = "input",
        kind: Literal["categorical", "boolean"] = "categorical",
    ) -> CategoricalBaseline:
        values = np.asarray(values)
        if categories is None:
            if values.dtype.kind == "b":
                categories = ["false", "true"]
            else:
                categories = sorted({str(v) for v in pd.unique(values.ravel()) if not pd.isna(v)})
        counts = categorical_counts(values, categories)
        present_rows = int(counts.counts.sum())
        shares = counts.counts / present_rows if present_rows else np.zeros(len(categories) + 1)
        missing_share = counts.missing / values.size if values.size else 0.0
        return cls(tuple(categories), shares, missing_share, role, kind, present_rows)

    def reference_size(self, rows: float) -> float:
        """How many reference values the shares stand for."""
        return float(self.count) if self.count is not None else rows * (1.0 - self.missing_share)


FeatureBaseline = NumericBaseline | CategoricalBaseline


@dataclass(frozen=True)
class Baseline:
    """Everything compared against: ``rows`` of the reference dataset and one entry per feature.

    ``calibration`` holds the thresholds calibrated on this baseline, cached by feature, test and size bucket:
    keep one ``Baseline`` per model version and a run costs no resampling once its sizes were seen."""

    rows: int
    features: Mapping[str, FeatureBaseline] = field(default_factory=dict)
    calibration: NullCalibration = field(default_factory=NullCalibration, compare=False, repr=False)


def _count(profile: Any) -> int | None:
    count = getattr(profile, "count", None)
    return None if count is None else int(count)


def from_profile(profile: Any, *, reference_values: Mapping[str, np.ndarray] | None = None) -> Baseline:
    """Build from a ``BaselineProfile`` (see the team contract): numeric features, categorical and
    boolean features, the prediction score (``prediction``, role output) and the predicted class shares
    (``predicted_class``, role output). Each feature's reference size is its profile ``count`` (for the output:
    the baseline scores, e.g. a holdout, not every training row), so tests report the n they use.

    ``reference_values`` optionally adds raw reference samples (feature name or ``prediction`` → array): exact
    KS and Wasserstein on small windows, thresholds calibrated by resampling them, and per-bin means on the
    profile's edges so that binned Wasserstein matches the raw values. They are sorted here, once."""
    reference_values = reference_values or {}
    features: dict[str, FeatureBaseline] = {}
    for name, fp in profile.features.items():
        if fp.type == "numeric":
            features[name] = NumericBaseline(
                edges=np.asarray(fp.edges, dtype=float),
                shares=np.asarray(fp.bin_shares, dtype=float),
                min=float(fp.min),
                max=float(fp.max),
                std=float(fp.std),
                missing_share=float(fp.missing_share),
                values=reference_values.get(name),
                count=_count(fp),
            )
        else:
            features[name] = CategoricalBaseline.from_shares(
                fp.categories, float(fp.missing_share), kind=fp.type, count=_count(fp)
            )
    prediction = getattr(profile, "prediction", None)
    if prediction is not None:
        if getattr(prediction, "score_edges", None) is not None and prediction.bin_shares:
            features[PREDICTION] = NumericBaseline(
                edges=np.asarray(prediction.score_edges, dtype=float),
                shares=np.asarray(prediction.bin_shares, dtype=float),
                min=float(prediction.min),
                max=float(prediction.max),
                std=float(prediction.std),
                values=reference_values.get(PREDICTION),
                role="output",
                count=_count(prediction),
            )
        if getattr(prediction, "class_shares", None):
            features[PREDICTED_CLASS] = CategoricalBaseline.from_shares(
                prediction.class_shares, role="output", count=_count(prediction)
            )
    return Baseline(rows=int(profile.rows), features=features)
