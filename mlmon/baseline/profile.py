"""Baseline profile: what the training data looked like, reduced to what monitoring compares against.

Derived once per model version from the Feast saved dataset and stored as ``baseline_profile.json`` next to
the model. Bin edges are fixed here and never recomputed per window: every window, every backend and the
Prometheus histogram count into the same bins.

- numeric feature: ``edges`` = interior equal-mass (quantile) edges, strictly increasing (ties collapse, so a
  feature with few distinct values gets fewer bins); ``bin_shares`` per bin (len(edges) + 1); min/max/mean/std;
  ``missing_share``.
- categorical / boolean feature: ``categories`` = share of each category among non-missing values (booleans as
  ``"false"``/``"true"``), ``missing_share``.
- prediction: equal-mass ``score_edges`` of the baseline scores (the ``mlmon_prediction`` histogram buckets),
  ``bin_shares``, ``class_shares``, mean/std/min/max.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mlmon.atomic import write_text_atomic
from mlmon.errors import BaselineNotFound, ConfigError
from mlmon.spec import FeatureSpec, ModelSpec

SCHEMA_VERSION = 1
DEFAULT_BINS = 20


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericProfile(_Model):
    type: Literal["numeric"] = "numeric"
    count: int
    missing_share: float
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    edges: list[float]
    bin_shares: list[float]


class CategoricalProfile(_Model):
    type: Literal["categorical", "boolean"]
    count: int
    missing_share: float
    categories: dict[str, float]


FeatureProfile = NumericProfile | CategoricalProfile


class PredictionProfile(_Model):
    kind: Literal["classification", "regression"]
    count: int
    score_edges: list[float]
    bin_shares: list[float]
    class_shares: dict[str, float] = Field(default_factory=dict)
    mean: float
    std: float
    min: float
    max: float


class BaselineProfile(_Model):
    schema_version: int = SCHEMA_VERSION
    model: str
    model_version: str
    source: str  # where the rows came from, e.g. "feast:saved_dataset:training_bike_rentals_3f2a…"
    rows: int
    features: dict[str, NumericProfile | CategoricalProfile]
    prediction: PredictionProfile

    def numeric(self, name: str) -> NumericProfile:
        profile = self.features[name]
        if not isinstance(profile, NumericProfile):
            raise KeyError(f"{name} is not numeric")
        return profile

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> BaselineProfile:
        if not path.is_file():
            raise BaselineNotFound(f"no baseline profile at {path}", hint="run `mlmon register` to create it")
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path}: not a valid baseline profile ({exc.__class__.__name__})") from None


def equal_mass_edges(values: np.ndarray, bins: int = DEFAULT_BINS) -> list[float]:
    """Interior quantile edges of finite values; duplicates collapse so edges are strictly increasing."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(qs)
    # An edge equal to the minimum would leave the first bin empty by construction.
    edges = edges[edges > finite.min()]
    return [float(e) for e in edges]


def bin_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [0.0] * (len(edges) + 1)
    counts = np.bincount(np.searchsorted(np.asarray(edges), finite, side="right"), minlength=len(edges) + 1)
    return [float(c) for c in counts / finite.size]


def as_category(series: pd.Series, kind: str) -> pd.Series:
    """Categorical values as strings; booleans as "false"/"true" (the store's convention)."""
    if kind == "boolean":
        return series.map(lambda v: None if pd.isna(v) else ("true" if bool(v) else "false"))
    return series.map(lambda v: None if pd.isna(v) else str(v))


def _numeric_profile(values: pd.Series, bins: int) -> NumericProfile:
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = arr[np.isfinite(arr)]
    edges = equal_mass_edges(arr, bins)
    has = finite.size > 0
    return NumericProfile(
        count=int(finite.size),
        missing_share=float(1 - finite.size / max(len(arr), 1)),
        min=float(finite.min()) if has else None,
        max=float(finite.max()) if has else None,
        mean=float(finite.mean()) if has else None,
        std=float(finite.std()) if has else None,
        edges=edges,
        bin_shares=bin_shares(arr, edges),
    )


