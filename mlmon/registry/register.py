"""`mlmon register`: a model version trained anywhere → versioned artifact + Feast saved-dataset baseline.

Inputs: the spec, the Feast repo, the model object (joblib/pickle, see ``scoring``) *or* columns of
precomputed predictions, and the reference rows — an entity dataframe file (keys, event time, label) that is
joined with the spec's feature service by Feast, or a Feast saved dataset the user already has.

Steps: check everything first (model kind and classes, one scored example row, columns), join, score, derive a
content version, save the joined rows as the Feast ``SavedDataset`` ``training_<model>_<version>``, profile
the inputs and the reference predictions, compute feature importance, and write the version folder to a temp
folder that is renamed into place (nothing half-written). Same inputs → same version.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlmon.atomic import replace_dir_atomic, write_text_atomic
from mlmon.baseline import feast_repo
from mlmon.baseline.profile import BaselineProfile, build_profile
from mlmon.errors import ConfigError
from mlmon.metrics import binary_metrics, multiclass_metrics, regression_metrics
from mlmon.registry import artifact
from mlmon.registry.importance import permutation_importance
from mlmon.registry.rows import check_features, entity_rows, read_table
from mlmon.registry.scoring import ModelScorer, Scored, check_scores, label_values, labels_of, model_frame
from mlmon.spec import ModelSpec, example_row, spec_yaml

SCORE_COLUMN = artifact.SCORE_COLUMN
LABEL_COLUMN = artifact.LABEL_COLUMN


@dataclass(frozen=True)
class Predictor:
    """What produces the reference predictions: a model object, or columns of the rows."""

    model: Any = None
    model_bytes: bytes = b""
    source: str = "the model"
    predictions_column: str | None = None  # regression values, or class labels
    scores_column: str | None = None  # classification: probability of the (positive or predicted) class
    identity: str | None = None  # what versions the model (default: a digest of model_bytes)

    @property
    def precomputed(self) -> bool:
        return self.model is None


@dataclass
class RegisterResult:
    model: str
    version: str
    path: Path
    rows: int
    dropped_rows: int
    saved_dataset: str
    profile: BaselineProfile
    metrics: dict[str, float] = field(default_factory=dict)
    importance: dict[str, float] = field(default_factory=dict)
    reused: bool = False
    notes: list[str] = field(default_factory=list)


def load_predictor(spec: ModelSpec, path: Path) -> Predictor:
    """Load a joblib/pickle model file and check it can score the spec's features (one example row)."""
    import joblib

    if not path.is_file():
        raise ConfigError(f"{path}: model file not found", hint="pass the joblib/pickle file your training wrote")
    data = path.read_bytes()
    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling can raise anything
        raise ConfigError(f"{path}: cannot load the model ({exc.__class__.__name__}: {exc})") from None
    scorer = ModelScorer(spec, model, source=str(path))
    try:
        scored = scorer.score(model_frame(spec, pd.DataFrame([example_row(spec)])))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"{path}: cannot score one row of the spec's features ({exc.__class__.__name__}: {exc})",
            hint="the model receives a DataFrame with the spec's features as columns (see `mlmon register --help`)",
        ) from None
    check_scores(spec, scored, 1, str(path))
    return Predictor(model=model, model_bytes=data, source=str(path))


def _digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(map(str, frame.columns)).encode()).hexdigest()


