"""Where replayed rows come from: a file of the user's rows (``--from``), or a named scenario.

A :class:`RowSource` hands out rows as they are sent (JSON-ready dicts of features) with their true labels
(``None`` when there is none). ``FileRows`` reads a parquet or CSV file, keeps the spec's features (or every
column but the label and the excluded ones when no spec is given), and applies what-if changes to a column:
``shift`` (add a number) or ``scale`` (multiply) — e.g. temperatures 8 °C warmer, seconds sent as
milliseconds. Scenarios are contributed by packages through the ``mlmon.scenarios`` entry-point group (the
demo registers its fault scenarios there); the product knows none of them by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlmon.errors import ConfigError
from mlmon.registry.rows import read_table
from mlmon.spec import ModelSpec

SCENARIO_GROUP = "mlmon.scenarios"


class RowSource(Protocol):
    name: str

    def take(self, n: int) -> tuple[list[dict[str, Any]], list[Any]]:
        """The next ``n`` rows (fewer at the end of a finite source) and their labels."""
        ...

    def rate_at(self, progress: float) -> float:
        """Relative send rate at ``progress`` (0..1) of the replay; 1.0 for a flat rate."""
        ...


class Scenario(Protocol):
    """What a package registers under ``mlmon.scenarios`` (a mapping name → scenario)."""

    name: str
    description: str

    def rows(self, seed: int, total: int) -> RowSource: ...


def to_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row as JSON: NaN → null, numpy scalars → Python."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out[key] = None
        elif isinstance(value, np.bool_ | bool):
            out[key] = bool(value)
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.floating):
            out[key] = None if math.isnan(float(value)) else float(value)
        elif isinstance(value, pd.Timestamp):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class WhatIf:
    """``column=+8`` (shift) or ``column*1000`` (scale) applied to a numeric column."""

    column: str
    op: str  # "shift" | "scale"
    value: float

    @classmethod
    def parse(cls, text: str, op: str) -> WhatIf:
        column, sep, number = text.partition("=")
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not sep or not column or not math.isfinite(value):
            raise ConfigError(f"--{op} {text!r}: write it like COLUMN=NUMBER, e.g. temperature_c=8")
        return cls(column.strip(), op, value)

    def apply(self, frame: pd.DataFrame, source: str) -> None:
        if self.column not in frame.columns:
            raise ConfigError(f"{source}: --{self.op} column {self.column!r} is not in the file")
        values = pd.to_numeric(frame[self.column], errors="coerce")
        frame[self.column] = values + self.value if self.op == "shift" else values * self.value


class FileRows:
    """Rows of a file, in order; ``loop`` starts over at the end (else the source is finite)."""

    def __init__(
        self,
        path: Path,
        *,
        spec: ModelSpec | None = None,
        label_column: str | None = None,
        exclude: Sequence[str] = (),
        what_ifs: Sequence[WhatIf] = (),
        loop: bool = False,
    ) -> None:
        frame = read_table(path, "replay file")
        if label_column is not None and label_column not in frame.columns:
            raise ConfigError(f"{path}: label column {label_column!r} is not in the file")
        for change in what_ifs:
            change.apply(frame, str(path))
        if spec is not None:
            missing = [n for n in spec.feature_names if n not in frame.columns]
            if len(missing) == len(spec.feature_names):
                raise ConfigError(f"{path}: none of the spec's features are columns of the file")
            columns = [n for n in spec.feature_names if n in frame.columns]
        else:
            columns = [c for c in frame.columns if c != label_column and c not in exclude]
        if frame.empty:
            raise ConfigError(f"{path}: the replay file has no rows")
        self.name = path.name
        self._rows = [to_payload(r) for r in frame[columns].to_dict("records")]
        labels = frame[label_column].tolist() if label_column is not None else [None] * len(frame)
        self._labels = [None if v is None or (isinstance(v, float) and math.isnan(v)) else _plain(v) for v in labels]
        self._next = 0
        self.loop = loop

    def __len__(self) -> int:
        return len(self._rows)

    def take(self, n: int) -> tuple[list[dict[str, Any]], list[Any]]:
        rows: list[dict[str, Any]] = []
        labels: list[Any] = []
        while len(rows) < n:
            if self._next >= len(self._rows):
                if not self.loop:
                    break
                self._next = 0
            end = min(len(self._rows), self._next + n - len(rows))
            rows += self._rows[self._next : end]
            labels += self._labels[self._next : end]
            self._next = end
        return rows, labels

    def rate_at(self, progress: float) -> float:
        return 1.0


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def registered_scenarios() -> dict[str, Scenario]:
    """Every scenario registered by installed packages (entry-point group ``mlmon.scenarios``)."""
    found: dict[str, Scenario] = {}
    for point in entry_points(group=SCENARIO_GROUP):
        try:
            loaded: Mapping[str, Scenario] = point.load()
        except Exception as exc:  # a broken plugin must not break the command
            raise ConfigError(f"scenario plugin {point.value!r} cannot be loaded: {exc}") from exc
        found.update(loaded)
    return found


def get_scenario(name: str) -> Scenario:
    scenarios = registered_scenarios()
    if name not in scenarios:
        known = ", ".join(scenarios) or "none installed"
        raise ConfigError(f"unknown scenario {name!r}", hint=f"known: {known}")
    return scenarios[name]


RateProfile = Callable[[float], float]
