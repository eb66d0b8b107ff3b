"""The baseline as the statistics engine sees it: per feature, bins and shares fixed at training time.

Built from the stored profile (:func:`from_profile`, duck-typed on ``mlmon.baseline.profile``) or, in
tests and benchmarks, from reference arrays (``NumericBaseline.from_values`` /
``CategoricalBaseline.from_values``). Shares are among rows *with* a value; baseline counts are
``shares × rows × (1 - missing_share)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlmon.errors import InvalidInput
from mlmon.stats.binning import OTHER, categorical_counts, check_edges, equal_mass_edges, numeric_counts

Role = Literal["output", "input"]
PREDICTION = "prediction"  # the output score distribution, as named in the metrics
PREDICTED_CLASS = "predicted_class"


@dataclass(frozen=True)
class NumericBaseline:
    edges: np.ndarray  # interior edges, strictly increasing
    shares: np.ndarray  # len(edges) + 1, among rows with a value
    min: float
    max: float
    std: float
    missing_share: float = 0.0
    values: np.ndarray | None = None  # optional raw reference sample, for exact KS / Wasserstein
    role: Role = "input"
    kind: Literal["numeric"] = "numeric"

    def __post_init__(self) -> None:
        edges = check_edges(self.edges, "baseline.edges")
        shares = np.asarray(self.shares, dtype=float)
        if shares.shape != (edges.size + 1,):
            raise InvalidInput("baseline.bin_shares", f"needs {edges.size + 1} shares, got {shares.size}")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "shares", shares)

    @classmethod
    def from_values(
        cls, values: np.ndarray, n_bins: int = 20, *, keep_values: bool = False, role: Role = "input"
    ) -> NumericBaseline:
        values = np.asarray(values, dtype=float)
        edges = equal_mass_edges(values, n_bins)
        counts = numeric_counts(values, edges)
        finite = values[np.isfinite(values)]
        present = counts.counts.sum()
        return cls(
            edges=edges,
            shares=counts.counts / present if present else np.zeros(edges.size + 1),
            min=float(finite.min()) if finite.size else 0.0,
            max=float(finite.max()) if finite.size else 0.0,
            std=float(finite.std()) if finite.size else 0.0,
            missing_share=counts.missing / values.size if values.size else 0.0,
            values=values[~np.isnan(values)] if keep_values else None,
            role=role,
        )


@dataclass(frozen=True)
class CategoricalBaseline:
    categories: tuple[str, ...]
    shares: np.ndarray  # len(categories) + 1: the known categories, then __other__ (usually 0)
    missing_share: float = 0.0
    role: Role = "input"
    kind: Literal["categorical", "boolean"] = "categorical"

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
    ) -> CategoricalBaseline:
        names = tuple(c for c in categories if c != OTHER)
        shares = [float(categories[c]) for c in names] + [float(categories.get(OTHER, 0.0))]
        return cls(names, np.asarray(shares), missing_share, role, kind)

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
                present = values[values != None]  # noqa: E711
                present = present[present == present]  # drop NaN
                categories = sorted({str(v) for v in np.unique(present.astype(str))})
        counts = categorical_counts(values, categories)
        present_rows = counts.counts.sum()
        shares = counts.counts / present_rows if present_rows else np.zeros(len(categories) + 1)
        missing_share = counts.missing / values.size if values.size else 0.0
        return cls(tuple(categories), shares, missing_share, role, kind)


FeatureBaseline = NumericBaseline | CategoricalBaseline


@dataclass(frozen=True)
class Baseline:
    """Everything compared against: ``rows`` of the reference dataset and one entry per feature."""

    rows: int
    features: Mapping[str, FeatureBaseline] = field(default_factory=dict)


def from_profile(profile: Any, *, reference_values: Mapping[str, np.ndarray] | None = None) -> Baseline:
    """Build from a ``BaselineProfile`` (see the team contract): numeric features, categorical and
    boolean features, the prediction score (``prediction``, role output) and the predicted class shares
    (``predicted_class``, role output). ``reference_values`` optionally adds raw samples for exact KS."""
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
            )
        else:
            features[name] = CategoricalBaseline.from_shares(fp.categories, float(fp.missing_share), kind=fp.type)
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
            )
        if getattr(prediction, "class_shares", None):
            features[PREDICTED_CLASS] = CategoricalBaseline.from_shares(prediction.class_shares, role="output")
    return Baseline(rows=int(profile.rows), features=features)