def _categorical_profile(values: pd.Series, feature: FeatureSpec) -> CategoricalProfile:
    cats = as_category(values, feature.type).dropna()
    shares = cats.value_counts(normalize=True).sort_index()
    # PII values never leave the training data: only the fill rate is profiled.
    categories = {} if feature.pii else {str(k): float(v) for k, v in shares.items()}
    for known in feature.categories or (["false", "true"] if feature.type == "boolean" else []):
        categories.setdefault(known, 0.0)
    return CategoricalProfile(
        type="boolean" if feature.type == "boolean" else "categorical",
        count=len(cats),
        missing_share=float(1 - len(cats) / max(len(values), 1)),
        categories=dict(sorted(categories.items())),
    )


def _class_shares(spec: ModelSpec, labels: Sequence[str | None]) -> dict[str, float]:
    known = [label for label in labels if label is not None]
    if spec.prediction.kind != "classification" or not known:
        return {}
    shares = dict.fromkeys(spec.prediction.classes or [], 0.0)
    for label in known:
        shares[label] = shares.get(label, 0.0) + 1.0 / len(known)
    return shares


def _prediction_profile(
    spec: ModelSpec, scores: np.ndarray, labels: Sequence[str | None], bins: int
) -> PredictionProfile:
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        raise ConfigError("cannot profile predictions: no finite scores")
    edges = equal_mass_edges(finite, bins)
    class_shares = _class_shares(spec, labels)
    return PredictionProfile(
        kind=spec.prediction.kind,
        count=int(finite.size),
        score_edges=edges,
        bin_shares=bin_shares(finite, edges),
        class_shares=dict(sorted(class_shares.items())),
        mean=float(finite.mean()),
        std=float(finite.std()),
        min=float(finite.min()),
        max=float(finite.max()),
    )


def build_profile(
    spec: ModelSpec,
    model_version: str,
    features: pd.DataFrame,
    scores: np.ndarray,
    labels: Sequence[str | None] = (),
    *,
    source: str,
    bins: int = DEFAULT_BINS,
) -> BaselineProfile:
    """Profile every spec feature of ``features`` and the reference ``scores`` (and predicted ``labels`` for
    classification); deterministic for the same input."""
    missing = [f.name for f in spec.features if f.name not in features.columns]
    if missing:
        raise ConfigError(f"baseline rows lack spec features: {', '.join(missing)}")
    profiles: dict[str, NumericProfile | CategoricalProfile] = {}
    for feature in spec.features:
        column = features[feature.name]
        profiles[feature.name] = (
            _numeric_profile(column, bins) if feature.type == "numeric" else _categorical_profile(column, feature)
        )
    return BaselineProfile(
        model=spec.model,
        model_version=model_version,
        source=source,
        rows=len(features),
        features=profiles,
        prediction=_prediction_profile(spec, np.asarray(scores, dtype=float), labels, bins),
    )


def summary_lines(profile: BaselineProfile) -> list[str]:
    """A short human summary, printed by `mlmon register`, `mlmon train` and `mlmon demo`."""
    pred = profile.prediction
    shares = ", ".join(f"{k} {v:.1%}" for k, v in pred.class_shares.items())
    lines = [
        f"baseline {profile.model} {profile.model_version}: {profile.rows} rows from {profile.source}",
        f"  prediction: mean score {pred.mean:.3f}, {len(pred.score_edges) + 1} equal-mass buckets"
        + (f", class shares {shares}" if shares else ""),
    ]
    for name, feat in profile.features.items():
        if isinstance(feat, NumericProfile):
            rng = f"{feat.min:g}..{feat.max:g}" if feat.min is not None else "no values"
            lines.append(
                f"  {name:<32} numeric      missing {feat.missing_share:6.1%}  range {rng}  bins {len(feat.edges) + 1}"
            )
        elif not feat.categories:
            lines.append(f"  {name:<32} {feat.type:<12} missing {feat.missing_share:6.1%}  (PII: not profiled)")
        else:
            top = sorted(feat.categories.items(), key=lambda kv: -kv[1])[:3]
            lines.append(
                f"  {name:<32} {feat.type:<12} missing {feat.missing_share:6.1%}  "
                f"{len(feat.categories)} categories, top " + ", ".join(f"{k} {v:.0%}" for k, v in top)
            )
    return lines
