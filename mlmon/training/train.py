"""`mlmon train`: a convenience for scikit-learn users — fit a default model on Feast features and register it.

Steps: read the entity rows (keys, event time, label), join them with the spec's feature service in Feast
(rows Feast drops are counted), split by time (the last ``holdout_share`` is the holdout), fit a default
scikit-learn pipeline for the spec's kind (gradient boosting; categories one-hot encoded, missing values
imputed), and register the fitted model with the holdout as the reference rows (out-of-sample predictions
are what serving produces). ``rows_transform`` lets a caller alter the training rows before fitting (the demo
uses it to reproduce a training bug). Nothing is written into the Feast repo except what Feast itself keeps
(the registry and the saved dataset).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from mlmon.baseline import feast_repo
from mlmon.errors import ConfigError
from mlmon.registry.register import Predictor, RegisterResult, register
from mlmon.registry.rows import check_features, entity_rows, read_table
from mlmon.registry.scoring import label_values, model_frame
from mlmon.spec import ModelSpec

log = logging.getLogger(__name__)

HOLDOUT_SHARE = 0.2
MIN_ROWS = 100
PARAMS: dict[str, Any] = {
    "max_iter": 200,
    "learning_rate": 0.08,
    "max_depth": 4,
    "l2_regularization": 1.0,
    "early_stopping": False,
    "random_state": 0,
}
RowsTransform = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass
class TrainResult:
    registered: RegisterResult
    fit_rows: int
    holdout_rows: int
    requested_rows: int
    dropped_rows: int


def _as_text(frame: Any) -> Any:
    # Categories (and booleans) as strings, missing as one explicit category.
    return pd.DataFrame(frame).astype(object).where(pd.notna(frame), "__missing__").astype(str)


def build_pipeline(spec: ModelSpec) -> Pipeline:
    numeric = [f.name for f in spec.features if f.type == "numeric"]
    other = [f.name for f in spec.features if f.type != "numeric"]
    categories = Pipeline(
        [
            ("text", FunctionTransformer(_as_text, feature_names_out="one-to-one")),
            # Rare values fold into one "infrequent" column; unseen ones are ignored at serve time.
            ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=100, sparse_output=False)),
        ]
    )
    pre = ColumnTransformer(
        [("num", SimpleImputer(strategy="median", add_indicator=True), numeric), ("cat", categories, other)]
    )
    estimator: Any = (
        HistGradientBoostingRegressor(**PARAMS)
        if spec.prediction.kind == "regression"
        else HistGradientBoostingClassifier(**PARAMS)
    )
    return Pipeline([("pre", pre), ("model", estimator)])


def _targets(spec: ModelSpec, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[Any]]:
    truth = label_values(spec, rows[spec.label.column])
    keep = [t is not None for t in truth]
    if not any(keep):
        raise ConfigError(f"label column {spec.label.column!r} holds no usable labels for {spec.prediction.kind}")
    return rows[keep].reset_index(drop=True), [t for t in truth if t is not None]


def train(
    spec: ModelSpec,
    repo: Path,
    model_dir: Path,
    rows_file: Path,
    *,
    holdout_share: float = HOLDOUT_SHARE,
    activate: bool = True,
    rows_transform: RowsTransform | None = None,
    variant: str = "standard",
) -> TrainResult:
    raw = read_table(rows_file, "rows file")
    entity_df = entity_rows(spec, raw, str(rows_file))
    store = feast_repo.apply(repo)
    service = feast_repo.feature_service_name(spec, repo)
    training = feast_repo.historical_training_set(store, spec, service, entity_df)
    check_features(spec, training.rows, f"Feast feature service {service!r}")
    rows = training.rows if rows_transform is None else rows_transform(training.rows)
    if len(rows) < MIN_ROWS:
        raise ConfigError(f"only {len(rows)} training rows came back from Feast; check the TTL and timestamps")
    split = int(len(rows) * (1 - holdout_share))
    fit_rows, fit_truth = _targets(spec, rows.iloc[:split])
    pipeline = build_pipeline(spec)
    pipeline.fit(model_frame(spec, fit_rows), fit_truth)
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    trainer = {"params": PARAMS, "sklearn": sklearn.__version__, "variant": variant, "holdout_share": holdout_share}
    # Fitting is deterministic but a pickle need not be byte-stable: the version follows the data and the trainer.
    rows_digest = hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()).hexdigest()
    identity = hashlib.sha256(f"{rows_digest}:{trainer}".encode()).hexdigest()
    predictor = Predictor(model=pipeline, model_bytes=buffer.getvalue(), source="mlmon train", identity=identity)
    holdout = rows.iloc[split:].reset_index(drop=True)
    extra = {"trainer": trainer}
    result = register(
        spec,
        repo,
        model_dir,
        predictor,
        activate=activate,
        prepared_rows=(holdout, training, store),
        version_extra=extra,
    )
    return TrainResult(result, len(fit_rows), len(holdout), training.requested, training.dropped)
