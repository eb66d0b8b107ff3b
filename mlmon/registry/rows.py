"""Reading a user's training rows (the entity dataframe) and checking them against the spec.

A file is parquet (``.parquet``/``.pq``) or CSV (``.csv``). It must hold the spec's entity keys and
event-time column, and the label column when the label comes from the file (``label.source: entity_df``).
Every problem is one line naming the file, the column and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlmon.errors import ConfigError
from mlmon.spec import ModelSpec

SUFFIXES = (".parquet", ".pq", ".csv")


def table_suffix(path: Path, what: str) -> str:
    """The lower-case suffix of a parquet or CSV file that exists; ConfigError (one line) otherwise."""
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found", hint="check the path")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"{path}: unsupported {what} type {suffix or '(none)'}", hint="use .parquet or .csv")
    return suffix


def read_table(path: Path, what: str = "rows file") -> pd.DataFrame:
    """A parquet or CSV file as a frame; ConfigError (one line) when missing or unreadable."""
    suffix = table_suffix(path, what)
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pyarrow and the CSV parser raise many types for a damaged file
        raise ConfigError(f"{path}: cannot read the {what} ({exc.__class__.__name__}: {exc})") from None


def entity_rows(spec: ModelSpec, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The entity dataframe Feast needs: the keys, the event time as UTC datetimes, and the file's label."""
    if spec.entity is None:
        raise ConfigError(
            f"the spec of {spec.model} has no entity section",
            hint="add `entity: {keys: [<join key>], timestamp: event_timestamp}` to the spec",
        )
    entity = spec.entity
    for key in entity.keys:
        if key not in frame.columns:
            raise ConfigError(
                f"{source}: entity key column {key!r} (entity.keys in the spec) is missing",
                hint=f"the file has: {', '.join(map(str, frame.columns[:20]))}",
            )
        if frame[key].isna().any():
            raise ConfigError(f"{source}: entity key column {key!r} has empty values", hint="drop or fill those rows")
    if entity.timestamp not in frame.columns:
        raise ConfigError(
            f"{source}: event-time column {entity.timestamp!r} (entity.timestamp in the spec) is missing",
            hint=f"the file has: {', '.join(map(str, frame.columns[:20]))}",
        )
    label = spec.label
    if label.source == "entity_df" and label.column not in frame.columns:
        raise ConfigError(
            f"{source}: label column {label.column!r} (label.column in the spec) is missing",
            hint="add the ground truth column, or set label.source: feature_view if it lives in Feast",
        )
    try:
        times = pd.to_datetime(frame[entity.timestamp], utc=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"{source}: column {entity.timestamp!r} is not a timestamp ({exc})") from None
    if times.isna().any():
        raise ConfigError(f"{source}: column {entity.timestamp!r} has empty timestamps", hint="drop those rows")
    keep = [*entity.keys, *([label.column] if label.source == "entity_df" else [])]
    out = frame[keep].copy()
    out[entity.timestamp] = times
    return out


def check_features(spec: ModelSpec, rows: pd.DataFrame, source: str) -> None:
    """Every spec feature must come back from Feast (or be in the saved dataset)."""
    missing = [name for name in spec.feature_names if name not in rows.columns]
    if missing:
        raise ConfigError(
            f"{source}: spec features missing: {', '.join(missing)}",
            hint="add them to the feature service, or remove them from the spec",
        )
