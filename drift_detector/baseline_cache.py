"""The serving model version's baseline, loaded once per version from its registered artifact.

The model folder's ``CURRENT`` is read on every run, so a newly registered version is picked up without a
restart. For that version the profile (bins, shares) and the reference rows written at registration (raw
values for exact tests on small windows, and the reference predictions) are loaded; neither Feast nor the
model's own libraries are needed here. A version whose reference is unreadable is a ``BaselineNotFound``
naming the version and the fix.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlmon.baseline.profile import BaselineProfile
from mlmon.registry.artifact import SCORE_COLUMN, RegisteredModel, read_registered, resolve_version_dir
from mlmon.spec import ModelSpec
from mlmon.stats.baseline import PREDICTION, Baseline, from_profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingBaseline:
    registered: RegisteredModel
    engine: Baseline  # per feature, what the statistics engine compares against

    @property
    def model(self) -> str:
        return self.registered.name

    @property
    def version(self) -> str:
        return self.registered.version

    @property
    def spec(self) -> ModelSpec:
        return self.registered.spec

    @property
    def profile(self) -> BaselineProfile:
        return self.registered.profile

    @property
    def saved_dataset(self) -> str:
        return str(self.registered.metadata.get("feast", {}).get("saved_dataset", ""))


def load_baseline(registered: RegisteredModel) -> ServingBaseline:
    """The engine's baseline for a registered version: profile bins + the reference rows' raw values."""
    spec, profile = registered.spec, registered.profile
    rows = registered.reference
    reference: dict[str, np.ndarray] = {}
    for feature in spec.features:
        if feature.type == "numeric" and feature.name in rows.columns:
            values = rows[feature.name].to_numpy(dtype=float)
            reference[feature.name] = values[~np.isnan(values)]
    if SCORE_COLUMN in rows.columns:
        scores = rows[SCORE_COLUMN].to_numpy(dtype=float)
        reference[PREDICTION] = scores[np.isfinite(scores)]
    # PII features are stored hashed (or dropped): their values cannot be compared with the reference.
    monitored = {f.name for f in spec.features if not f.pii}
    engine = from_profile(profile, reference_values=reference)
    features = {k: v for k, v in engine.features.items() if k in monitored or k not in profile.features}
    return ServingBaseline(registered, Baseline(rows=engine.rows, features=features))


class BaselineCache:
    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._by_version: dict[str, ServingBaseline] = {}
        self._lock = threading.Lock()

    def current(self) -> ServingBaseline:
        version_dir = resolve_version_dir(self.model_path)
        with self._lock:
            cached = self._by_version.get(version_dir.name)
            if cached is None:
                registered = read_registered(version_dir)
                log.info("loading the baseline of %s %s", registered.name, registered.version)
                cached = load_baseline(registered)
                self._by_version[version_dir.name] = cached
            return cached
