"""Where history comes from: a parquet or CSV file (read in chunks), a Feast saved dataset, or a Feast feature
service joined point-in-time to an entity dataframe that holds the predictions (keys, event time, prediction,
maybe labels) — the features then come from Feast as the model saw them.

CSV cells of text roles (categories, entity keys, ids, versions, classes) are read as text, so that ``007`` stays
``007``; everything else as pandas infers it (``mlmon.history.values`` then takes numbers written as text).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlmon.errors import ConfigError
from mlmon.history.columns import IngestColumns
from mlmon.registry.rows import table_suffix
from mlmon.spec import ModelSpec


@dataclass
class HistorySource:
    """Rows to ingest, in chunks; ``total`` is None when unknown before reading (CSV)."""

    description: str
    columns: list[str]
    total: int | None
    _chunks: Iterator[pd.DataFrame] = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def chunks(self) -> Iterator[pd.DataFrame]:
        return self._chunks


def _text_columns(spec: ModelSpec, columns: IngestColumns) -> dict[str, str]:
    text = [f.name for f in spec.features if f.type == "categorical"]
    text += [*columns.entity_keys, columns.prediction_id, columns.model_version, columns.response_kind]
    if spec.prediction.kind == "classification":
        text += [columns.prediction, columns.label]
    return dict.fromkeys(text, "string")


def from_file(path: Path, spec: ModelSpec, columns: IngestColumns, chunk_rows: int) -> HistorySource:
    suffix = table_suffix(path, "history file")
    try:
        if suffix == ".csv":
            header = pd.read_csv(path, nrows=0)
            names = [str(c) for c in header.columns]
            dtypes = {k: v for k, v in _text_columns(spec, columns).items() if k in names}
            reader = pd.read_csv(path, dtype=dtypes, chunksize=chunk_rows)
            return HistorySource(f"{path} (CSV)", names, None, iter(reader))
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        names = [str(n) for n in parquet.schema_arrow.names]
        batches = (batch.to_pandas() for batch in parquet.iter_batches(batch_size=chunk_rows))
        return HistorySource(f"{path} (parquet)", names, parquet.metadata.num_rows, batches)
    except ConfigError:
        raise
    except Exception as exc:  # pyarrow and the CSV parser raise many types for a damaged file
        raise ConfigError(f"{path}: cannot read the history file ({exc.__class__.__name__}: {exc})") from None


def _framed(frame: pd.DataFrame, description: str, chunk_rows: int, notes: list[str]) -> HistorySource:
    chunks = (frame.iloc[i : i + chunk_rows] for i in range(0, len(frame), chunk_rows))
    return HistorySource(description, [str(c) for c in frame.columns], len(frame), chunks, notes)


def from_saved_dataset(repo: Path, name: str, chunk_rows: int) -> HistorySource:
    """Every column the saved dataset was saved with (its entity dataframe's predictions and labels too)."""
    from mlmon.baseline.feast_repo import read_saved_dataset

    frame = read_saved_dataset(repo, name)
    return _framed(frame, f"Feast saved dataset {name!r} in {repo}", chunk_rows, [])


def from_feature_service(
    repo: Path, spec: ModelSpec, entity_file: Path, service: str | None, chunk_rows: int
) -> HistorySource:
    """The entity dataframe (keys, event time, predictions, maybe labels) joined point-in-time with the feature
    service (the spec's, or ``service``): the features as Feast served them at each event time."""
    from mlmon.baseline import feast_repo
    from mlmon.registry.rows import read_table

    entity = feast_repo.entity_of(spec)
    frame = read_table(entity_file, "entity dataframe")
    for column in [*entity.keys, entity.timestamp]:
        if column not in frame.columns:
            raise ConfigError(
                f"{entity_file}: entity dataframe lacks {column!r} (entity keys and timestamp of the spec)",
                hint=f"the file has: {', '.join(map(str, frame.columns[:20]))}",
            )
    overlap = [n for n in spec.feature_names if n in frame.columns]
    if overlap:
        frame = frame.drop(columns=overlap)  # Feast provides the features; the file's copies would clash
    try:
        frame[entity.timestamp] = pd.to_datetime(frame[entity.timestamp], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{entity_file}: column {entity.timestamp!r} is not a date-time ({exc})") from None
    store = feast_repo.open_store(repo)
    name = service or feast_repo.feature_service_name(spec, repo)
    joined = feast_repo.historical_training_set(store, spec, name, frame)
    notes = [f"Feast returned no features for {joined.dropped} entity row(s) (outside the TTL): not loaded"]
    return _framed(
        joined.rows,
        f"{entity_file} joined with Feast feature service {name!r}",
        chunk_rows,
        notes[: bool(joined.dropped)],
    )
