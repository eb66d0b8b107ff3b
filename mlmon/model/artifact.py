"""Model artifacts written by `mlmon train` and loaded by the model server.

Layout under ``MLMON_MODEL_PATH`` (``var/models/<model>``)::

    CURRENT                      the serving version (one line)
    <version>/model.joblib       the fitted scikit-learn pipeline
    <version>/metadata.json      features, holdout metrics, training window, Feast feature service, saved dataset
    <version>/baseline_profile.json
    <version>/spec.yaml          the model spec the model was trained with

The version is derived from content (training rows, spec, parameters), so training twice on the same data
gives the same version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from mlmon.atomic import write_text_atomic
from mlmon.baseline.profile import BaselineProfile, as_category
from mlmon.errors import ConfigError, ModelNotLoaded
from mlmon.spec import ModelSpec, load_spec

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
PROFILE_FILE = "baseline_profile.json"
SPEC_FILE = "spec.yaml"
CURRENT_FILE = "CURRENT"


def model_frame(spec: ModelSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """Spec features in spec order, typed the way the pipeline was fitted (numbers float, categories str)."""
    out = pd.DataFrame(index=rows.index)
    for feature in spec.features:
        column = rows[feature.name] if feature.name in rows.columns else pd.Series(None, index=rows.index)
        if feature.type == "numeric":
            out[feature.name] = pd.to_numeric(column, errors="coerce").astype(float)
        else:
            out[feature.name] = as_category(column, feature.type).astype(object)
    return out


@dataclass
class LoadedModel:
    """A trained model ready to serve: its spec, baseline profile and a scoring function."""

    name: str
    version: str
    spec: ModelSpec
    profile: BaselineProfile
    pipeline: Any
    metadata: Mapping[str, Any]
    path: Path

    @property
    def classes(self) -> list[str]:
        return list(self.spec.prediction.classes or [])

    @property
    def threshold(self) -> float:
        return self.spec.prediction.threshold

    def predict_scores(self, rows: pd.DataFrame) -> np.ndarray:
        """Positive-class probability (classification) or predicted value (regression) per row."""
        frame = model_frame(self.spec, rows)
        if self.spec.prediction.kind == "classification":
            proba = self.pipeline.predict_proba(frame)
            positive_index = list(self.pipeline.classes_).index(self.spec.prediction.positive)
            return np.asarray(proba[:, positive_index], dtype=float)
        return np.asarray(self.pipeline.predict(frame), dtype=float)

    def label_for(self, score: float) -> str | None:
        if self.spec.prediction.kind != "classification":
            return None
        positive = self.spec.prediction.positive
        negative = next(c for c in self.classes if c != positive)
        return positive if score >= self.threshold else negative


def resolve_version_dir(path: Path) -> Path:
    """Accept a version folder or a model folder holding ``CURRENT``."""
    if (path / METADATA_FILE).is_file():
        return path
    current = path / CURRENT_FILE
    if current.is_file():
        version = current.read_text(encoding="utf-8").strip()
        candidate = path / version
        if (candidate / METADATA_FILE).is_file():
            return candidate
        raise ModelNotLoaded(f"{current} names version {version!r} but {candidate} has no model")
    raise ModelNotLoaded(
        f"no trained model at {path}", hint="run `mlmon train` or set MLMON_MODEL_PATH to a model folder"
    )


def load_model(path: str | Path) -> LoadedModel:
    version_dir = resolve_version_dir(Path(path))
    try:
        metadata = json.loads((version_dir / METADATA_FILE).read_text(encoding="utf-8"))
        pipeline = joblib.load(version_dir / MODEL_FILE)
    except (OSError, ValueError, EOFError) as exc:
        raise ModelNotLoaded(f"cannot read the model in {version_dir}: {exc}") from exc
    try:
        spec = load_spec(version_dir / SPEC_FILE)
    except ConfigError as exc:
        raise ModelNotLoaded(f"the model in {version_dir} has an unreadable spec: {exc}") from exc
    profile = BaselineProfile.load(version_dir / PROFILE_FILE)
    return LoadedModel(
        name=metadata["model"],
        version=metadata["version"],
        spec=spec,
        profile=profile,
        pipeline=pipeline,
        metadata=metadata,
        path=version_dir,
    )


def write_metadata(version_dir: Path, metadata: Mapping[str, Any]) -> None:
    write_text_atomic(version_dir / METADATA_FILE, json.dumps(metadata, indent=1, sort_keys=True) + "\n")


def set_current(model_dir: Path, version: str) -> None:
    write_text_atomic(model_dir / CURRENT_FILE, version + "\n")
