"""The registered model artifact: what `mlmon register` (and `mlmon train`) write, and the one reader of it.

Layout under ``MLMON_MODEL_PATH`` (default ``<MLMON_VAR_DIR>/models/<model>``)::

    CURRENT                          the serving version (one line)
    <version>/metadata.json          model, version, kind, rows, Feast feature service and saved dataset, sources
    <version>/spec.yaml              the spec the version was registered with
    <version>/baseline_profile.json  bins, shares, ranges of the inputs and of the reference predictions
    <version>/reference.parquet      the reference rows: spec features + prediction.score (+ prediction.label)
    <version>/importance.json        {feature: share of the model output's sensitivity}, see importance.py
    <version>/model.joblib           the model object (absent when precomputed predictions were registered)

The version is derived from content (spec, model bytes or predictions, rows), so registering the same thing
twice gives the same version. The monitoring jobs read everything they compare against from here: neither
Feast nor the model's libraries are needed at run time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from mlmon.atomic import write_text_atomic
from mlmon.baseline.profile import BaselineProfile
from mlmon.errors import BaselineNotFound, ConfigError, ModelNotLoaded
from mlmon.spec import ModelSpec, load_spec

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
PROFILE_FILE = "baseline_profile.json"
SPEC_FILE = "spec.yaml"
REFERENCE_FILE = "reference.parquet"
IMPORTANCE_FILE = "importance.json"
CURRENT_FILE = "CURRENT"
SCORE_COLUMN = "prediction.score"  # reference.parquet: the reference prediction's score
LABEL_COLUMN = "prediction.label"  # reference.parquet: the reference prediction's class (classification)
REGISTER_HINT = "run `mlmon register` (or `mlmon train`) and set MLMON_MODEL_PATH to its model folder"


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
        raise ModelNotLoaded(f"{current} names version {version!r} but {candidate} has no registered model")
    raise ModelNotLoaded(f"no registered model at {path}", hint=REGISTER_HINT)


@dataclass(frozen=True)
class RegisteredModel:
    """One registered version, read from its folder."""

    path: Path
    spec: ModelSpec
    profile: BaselineProfile
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.model

    @property
    def version(self) -> str:
        return self.profile.model_version

    @property
    def has_model(self) -> bool:
        return (self.path / MODEL_FILE).is_file()

    @cached_property
    def reference(self) -> pd.DataFrame:
        """The reference rows (spec features + ``prediction.score`` [+ ``prediction.label``])."""
        path = self.path / REFERENCE_FILE
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise BaselineNotFound(
                f"the reference rows of {self.name} {self.version} cannot be read from {path}: "
                f"{exc.__class__.__name__}",
                hint="re-register this version with `mlmon register`",
            ) from None

    @cached_property
    def importance(self) -> dict[str, float]:
        """Feature importance stored at registration; empty when it could not be computed."""
        try:
            raw = json.loads((self.path / IMPORTANCE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): float(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def load_model(self) -> Any:
        """The model object (joblib); ModelNotLoaded when it is absent or unreadable."""
        import joblib

        path = self.path / MODEL_FILE
        if not path.is_file():
            raise ModelNotLoaded(
                f"{self.name} {self.version} was registered with precomputed predictions: there is no model "
                "object to serve",
                hint="serve it with your own server instrumented by mlmon.instrument.monitor",
            )
        try:
            return joblib.load(path)
        except Exception as exc:  # unpickling runs arbitrary code: any error means "not loadable here"
            raise ModelNotLoaded(f"cannot load {path}: {exc.__class__.__name__}: {exc}") from exc


def read_registered(path: str | Path) -> RegisteredModel:
    """The version at ``path`` (a version folder, or a model folder with ``CURRENT``)."""
    version_dir = resolve_version_dir(Path(path))
    try:
        metadata = json.loads((version_dir / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotLoaded(f"cannot read {version_dir / METADATA_FILE}: {exc}") from exc
    try:
        spec = load_spec(version_dir / SPEC_FILE)
    except ConfigError as exc:
        raise ModelNotLoaded(f"the model in {version_dir} has an unreadable spec: {exc}") from exc
    profile = BaselineProfile.load(version_dir / PROFILE_FILE)
    return RegisteredModel(path=version_dir, spec=spec, profile=profile, metadata=metadata)


def write_metadata(version_dir: Path, metadata: Mapping[str, Any]) -> None:
    write_text_atomic(version_dir / METADATA_FILE, json.dumps(metadata, indent=1, sort_keys=True) + "\n")


def set_current(model_dir: Path, version: str) -> None:
    write_text_atomic(model_dir / CURRENT_FILE, version + "\n")


def versions(model_dir: Path) -> list[str]:
    """Registered versions in the folder (for `mlmon` messages and the demo)."""
    return sorted(p.parent.name for p in model_dir.glob(f"*/{METADATA_FILE}"))
