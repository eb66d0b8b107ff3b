"""Strict JSON request bodies: the content type, the parse and times, each refusal an ``InvalidInput`` (or
``UnsupportedMediaType``) naming the field and the reason.

- only ``application/json`` and ``application/*+json`` (415 otherwise);
- NaN/Infinity, duplicate keys, lone surrogates and integers past Python's 4300-digit limit are refused with the
  path of the offending field;
- times are ISO 8601 within what the stores keep (1677-09-22 .. 2262-04-11).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from mlmon.errors import InvalidInput, UnsupportedMediaType, echo

FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
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


def json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number" if math.isfinite(float(value)) else "a non-finite number"
    return "null" if value is None else type(value).__name__
