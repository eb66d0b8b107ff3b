"""The serving model version's baseline, loaded once per version.

The model folder's ``CURRENT`` is read on every run, so a newly deployed version is picked up without a
restart. For that version we load the baseline profile (bins, shares) and the Feast ``SavedDataset`` it was
derived from (raw reference values for exact KS on small windows, and the baseline scores of the model).
A version whose saved dataset is gone is a :class:`BaselineNotFound` naming the version and the fix.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlmon.baseline import feast_repo
from mlmon.baseline.profile import BaselineProfile
from mlmon.model import artifact
from mlmon.spec import ModelSpec, load_spec
from mlmon.stats.baseline import PREDICTION, Baseline, from_profile
from mlmon.training.train import ENTITY_KEY, HOLDOUT_SHARE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingBaseline:
    model: str
    version: str
    spec: ModelSpec
    profile: BaselineProfile
    engine: Baseline  # what mlmon.stats.engine.compare takes
    saved_dataset: str

    @property
    def monitored_features(self) -> list[str]:
        # PII features are stored hashed (or dropped): their values cannot be compared with training data.
        return [f.name for f in self.spec.features if not f.pii]


class BaselineCache:
    def __init__(self, model_path: Path, feast_repo_path: Path) -> None:
        self.model_path = model_path
        self.feast_repo_path = feast_repo_path
        self._by_version: dict[str, ServingBaseline] = {}
        self._lock = threading.Lock()

    def current(self) -> ServingBaseline:
        version_dir = artifact.resolve_version_dir(self.model_path)
        version = version_dir.name
        with self._lock:
            cached = self._by_version.get(version)
            if cached is None:
                cached = self._load(version_dir)
                self._by_version[version] = cached
            return cached

    def _load(self, version_dir: Path) -> ServingBaseline:
        metadata: dict[str, Any] = json.loads((version_dir / artifact.METADATA_FILE).read_text(encoding="utf-8"))
        spec = load_spec(version_dir / artifact.SPEC_FILE)
        profile = BaselineProfile.load(version_dir / artifact.PROFILE_FILE)
        model, version = metadata["model"], metadata["version"]
        log.info("loading the Feast baseline of %s %s", model, version)
        rows = feast_repo.read_saved_dataset(self.feast_repo_path, model, version, ENTITY_KEY)
        reference: dict[str, np.ndarray] = {}
        for feature in spec.features:
            if feature.type == "numeric" and feature.name in rows.columns:
                values = rows[feature.name].to_numpy(dtype=float)
                reference[feature.name] = values[~np.isnan(values)]
        # The baseline scores are the model's scores on the saved set's holdout period, as in the profile.
        loaded = artifact.load_model(version_dir)
        holdout = rows.iloc[int(len(rows) * (1 - HOLDOUT_SHARE)) :]
        reference[PREDICTION] = loaded.predict_scores(holdout)
        monitored = {f.name for f in spec.features if not f.pii}
        engine = from_profile(profile, reference_values=reference)
        features = {k: v for k, v in engine.features.items() if k in monitored or k not in profile.features}
        return ServingBaseline(
            model=model,
            version=version,
            spec=spec,
            profile=profile,
            engine=Baseline(rows=engine.rows, features=features),
            saved_dataset=feast_repo.saved_dataset_name(model, version),
        )
