"""The model spec: a YAML file that says what a model takes, what it returns and what people fear.

Example (``specs/loan_default.yaml``)::

    model: loan_default
    prediction: {kind: classification, classes: [no_default, default], positive_class: default}
    features:
      - {name: income, type: numeric, unit: EUR/year, range: [0, 2000000]}
      - {name: channel, type: categorical, categories: [web, mobile, branch, partner]}
      - {name: postcode, type: categorical, pii: true}
    segments: [channel]
    slos: ["precision >= 0.80", "p95_latency_ms <= 200"]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlmon.errors import ConfigError

FeatureType = Literal["numeric", "categorical", "boolean"]
PredictionKind = Literal["classification", "regression"]
Severity = Literal["warning", "critical"]

FEATURE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MODEL_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # lowercase: it becomes part of Elasticsearch index names

# Metrics an SLO may name; evaluated by the statistics service.
SLO_METRICS = frozenset(
    {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "positive_rate",
        "mae",
        "rmse",
        "mape",
        "p95_latency_ms",
        "error_ratio",
        "fallback_share",
        "empty_share",
        "label_coverage",
    }
)
_SLO_TEXT = re.compile(r"^\s*([a-z0-9_]+)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftOverride(_Strict):
    """Per-feature choice of drift test and threshold (names from ``mlmon.stats.REGISTRY``)."""

    test: str | None = None
    threshold: float | None = Field(default=None, gt=0)


class FeatureSpec(_Strict):
    name: Annotated[str, Field(pattern=FEATURE_NAME)]
    type: FeatureType
    unit: str | None = None
    description: str | None = None
    range: tuple[float, float] | None = None
    categories: list[str] | None = None
    pii: bool = False
    required: bool = False
    drift: DriftOverride | None = None

    @model_validator(mode="after")
    def _check_kind_fields(self) -> FeatureSpec:
        if self.range is not None:
            if self.type != "numeric":
                raise ValueError("range is only allowed for numeric features")
            if self.range[0] > self.range[1]:
                raise ValueError(f"range lower bound {self.range[0]} is above upper bound {self.range[1]}")
        if self.categories is not None:
            if self.type != "categorical":
                raise ValueError("categories are only allowed for categorical features")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("categories must be unique")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.type == "numeric"


class PredictionSpec(_Strict):
    kind: PredictionKind
    classes: list[str] | None = None
    positive_class: str | None = None
    threshold: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _check_classes(self) -> PredictionSpec:
        if self.kind == "classification":
            if not self.classes or len(self.classes) < 2:
                raise ValueError("classification needs at least two classes")
            if self.positive_class is not None and self.positive_class not in self.classes:
                raise ValueError(f"positive_class {self.positive_class!r} is not one of classes")
        return self

    @property
    def positive(self) -> str | None:
        if self.kind != "classification" or not self.classes:
            return None
        return self.positive_class or self.classes[-1]


class SLO(_Strict):
    """A stakeholder fear turned into a rule, e.g. ``precision >= 0.95``."""

    metric: str
    op: Literal[">=", "<=", ">", "<"]
    threshold: float
    severity: Severity = "critical"
    description: str | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in SLO_METRICS:
            raise ValueError(f"unknown SLO metric {value!r}; known: {', '.join(sorted(SLO_METRICS))}")
        return value

    def holds(self, value: float) -> bool:
        return {
            ">=": value >= self.threshold,
            "<=": value <= self.threshold,
            ">": value > self.threshold,
            "<": value < self.threshold,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


def _parse_slo(value: Any) -> Any:
    if isinstance(value, str):
        match = _SLO_TEXT.match(value)
        if not match:
            raise ValueError(f"cannot read SLO {value!r}; write it like 'precision >= 0.95'")
        return {"metric": match[1], "op": match[2], "threshold": float(match[3])}
    return value


class ModelSpec(_Strict):
    model: Annotated[str, Field(pattern=MODEL_NAME)]
    description: str | None = None
    prediction: PredictionSpec
    features: list[FeatureSpec] = Field(min_length=1)
    segments: list[str] = Field(default_factory=list)
    slos: list[SLO] = Field(default_factory=list)
    runbook: str | None = None

    @field_validator("slos", mode="before")
    @classmethod
    def _read_slos(cls, value: Any) -> Any:
        return [_parse_slo(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _check_names(self) -> ModelSpec:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate feature names: {', '.join(dupes)}")
        by_name = {f.name: f for f in self.features}
        for segment in self.segments:
            feature = by_name.get(segment)
            if feature is None:
                raise ValueError(f"segment {segment!r} is not a feature")
            if feature.type == "numeric" or feature.pii:
                raise ValueError(f"segment {segment!r} must be a non-PII categorical or boolean feature")
        return self

    def feature(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


def _location(loc: tuple[Any, ...], raw: Any) -> str:
    """Turn a pydantic location into ``features[3] (income).type``."""
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and "name" in node:
                    label += f" ({node['name']})"
            parts.append(label)
        else:
            if isinstance(node, dict):
                node = node.get(item)
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def parse_spec(raw: Any, source: str = "<spec>") -> ModelSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the model spec must be a YAML mapping", hint="see specs/loan_default.yaml")
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [
            (f"{source}: {_location(tuple(e['loc']), raw) or '(top level)'}", e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
        raise ConfigError(f"invalid model spec {source}", problems=problems) from None


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a model spec; every problem is reported with its location."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model spec not found: {path}", hint="set MLMON_MODEL_SPEC to the path of a spec YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_spec(raw, str(path))
