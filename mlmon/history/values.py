"""Column values of a history file as the live path would have received them, or a reason per bad cell.

A file is not a JSON request: CSV gives numbers as text, pandas gives NaN or ``pd.NA`` for an empty cell, parquet
gives numpy scalars. Each function turns one column into Python values of the spec's type (numbers as
``float``, booleans as ``bool``, categories as ``str``, missing as ``None``) and returns the rows it refuses
with a reason that names the field but not the value (so that reasons group in the summary); the first
offending value is shown next to the group.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

Problems = dict[int, tuple[str, Any]]  # row position → (reason, the value)
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def numbers(column: pd.Series, field: str, problems: Problems) -> list[float | None]:
    """Finite floats (missing → None); text that parses as a number counts (CSV), anything else is refused."""
    if pd.api.types.is_bool_dtype(column.dtype):
        for i, value in enumerate(column):
            problems.setdefault(i, (f"{field}: expected a number, got a boolean", value))
        return [None] * len(column)
    if pd.api.types.is_numeric_dtype(column.dtype):
        array = column.to_numpy(dtype="float64", na_value=np.nan)
        out: list[float | None] = []
        for i, number in enumerate(array.tolist()):
            if math.isnan(number):
                out.append(None)
            elif math.isinf(number):
                problems.setdefault(i, (f"{field}: not a finite number", number))
                out.append(None)
            else:
                out.append(number)
        return out
    return [_number(value, i, field, problems) for i, value in enumerate(column.tolist())]


def _number(value: Any, i: int, field: str, problems: Problems) -> float | None:
    if missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        problems.setdefault(i, (f"{field}: expected a number, got a boolean", value))
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        problems.setdefault(i, (f"{field}: expected a number", value))
        return None
    if not math.isfinite(number):
        problems.setdefault(i, (f"{field}: not a finite number", value))
        return None
    return number


def booleans(column: pd.Series, field: str, problems: Problems) -> list[bool | None]:
    """``True``/``False`` (also ``true``/``false``/``1``/``0``/``yes``/``no`` as text, 0/1 as numbers)."""
    out: list[bool | None] = []
    for i, value in enumerate(column.tolist()):
        if missing(value):
            out.append(None)
        elif isinstance(value, (bool, np.bool_)):
            out.append(bool(value))
        elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            out.append(value.strip().lower() in _TRUE)
        elif isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
            out.append(bool(value))
        else:
            problems.setdefault(i, (f"{field}: expected a boolean (true/false)", value))
            out.append(None)
    return out


def texts(column: pd.Series, field: str, problems: Problems) -> list[str | None]:
    """Categories and identifiers as text; whole numbers without a decimal point (``3.0`` → ``"3"``)."""
    out: list[str | None] = []
    for i, value in enumerate(column.tolist()):
        if missing(value):
            out.append(None)
        elif isinstance(value, str):
            out.append(value)
        elif isinstance(value, (bool, np.bool_)):
            out.append("true" if value else "false")
        elif isinstance(value, (int, np.integer)):
            out.append(str(int(value)))
        elif isinstance(value, (float, np.floating)) and math.isfinite(value):
            out.append(str(int(value)) if float(value).is_integer() else repr(float(value)))
        else:
            problems.setdefault(i, (f"{field}: expected text", value))
            out.append(None)
    return out


def times(column: pd.Series, field: str, problems: Problems, *, required: bool) -> list[datetime | None]:
    """UTC timestamps (millisecond precision; a time without an offset is taken as UTC); numbers are refused
    (seconds or milliseconds since 1970 would be a guess)."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_datetime64_any_dtype(column.dtype):
        for i, value in enumerate(column.tolist()):
            if not missing(value):
                problems.setdefault(i, (f"{field}: expected a date-time (ISO 8601 text or a datetime column)", value))
        return [None] * len(column)
    parsed = pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601").dt.floor("ms")
    gaps = parsed.isna().to_numpy()
    stamps = parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[ms]").astype(object)  # naive UTC datetimes
    out: list[datetime | None] = []
    for i, when in enumerate(stamps.tolist()):
        if gaps[i]:
            raw = column.iloc[i]
            if not missing(raw):
                problems.setdefault(i, (f"{field}: not an ISO 8601 date-time", raw))
            elif required:
                problems.setdefault(i, (f"{field}: missing", raw))
            out.append(None)
        else:
            out.append(when.replace(tzinfo=UTC))
    return out
