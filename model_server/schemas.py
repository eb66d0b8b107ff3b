"""Request schemas built from the model spec, and the parsing that turns a body into validated rows.

- numeric → finite number (JSON ``NaN``/``Infinity`` and numbers too large for a float are refused; a
  string is not a number), categorical → string, boolean → ``true``/``false``.
- ``required: true`` features must be present and not null; the others may be absent or null (missing).
- unknown fields: refused (422) or ignored, per ``MLMON_UNKNOWN_FIELDS``.
- ``/predict`` takes one object, or ``{"instances": [...]}`` with 1..``max_batch_size`` objects.
- JSON itself is held to more than Python's parser asks: a duplicate key, a string that is not valid Unicode
  (a lone surrogate escape such as ``"\\ud800"``), an integer past Python's int-string limit (4300 digits) and
  ``NaN``/``Infinity`` are refused, naming the key or the field.
- only ``application/json`` and ``application/*+json`` bodies are read (415 otherwise).
- times (``observed_at``) are ISO 8601, naive means UTC, within the range pandas and the stores can hold.

Every refusal is an ``InvalidInput`` naming the field (``instances[3].temperature``) and the reason; user text
in an error is cut to ``mlmon.errors.ECHO_LIMIT`` characters.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError, WithJsonSchema, create_model

from mlmon.errors import InvalidInput, UnsupportedMediaType, echo
from mlmon.spec import FeatureSpec, ModelSpec

FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
BATCH_KEY = "instances"
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


class RequestParser:
    """Turns a raw ``/predict`` body into validated rows ``{feature: value or None}`` in spec order."""

    def __init__(self, spec: ModelSpec, unknown_fields: Literal["reject", "ignore"], max_batch_size: int) -> None:
        self.spec = spec
        self.model = instance_model(spec, unknown_fields)
        self.max_batch_size = max_batch_size
        self.reject_unknown = unknown_fields == "reject"
        self.names = spec.feature_names
        self._required = {f.name for f in spec.features if f.required}
        self._batch_key_is_feature = BATCH_KEY in self.names

    def parse(self, body: bytes) -> tuple[list[dict[str, Any]], bool]:
        """Rows and whether the request was a batch."""
        data = parse_json(body)
        if not isinstance(data, dict):
            raise InvalidInput("body", f"must be a JSON object, not {_json_type(data)}")
        if BATCH_KEY in data and not self._batch_key_is_feature:
            instances = data[BATCH_KEY]
            extra = sorted(set(data) - {BATCH_KEY})
            if extra and self.reject_unknown:
                raise InvalidInput(extra[0], f"unexpected field next to {BATCH_KEY!r}")
            if not isinstance(instances, list):
                raise InvalidInput(BATCH_KEY, f"must be a list of objects, not {_json_type(instances)}")
            if not instances:
                raise InvalidInput(BATCH_KEY, "must hold at least one instance")
            if len(instances) > self.max_batch_size:
                raise InvalidInput(BATCH_KEY, f"batch of {len(instances)} exceeds max_batch_size {self.max_batch_size}")
            return [self.validate(item, f"{BATCH_KEY}[{i}]") for i, item in enumerate(instances)], True
        return [self.validate(data, "")], False

    def validate(self, item: Any, prefix: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise InvalidInput(prefix or "body", f"must be a JSON object, not {_json_type(item)}")
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


# Python's json turns "\ud800" into a str that cannot be encoded; raw UTF-8 cannot carry one (not UTF-8).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# pandas (and so both stores) hold nanosecond timestamps: 1677-09-21 .. 2262-04-11.
MIN_TIME = datetime(1677, 9, 22, tzinfo=UTC)
_DATE_Z = re.compile(r"^\d{4}-\d{2}-\d{2}Z$")
MAX_TIME = datetime(2262, 4, 11, tzinfo=UTC)


def check_content_type(content_type: str | None) -> None:
    """Only JSON bodies are read: ``application/json`` or ``application/<x>+json`` (415 otherwise), so that
    a cross-site form post (``text/plain``, ``application/x-www-form-urlencoded``) is never a prediction."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    shown = repr(echo(media)) if media else "missing"
    raise UnsupportedMediaType("content-type", f"{shown} is not JSON; send Content-Type: application/json")


def parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidInput("body", "empty request body; send a JSON object")
    try:
        data = json.loads(body, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except InvalidInput:
        raise
    except UnicodeDecodeError:
        raise InvalidInput("body", "not UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput("body", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InvalidInput("body", "JSON nested too deeply") from None
    except ValueError as exc:  # Python's int-string conversion limit
        raise _oversized_integer(body) or InvalidInput("body", echo(str(exc))) from None
    if _SURROGATE_ESCAPE.search(body):
        _check_unicode(data)
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidInput(key, "duplicate key in a JSON object")
            seen.add(key)
    return out


def _reject_constant(token: str) -> float:
    # NaN / Infinity are not JSON; Python's parser accepts them, we do not (the field is unknown here).
    raise InvalidInput("body", f"{token} is not a valid JSON number")


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any, bool]]:
    """Every value in a parsed JSON document with its path (``instances[3].x``); keys too (flag True)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        yield where, item, False
        if isinstance(item, dict):
            for key, child in reversed(item.items()):
                at = f"{where}.{key}" if where else key
                yield at, key, True
                stack.append((at, child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", child) for i, child in reversed(list(enumerate(item))))


def _check_unicode(data: Any) -> None:
    for where, value, is_key in _walk(data):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                what = "key" if is_key else "string"
                raise InvalidInput(where or "body", f"{what} is not valid Unicode (a lone surrogate)") from None


class _HugeInt:
    def __init__(self, digits: int) -> None:
        self.digits = digits


def _oversized_integer(body: bytes) -> InvalidInput | None:
    """Parse again, marking integers past the int-string limit, to name the field that holds one."""
    limit = sys.get_int_max_str_digits() or 4300

    def parse_int(text: str) -> Any:
        digits = len(text.lstrip("-"))
        return _HugeInt(digits) if digits > limit else 0

    try:
        data = json.loads(body, parse_int=parse_int, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):
        return None
    for where, value, _ in _walk(data):
        if isinstance(value, _HugeInt):
            return InvalidInput(where or "body", f"integer of {value.digits} digits is too large (limit {limit})")
    return None


def parse_time(raw: str, field: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC) → aware UTC datetime, within MIN_TIME..MAX_TIME."""
    text = raw[:-1] + "T00:00:00+00:00" if _DATE_Z.match(raw) else raw  # "2026-01-15Z": a UTC date
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"{echo(raw)!r} is not an ISO 8601 time like 2026-01-15T10:00:00Z") from None
    try:
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:
        when = datetime.min.replace(tzinfo=UTC)  # an offset pushed it before year 1
    if not MIN_TIME <= when <= MAX_TIME:
        raise InvalidInput(
            field, f"{echo(raw)!r} is outside the supported range {MIN_TIME:%Y-%m-%d} .. {MAX_TIME:%Y-%m-%d} (UTC)"
        )
    return when


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number" if math.isfinite(float(value)) else "a non-finite number"
    return "null" if value is None else type(value).__name__


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


class FeedbackItem(BaseModel):
    """Ground truth for one prediction (``observed_at`` defaults to now; naive times are UTC)."""

    model_config = ConfigDict(extra="forbid")
    prediction_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    label: StrictStr | FiniteFloat
    observed_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})] | None = Field(
        default=None,
        description="ISO 8601 time the outcome was observed (naive: UTC), 1677-09-22 .. 2262-04-11",
        examples=["2026-01-15T10:00:00Z"],
    )


class PredictionOut(BaseModel):
    prediction_id: str = Field(description="Quote it in POST /feedback")
    prediction: str | float | None = Field(description="Class label (classification) or value (regression)")
    score: float | None = Field(description="Positive-class probability or predicted value; null when empty")
    model_version: str
    kind: Literal["ok", "empty", "fallback"] = Field(description="ok, empty (no usable output), fallback")


class BatchPredictionOut(BaseModel):
    predictions: list[PredictionOut]


class FeedbackOut(BaseModel):
    written: int = Field(description="Labels stored")
    replaced: int = Field(description="Of those, labels that replaced an earlier one (last wins)")
    unknown: int = Field(description="Labels for prediction ids the store does not hold (not written)")
    unknown_ids: list[str] = Field(description="Up to 100 of the unknown prediction ids")


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None
    reason: str | None = None


def feedback_example(spec: ModelSpec) -> dict[str, Any]:
    label: str | float = spec.prediction.positive or 1.0
    return {"prediction_id": "6f1c2d3e4b5a69788796a5b4c3d2e1f0", "label": label, "observed_at": "2026-01-15T10:00:00Z"}
