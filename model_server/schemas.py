"""Request schemas built from the model spec, and the parsing that turns a body into validated rows.

- numeric → finite number (JSON ``NaN``/``Infinity`` and numbers too large for a float are refused; a
  string is not a number), categorical → string, boolean → ``true``/``false``.
- ``required: true`` features must be present and not null; the others may be absent or null (missing).
- unknown fields: refused (422) or ignored, per ``MLMON_UNKNOWN_FIELDS``.
- ``/predict`` takes one object, or ``{"instances": [...]}`` with 1..``max_batch_size`` objects.
- each instance may carry ``event_time`` (``mlmon.instrument.event_time``: ISO 8601 with an offset, within the
  configured skew from the server's clock), unless a spec feature has that name.
- JSON itself is parsed strictly by ``mlmon.http.json_body`` (duplicate keys, lone surrogates, huge integers,
  ``NaN``/``Infinity`` and non-JSON content types are refused, naming the key or the field).

Every refusal is an ``InvalidInput`` naming the field (``instances[3].temperature``) and the reason; user text
in an error is cut to ``mlmon.errors.ECHO_LIMIT`` characters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
    create_model,
)

from mlmon.errors import InvalidInput
from mlmon.http.json_body import FiniteFloat, json_type, parse_json
from mlmon.instrument.event_time import DESCRIPTION as EVENT_TIME_DESCRIPTION
from mlmon.instrument.event_time import EVENT_TIME, EventTimePolicy
from mlmon.spec import FeatureSpec, ModelSpec, example_row

BATCH_KEY = "instances"
_DateTimeText = Annotated[StrictStr, Field(json_schema_extra={"format": "date-time"})]  # parsed after validation
_PY_TYPES: dict[str, Any] = {"numeric": FiniteFloat, "categorical": StrictStr, "boolean": StrictBool}


def instance_model(spec: ModelSpec, unknown_fields: Literal["reject", "ignore"]) -> type[BaseModel]:
    """A pydantic model of one prediction request (also the OpenAPI schema)."""
    fields: dict[str, Any] = {}
    for feature in spec.features:
        kind = _PY_TYPES[feature.type]
        description = _describe(feature)
        if feature.required:
            fields[feature.name] = (kind, Field(..., description=description))
        else:
            fields[feature.name] = (kind | None, Field(None, description=description))
    if EVENT_TIME not in fields:
        fields[EVENT_TIME] = (_DateTimeText | None, Field(None, description=EVENT_TIME_DESCRIPTION))
    config = ConfigDict(extra="forbid" if unknown_fields == "reject" else "ignore")
    return create_model(f"{_camel(spec.model)}Instance", __config__=config, **fields)


def _describe(feature: FeatureSpec) -> str:
    parts = [feature.description or feature.type]
    if feature.unit:
        parts.append(f"unit: {feature.unit}")
    if feature.range:
        parts.append(f"expected range [{feature.range[0]:g}, {feature.range[1]:g}] (outside is served, counted)")
    if feature.categories:
        parts.append(f"known categories: {', '.join(feature.categories)} (others are served, counted)")
    if feature.pii:
        parts.append("PII: stored only as a keyed hash (or dropped)")
    return "; ".join(parts)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def example_instance(spec: ModelSpec) -> dict[str, Any]:
    """A valid request body built from the spec alone (used in the OpenAPI schema and tested)."""
    return example_row(spec)


class ParsedRequest(NamedTuple):
    rows: list[dict[str, Any]]
    batch: bool
    event_times: list[datetime | None] | None  # per row (None: the server's time); None when no row has one


class RequestParser:
    """Turns a raw ``/predict`` body into validated rows ``{feature: value or None}`` in spec order."""

    def __init__(
        self,
        spec: ModelSpec,
        unknown_fields: Literal["reject", "ignore"],
        max_batch_size: int,
        event_time: EventTimePolicy | None = None,
    ) -> None:
        self.spec = spec
        self.model = instance_model(spec, unknown_fields)
        self.max_batch_size = max_batch_size
        self.reject_unknown = unknown_fields == "reject"
        self.names = spec.feature_names
        self._required = {f.name for f in spec.features if f.required}
        self._batch_key_is_feature = BATCH_KEY in self.names
        self._batch: TypeAdapter[list[BaseModel]] = TypeAdapter(list[self.model])  # type: ignore[name-defined]
        self.event_time = event_time or EventTimePolicy()
        self._times = EVENT_TIME not in self.names  # a feature of that name wins: no client event time then

    def parse(self, body: bytes) -> ParsedRequest:
        """Rows, whether the request was a batch, and the instances' event times."""
        data = parse_json(body)
        if not isinstance(data, dict):
            raise InvalidInput("body", f"must be a JSON object, not {json_type(data)}")
        if BATCH_KEY in data and not self._batch_key_is_feature:
            instances = data[BATCH_KEY]
            extra = sorted(set(data) - {BATCH_KEY})
            if extra and self.reject_unknown:
                raise InvalidInput(extra[0], f"unexpected field next to {BATCH_KEY!r}")
            if not isinstance(instances, list):
                raise InvalidInput(BATCH_KEY, f"must be a list of objects, not {json_type(instances)}")
            if not instances:
                raise InvalidInput(BATCH_KEY, "must hold at least one instance")
            if len(instances) > self.max_batch_size:
                raise InvalidInput(BATCH_KEY, f"batch of {len(instances)} exceeds max_batch_size {self.max_batch_size}")
            return self._with_times(self._validate_batch(instances), instances, True)
        return self._with_times([self.validate(data, "")], [data], False)

    def _with_times(self, rows: list[dict[str, Any]], instances: list[Any], batch: bool) -> ParsedRequest:
        """The validated rows with the instances' event times (checked against the server's clock)."""
        if not self._times or not any(EVENT_TIME in item for item in instances):
            return ParsedRequest(rows, batch, None)
        now = datetime.now(UTC)
        times = [
            None
            if item.get(EVENT_TIME) is None
            else self.event_time.parse(item[EVENT_TIME], _at(f"{BATCH_KEY}[{i}]" if batch else ""), now)
            for i, item in enumerate(instances)
        ]
        return ParsedRequest(rows, batch, times)

    def _validate_batch(self, instances: list[Any]) -> list[dict[str, Any]]:
        """Every instance in one pydantic call (the loop runs in pydantic-core); when one is invalid, the
        instances are validated one by one so that the error names the first invalid one as ever."""
        try:
            models = self._batch.validate_python(instances)
        except ValidationError:
            return [self.validate(item, f"{BATCH_KEY}[{i}]") for i, item in enumerate(instances)]
        names = self.names
        return [{name: values.get(name) for name in names} for values in (m.__dict__ for m in models)]

    def validate(self, item: Any, prefix: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise InvalidInput(prefix or "body", f"must be a JSON object, not {json_type(item)}")
        try:
            values = self.model.model_validate(item).__dict__
        except ValidationError as exc:
            err = exc.errors()[0]
            name = ".".join(str(p) for p in err["loc"]) or "body"
            field = f"{prefix}.{name}" if prefix else name
            raise InvalidInput(field, self._reason(err, item)) from None
        return {name: values.get(name) for name in self.names}

    def _reason(self, err: Any, item: dict[str, Any]) -> str:
        name = err["loc"][0] if err["loc"] else None
        if err["type"] == "extra_forbidden":
            return "unknown field (not in the model spec)"
        if name in self._required and name in item and item[name] is None:
            return "required feature must not be null"
        if err["type"] == "missing":
            return "required feature is missing"
        value = item.get(name) if isinstance(name, str) else None
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 1024:
            return "number too large: not a finite float"
        return str(err["msg"])


def _at(prefix: str) -> str:
    return f"{prefix}.{EVENT_TIME}" if prefix else EVENT_TIME


# Python's json turns "\ud800" into a str that cannot be encoded; raw UTF-8 cannot carry one (not UTF-8).
def predict_request_schema(spec: ModelSpec, model: type[BaseModel], max_batch_size: int) -> dict[str, Any]:
    """OpenAPI request body for ``/predict``: one instance or a batch, with a valid example of each."""
    instance_schema = model.model_json_schema()
    example = example_instance(spec)
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        instance_schema,
                        {
                            "type": "object",
                            "title": "Batch",
                            "required": [BATCH_KEY],
                            "additionalProperties": False,
                            "properties": {
                                BATCH_KEY: {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": max_batch_size,
                                    "items": instance_schema,
                                }
                            },
                        },
                    ]
                },
                "example": example,
                "examples": {
                    "one": {"summary": "One prediction", "value": example},
                    "batch": {"summary": "A batch", "value": {BATCH_KEY: [example, example]}},
                },
            }
        },
    }


class PredictionOut(BaseModel):
    prediction_id: str = Field(description="Quote it in POST /feedback")
    prediction: str | float | None = Field(description="Class label (classification) or value (regression)")
    score: float | None = Field(description="Positive-class probability or predicted value; null when empty")
    model_version: str
    kind: Literal["ok", "empty", "fallback"] = Field(description="ok, empty (no usable output), fallback")


class BatchPredictionOut(BaseModel):
    predictions: list[PredictionOut]
