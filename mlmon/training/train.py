"""`mlmon train`: demo data → Feast → scikit-learn pipeline → versioned artifact + saved-dataset baseline.

Steps: write the demo data if the repo has none, apply the Feast definitions, build the training set with
``get_historical_features`` (rows Feast drops are counted), split by time (last 20% is the holdout), fit,
evaluate, derive a content-based version, save the training set as a Feast ``SavedDataset`` named after the
version, derive the baseline profile *from that saved dataset*, and write the artifact to a temp folder that is
renamed into place. Training twice on the same data gives the same version, model metrics and profile.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlmon import demo_data
from mlmon.atomic import replace_dir_atomic
from mlmon.baseline import feast_repo
from mlmon.baseline.profile import BaselineProfile, build_profile
from mlmon.errors import ConfigError
from mlmon.model import artifact
from mlmon.spec import ModelSpec

log = logging.getLogger(__name__)

ENTITY_KEY = "application_id"
HOLDOUT_SHARE = 0.2
Variant = Literal["standard", "degraded"]
PARAMS: dict[str, Any] = {
    "max_iter": 200,
    "learning_rate": 0.08,
    "max_depth": 4,
    "l2_regularization": 1.0,
    "early_stopping": False,
    "random_state": 0,
}
# The "degraded" variant reproduces a silent training bug (seed 000: "model is automatically trained and
# released, but model is worse"): a broken join scrambles two strong features before fitting.
DEGRADED_SHUFFLED = ("debt_ratio", "bureau_score")


@dataclass
class TrainResult:
    model: str
    version: str
    path: Path
    metrics: dict[str, float]
    rows: int
    dropped_rows: int
    holdout_rows: int
    saved_dataset: str
    profile: BaselineProfile
    reused: bool = False
    notes: list[str] = field(default_factory=list)


def build_pipeline(spec: ModelSpec) -> Pipeline:
    numeric = [f.name for f in spec.features if f.type == "numeric"]
    categorical = [f.name for f in spec.features if f.type != "numeric"]
    categories = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            # Rare values (postcodes) fold into one "infrequent" column; unseen ones are ignored at serve time.
            ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=100, sparse_output=False)),
        ]
    )
    pre = ColumnTransformer(
        [("num", SimpleImputer(strategy="median", add_indicator=True), numeric), ("cat", categories, categorical)]
    )
    return Pipeline([("pre", pre), ("clf", HistGradientBoostingClassifier(**PARAMS))])


def _frame_digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(frame.columns).encode()).hexdigest()


def content_version(spec: ModelSpec, rows: pd.DataFrame, variant: Variant) -> str:
    payload = json.dumps(
        {
            "spec": spec.model_dump(mode="json"),
            "params": PARAMS,
            "variant": variant,
            "rows": _frame_digest(rows),
            "sklearn": sklearn.__version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def ensure_demo_data(repo: Path, *, rows: int, seed: int) -> bool:
    """Write the demo parquet files when the repo has none; returns True when it wrote them."""
    apps, labels = repo / feast_repo.APPLICATIONS_FILE, repo / feast_repo.LABELS_FILE
    if apps.is_file() and labels.is_file():
        return False
    data = demo_data.generate(rows, seed=seed)
    apps.parent.mkdir(parents=True, exist_ok=True)
    for frame, path in ((data.applications, apps), (data.labels, labels)):
        tmp = path.with_suffix(".tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    return True


def read_labels(repo: Path) -> pd.DataFrame:
    path = repo / feast_repo.LABELS_FILE
    try:
        labels = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the labels file ({exc})", hint="delete it to regenerate") from None
    required = {ENTITY_KEY, "event_timestamp", "label"}
    if not required <= set(labels.columns):
        raise ConfigError(f"{path}: missing columns {sorted(required - set(labels.columns))}")
    return labels[[ENTITY_KEY, "event_timestamp", "label"]]


def _metrics(spec: ModelSpec, y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    positive = spec.prediction.positive
    truth = (y_true == positive).astype(int)
    predicted = (scores >= spec.prediction.threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision": float(precision_score(truth, predicted, zero_division=0)),
        "recall": float(recall_score(truth, predicted, zero_division=0)),
        "f1": float(f1_score(truth, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(truth, scores)) if len(set(truth)) > 1 else float("nan"),
        "positive_rate": float(predicted.mean()),
        "base_rate": float(truth.mean()),
    }


def train(
    spec: ModelSpec,
    repo: Path,
    model_dir: Path,
    *,
    rows: int = 20_000,
    seed: int = 7,
    variant: Variant = "standard",
    set_current: bool = True,
) -> TrainResult:
    if spec.prediction.kind != "classification":
        raise ConfigError("the demo trainer fits classifiers; set prediction.kind: classification in the spec")
    wrote = ensure_demo_data(repo, rows=rows, seed=seed)
    store = feast_repo.apply(repo)
    service = feast_repo.feature_service_name(repo)
    labels = read_labels(repo)
    job, training = feast_repo.historical_training_set(store, service, labels, ENTITY_KEY)
    data = training.rows
    if len(data) < 100:
        raise ConfigError(f"only {len(data)} training rows came back from Feast; check the TTL and timestamps")
    if variant == "degraded":
        shuffle = np.random.default_rng(seed).permutation(len(data))
        for name in DEGRADED_SHUFFLED:
            data[name] = data[name].to_numpy()[shuffle]

    version = content_version(spec, data, variant)
    target = model_dir / version
    split = int(len(data) * (1 - HOLDOUT_SHARE))
    fit_rows, holdout = data.iloc[:split], data.iloc[split:]
    pipeline = build_pipeline(spec)
    pipeline.fit(artifact.model_frame(spec, fit_rows), fit_rows["label"].to_numpy())
    positive_index = list(pipeline.classes_).index(spec.prediction.positive)
    holdout_scores = pipeline.predict_proba(artifact.model_frame(spec, holdout))[:, positive_index]
    metrics = _metrics(spec, holdout["label"].to_numpy(), holdout_scores)

    saved_name = feast_repo.save_training_set(store, job, repo, spec.model, version)
    # The baseline comes from what Feast saved, read back through Feast (labels joined from the file).
    baseline_rows = feast_repo.read_saved_dataset(repo, spec.model, version, ENTITY_KEY)
    if variant == "degraded":  # the saved set is re-read from Feast: apply the same (buggy) join again
        shuffle = np.random.default_rng(seed).permutation(len(baseline_rows))
        for name in DEGRADED_SHUFFLED:
            baseline_rows[name] = baseline_rows[name].to_numpy()[shuffle]
    # Prediction buckets come from out-of-sample scores (the holdout period), which is what serving produces.
    baseline_holdout = baseline_rows.iloc[int(len(baseline_rows) * (1 - HOLDOUT_SHARE)) :]
    baseline_scores = pipeline.predict_proba(artifact.model_frame(spec, baseline_holdout))[:, positive_index]
    profile = build_profile(spec, version, baseline_rows, baseline_scores, source=f"feast:saved_dataset:{saved_name}")
    ts = data["event_timestamp"]
    metadata = {
        "model": spec.model,
        "version": version,
        "variant": variant,
        "features": spec.feature_names,
        "prediction": spec.prediction.model_dump(mode="json"),
        "metrics_holdout": metrics,
        "training_window": {"start": ts.min().isoformat(), "end": ts.max().isoformat()},
        "rows": {
            "requested": training.requested,
            "returned": len(data),
            "dropped_by_feast": training.dropped,
            "fit": len(fit_rows),
            "holdout": len(holdout),
        },
        "feast": {"repo": str(repo), "feature_service": service, "saved_dataset": saved_name},
        "params": PARAMS,
        "sklearn": sklearn.__version__,
    }

    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=_ensure(model_dir)))
    try:
        joblib.dump(pipeline, staging / artifact.MODEL_FILE)
        artifact.write_metadata(staging, metadata)
        profile.save(staging / artifact.PROFILE_FILE)
        (staging / artifact.SPEC_FILE).write_text(_spec_yaml(spec), encoding="utf-8")
        reused = (target / artifact.METADATA_FILE).is_file()
        replace_dir_atomic(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if set_current:
        artifact.set_current(model_dir, version)
    notes = ["generated demo data"] if wrote else []
    return TrainResult(
        model=spec.model,
        version=version,
        path=target,
        metrics=metrics,
        rows=len(data),
        dropped_rows=training.dropped,
        holdout_rows=len(holdout),
        saved_dataset=saved_name,
        profile=profile,
        reused=reused,
        notes=notes,
    )


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _spec_yaml(spec: ModelSpec) -> str:
    import yaml

    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)
