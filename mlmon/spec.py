"""The model spec: a YAML file that says what mlmon must know about a model.

Example::

    model: bike_rentals
    entity: {keys: [station_id], timestamp: event_timestamp}   # Feast join keys and event-time column
    label: {column: rentals, source: entity_df}                # where ground truth comes from
    feast: {feature_service: bike_rentals_v1}
    prediction: {kind: regression}
    serving: {routes: ["/v1/rentals"]}                         # the route(s) whose answers are predictions
    features:
      - {name: temperature_c, type: numeric, unit: degC, range: [-20, 45]}
      - {name: weather, type: categorical, categories: [clear, cloudy, rain, snow]}
      - {name: customer_email, type: categorical, pii: true}
    segments: [weather]
    slos: ["mae <= 20", "p95_latency_ms <= 200"]

Every field is documented in the generated spec reference (``python -m mlmon.spec_docs``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlmon.errors import ConfigError

FeatureType = Literal["numeric", "categorical", "boolean"]
LabelSource = Literal["entity_df", "feature_view"]
PredictionKind = Literal["classification", "regression"]
Severity = Literal["warning", "critical"]

FEATURE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ROUTE = r"^/[A-Za-z0-9_./{}-]*$"
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

    test: str | None = Field(default=None, description="drift test name, e.g. psi, ks, wasserstein, jensenshannon")
    threshold: float | None = Field(default=None, gt=0, description="effect threshold (replaces the calibrated one)")


class FeatureSpec(_Strict):
    name: Annotated[str, Field(pattern=FEATURE_NAME)] = Field(description="column name, as the model receives it")
    type: FeatureType = Field(description="numeric, categorical or boolean")
    unit: str | None = Field(default=None, description="shown next to values in emails and reports")
    description: str | None = None
    range: tuple[float, float] | None = Field(
        default=None, description="numeric: expected [low, high]; outside is served and counted (else: the baseline's)"
    )
    categories: list[str] | None = Field(
        default=None, description="categorical: known values; others are served and counted as __other__"
    )
    pii: bool = Field(default=False, description="never stored in clear: keyed hash (or dropped), not profiled")
    required: bool = Field(default=False, description="a request without it (or null) is refused with 422")
    drift: DriftOverride | None = Field(default=None, description="per-feature drift test and/or threshold")

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
    """What the model returns. Classification with two classes is binary (the score is the probability of
    ``positive_class``, the label is decided by ``threshold``); with more classes it is multi-class (the label
    is the most probable class, the score its probability). Regression returns a number (score = value)."""

    kind: PredictionKind = Field(description="classification or regression")
    classes: list[str] | None = Field(default=None, description="class names (classification; 2 = binary)")
    positive_class: str | None = Field(
        default=None, description="binary only: the class whose probability is the score (default: the last)"
    )
    threshold: float = Field(default=0.5, ge=0, le=1, description="binary only: score >= threshold → positive")

    @model_validator(mode="after")
    def _check_classes(self) -> PredictionSpec:
        if self.kind == "classification":
            if not self.classes or len(self.classes) < 2:
                raise ValueError("classification needs at least two classes")
            if len(set(self.classes)) != len(self.classes):
                raise ValueError("classes must be unique")
            if self.positive_class is not None and self.positive_class not in self.classes:
                raise ValueError(f"positive_class {self.positive_class!r} is not one of classes")
            if self.positive_class is not None and len(self.classes) > 2:
                raise ValueError("positive_class applies to binary classification (two classes) only")
        elif self.classes or self.positive_class:
            raise ValueError("classes and positive_class apply to classification only")
        return self

    @property
    def binary(self) -> bool:
        return self.kind == "classification" and len(self.classes or []) == 2

    @property
    def multiclass(self) -> bool:
        return self.kind == "classification" and len(self.classes or []) > 2

    @property
    def positive(self) -> str | None:
        if not self.binary or not self.classes:
            return None
        return self.positive_class or self.classes[-1]

    @property
    def negative(self) -> str | None:
        positive = self.positive
        return next((c for c in self.classes or [] if c != positive), None) if positive else None


class EntitySpec(_Strict):
    """How training rows are identified and timed: the Feast join keys and the event-time column."""

    keys: list[Annotated[str, Field(pattern=FEATURE_NAME)]] = Field(
        min_length=1, description="Feast join key column(s) of the entity dataframe"
    )
    timestamp: Annotated[str, Field(pattern=FEATURE_NAME)] = Field(
        default="event_timestamp", description="event-time column of the entity dataframe"
    )


class LabelSpec(_Strict):
    """Where ground truth comes from when a model is registered or trained."""

    column: Annotated[str, Field(pattern=FEATURE_NAME)] = Field(default="label", description="label column")
    source: LabelSource = Field(
        default="entity_df",
        description="entity_df: a column of the training rows file; feature_view: a field of a Feast feature view",
    )
    feature_view: str | None = Field(default=None, description="the Feast feature view holding the label")

    @model_validator(mode="after")
    def _check_source(self) -> LabelSpec:
        if self.source == "feature_view" and not self.feature_view:
            raise ValueError("source feature_view needs feature_view: <name of the Feast feature view>")
        if self.source == "entity_df" and self.feature_view:
            raise ValueError("feature_view is only used with source: feature_view")
        return self


class FeastSpec(_Strict):
    feature_service: str | None = Field(
        default=None, description="Feast feature service of the model's features (default: the repo's only one)"
    )


class FallbackRule(_Strict):
    """Declared post-processing: when every feature of ``when_all_missing`` is missing, the model is not asked
    and a default answer is served (response kind ``fallback``)."""

    when_all_missing: list[str] = Field(min_length=1, description="features whose absence makes a fallback")
    score: float | Literal["baseline_mean"] = Field(
        default="baseline_mean", description="the score served: a number, or the reference predictions' mean"
    )


class ServingSpec(_Strict):
    routes: list[Annotated[str, Field(pattern=ROUTE)]] = Field(
        default_factory=lambda: ["/predict"],
        min_length=1,
        description="HTTP route templates whose responses are predictions (traffic, errors, latency)",
    )
    fallback: FallbackRule | None = Field(default=None, description="declared fallback rule (optional)")
    empty_when_missing: list[str] = Field(
        default_factory=list,
        description="declared post-processing: no answer (kind empty) when any of these features is missing",
    )


class SLO(_Strict):
    """A stakeholder fear turned into a rule, e.g. ``precision >= 0.95``."""

    metric: str = Field(
        description="accuracy, precision, recall, f1, roc_auc, positive_rate, mae, rmse, mape, "
        "p95_latency_ms, error_ratio, fallback_share, empty_share or label_coverage"
    )
    op: Literal[">=", "<=", ">", "<"] = Field(description="the value must be op threshold to hold")
    threshold: float = Field(description="the bound")
    severity: Severity = Field(default="critical", description="warning or critical")
    description: str | None = Field(default=None, description="what the stakeholder fears, in words")

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
    model: Annotated[str, Field(pattern=MODEL_NAME)] = Field(description="model name (lowercase; index names)")
    description: str | None = Field(default=None, description="one sentence on what the model predicts")
    entity: EntitySpec | None = Field(default=None, description="needed by register/train (Feast join keys)")
    label: LabelSpec = Field(default_factory=LabelSpec, description="where ground truth comes from")
    feast: FeastSpec = Field(default_factory=FeastSpec, description="the Feast objects of the model")
    prediction: PredictionSpec = Field(description="what the model returns")
    serving: ServingSpec = Field(default_factory=ServingSpec, description="routes and declared post-processing")
    features: list[FeatureSpec] = Field(min_length=1, description="the model's inputs, in the order it takes them")
    segments: list[str] = Field(default_factory=list, description="categorical features to evaluate per value")
    slos: list[SLO] = Field(default_factory=list, description="fear signals, e.g. 'precision >= 0.95'")
    runbook: str | None = Field(default=None, description="first steps for whoever reads the email")

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
        serving = self.serving
        declared = [*serving.empty_when_missing, *(serving.fallback.when_all_missing if serving.fallback else [])]
        unknown = sorted({name for name in declared if name not in by_name})
        if unknown:
            raise ValueError(f"serving rules name features the spec does not have: {', '.join(unknown)}")
        reserved = {self.label.column, *(self.entity.keys if self.entity else []), *self._timestamp()}
        clash = sorted(reserved & set(names))
        if clash:
            raise ValueError(f"{', '.join(clash)}: entity keys, event timestamp and label cannot be features")
        return self

    def _timestamp(self) -> list[str]:
        return [self.entity.timestamp] if self.entity else []

    def feature(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


def _location(loc: tuple[Any, ...], raw: Any) -> str:
    """Turn a pydantic location into ``features[3] (temperature).type``."""
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
        raise ConfigError(f"{source}: the model spec must be a YAML mapping", hint="see docs/spec-reference.md")
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


def example_row(spec: ModelSpec) -> dict[str, Any]:
    """A valid row of the spec's features built from the spec alone (OpenAPI examples, model checks)."""
    example: dict[str, Any] = {}
    for feature in spec.features:
        if feature.type == "numeric":
            low, high = feature.range or (0.0, 1.0)
            value = low + 0.25 * (high - low)
            example[feature.name] = round(value) if high - low >= 10 else round(value, 3)
        elif feature.type == "boolean":
            example[feature.name] = False
        elif feature.categories:
            example[feature.name] = feature.categories[0]
        else:
            example[feature.name] = "example"
    return example


def spec_yaml(spec: ModelSpec) -> str:
    """The spec as YAML (what a registered version keeps)."""
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)