def content_version(spec: ModelSpec, predictor: Predictor, rows: pd.DataFrame, extra: Mapping[str, Any]) -> str:
    payload = json.dumps(
        {
            "spec": spec.model_dump(mode="json"),
            "model": predictor.identity
            or (hashlib.sha256(predictor.model_bytes).hexdigest() if predictor.model_bytes else None),
            "predictions": [predictor.predictions_column, predictor.scores_column],
            "rows": _digest(rows),
            **extra,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _precomputed(spec: ModelSpec, predictor: Predictor, rows: pd.DataFrame, source: str) -> Scored:
    for column in (predictor.predictions_column, predictor.scores_column):
        if column is not None and column not in rows.columns:
            raise ConfigError(f"{source}: predictions column {column!r} is missing")
    if spec.prediction.kind == "regression":
        if predictor.predictions_column is None:
            raise ConfigError("regression needs --predictions-column (the predicted values)")
        values = pd.to_numeric(rows[predictor.predictions_column], errors="coerce").to_numpy(dtype=float)
        return Scored(values, [None] * len(values))
    if predictor.scores_column is None:
        raise ConfigError("classification needs --scores-column (the probability of the predicted/positive class)")
    scores = pd.to_numeric(rows[predictor.scores_column], errors="coerce").to_numpy(dtype=float)
    if predictor.predictions_column is not None:
        labels = labels_of(spec, list(rows[predictor.predictions_column]))
    elif spec.prediction.binary:
        positive, negative = spec.prediction.positive, spec.prediction.negative
        labels = [positive if s >= spec.prediction.threshold else negative for s in scores]
    else:
        raise ConfigError("multi-class needs --predictions-column (the predicted class) next to --scores-column")
    return Scored(scores, labels)


def _metrics(spec: ModelSpec, rows: pd.DataFrame, scored: Scored) -> dict[str, float]:
    """Metrics of the reference predictions against the reference labels (when the rows have them)."""
    if spec.label.column not in rows.columns:
        return {}
    truth = label_values(spec, rows[spec.label.column])
    ok = np.array([t is not None for t in truth]) & np.isfinite(scored.scores)
    if not ok.any():
        return {}
    if spec.prediction.kind == "regression":
        return regression_metrics(np.asarray(truth, dtype=object)[ok].astype(float), scored.scores[ok])
    y = np.asarray(truth, dtype=object)[ok]
    if spec.prediction.binary:
        return binary_metrics(y, scored.scores[ok], str(spec.prediction.positive), spec.prediction.threshold)
    return multiclass_metrics(y, np.asarray(scored.labels, dtype=object)[ok])


def _rows_from_file(
    spec: ModelSpec, repo: Path, rows_file: Path, predictor: Predictor
) -> tuple[pd.DataFrame, feast_repo.TrainingSet, Any]:
    raw = read_table(rows_file, "rows file")
    entity_df = entity_rows(spec, raw, str(rows_file))
    for column in (predictor.predictions_column, predictor.scores_column):
        if column is not None:
            if column not in raw.columns:
                raise ConfigError(f"{rows_file}: predictions column {column!r} is missing")
            entity_df[column] = raw[column].to_numpy()
    store = feast_repo.apply(repo)
    service = feast_repo.feature_service_name(spec, repo)
    training = feast_repo.historical_training_set(store, spec, service, entity_df)
    check_features(spec, training.rows, f"Feast feature service {service!r}")
    return training.rows, training, store


def register(
    spec: ModelSpec,
    repo: Path,
    model_dir: Path,
    predictor: Predictor,
    *,
    rows_file: Path | None = None,
    saved_dataset: str | None = None,
    activate: bool = True,
    version_extra: Mapping[str, Any] | None = None,
    prepared_rows: tuple[pd.DataFrame, feast_repo.TrainingSet, Any] | None = None,
) -> RegisterResult:
    """Register one version (see the module docstring); ``prepared_rows`` is `mlmon train`'s joined holdout."""
    if sum(x is not None for x in (rows_file, saved_dataset, prepared_rows)) != 1:
        raise ConfigError("give the reference rows once: --rows FILE or --saved-dataset NAME")
    training: feast_repo.TrainingSet | None = None
    store: Any = None
    if prepared_rows is not None:
        rows, training, store = prepared_rows
        source = "training holdout"
    elif rows_file is not None:
        rows, training, store = _rows_from_file(spec, repo, rows_file, predictor)
        source = str(rows_file)
    else:
        assert saved_dataset is not None
        rows = feast_repo.read_saved_dataset(repo, saved_dataset)
        source = f"saved dataset {saved_dataset!r}"
        check_features(spec, rows, source)
    if len(rows) < 2:
        raise ConfigError(f"{source}: {len(rows)} row(s) after the Feast join; the reference needs more")
    frame = model_frame(spec, rows)
    if predictor.precomputed:
        scored = _precomputed(spec, predictor, rows, source)
    else:
        scored = ModelScorer(spec, predictor.model, predictor.source).score(frame)
    check_scores(spec, scored, len(rows), predictor.source)

    version = content_version(spec, predictor, rows, version_extra or {})
    target = model_dir / version
    if training is not None:
        saved_name = feast_repo.save_training_set(store, training.job, repo, spec.model, version)
    else:
        assert saved_dataset is not None
        saved_name = saved_dataset
    profile = build_profile(
        spec, version, frame, scored.scores, scored.labels, source=f"feast:saved_dataset:{saved_name}"
    )
    importance = {} if predictor.precomputed else permutation_importance(ModelScorer(spec, predictor.model), frame)
    metrics = _metrics(spec, rows, scored)
    reference = frame.copy()
    reference[SCORE_COLUMN] = scored.scores
    reference[LABEL_COLUMN] = pd.Series(scored.labels, dtype=object)
    metadata = {
        "model": spec.model,
        "version": version,
        "kind": spec.prediction.kind,
        "features": spec.feature_names,
        "reference": {"source": source, "rows": len(rows), "metrics": metrics},
        "rows": {
            "requested": training.requested if training else len(rows),
            "dropped_by_feast": training.dropped if training else 0,
        },
        "feast": {"repo": str(repo), "feature_service": spec.feast.feature_service, "saved_dataset": saved_name},
        "predictions": "precomputed" if predictor.precomputed else f"model ({predictor.source})",
        **dict(version_extra or {}),
    }
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=model_dir))
    try:
        if predictor.model_bytes:
            (staging / artifact.MODEL_FILE).write_bytes(predictor.model_bytes)
        artifact.write_metadata(staging, metadata)
        profile.save(staging / artifact.PROFILE_FILE)
        write_text_atomic(staging / artifact.SPEC_FILE, spec_yaml(spec))
        write_text_atomic(staging / artifact.IMPORTANCE_FILE, json.dumps(importance, indent=1, sort_keys=True))
        reference.reset_index(drop=True).to_parquet(staging / artifact.REFERENCE_FILE, index=False)
        reused = (target / artifact.METADATA_FILE).is_file()
        replace_dir_atomic(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if activate:
        artifact.set_current(model_dir, version)
    return RegisterResult(
        model=spec.model,
        version=version,
        path=target,
        rows=len(rows),
        dropped_rows=training.dropped if training else 0,
        saved_dataset=saved_name,
        profile=profile,
        metrics=metrics,
        importance=importance,
        reused=reused,
    )
