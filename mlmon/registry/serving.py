"""A registered version ready to serve: its artifact and a scorer around its model object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlmon.baseline.profile import BaselineProfile
from mlmon.registry.artifact import RegisteredModel, read_registered
from mlmon.registry.scoring import ModelScorer, Scored, model_frame
from mlmon.spec import ModelSpec


@dataclass(frozen=True)
class LoadedModel:
    registered: RegisteredModel
    scorer: ModelScorer

    @property
    def name(self) -> str:
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

    def score(self, rows: pd.DataFrame) -> Scored:
        """Rows of spec features (any dtypes) → scores and labels."""
        return self.scorer.score(model_frame(self.spec, rows))

    def label_for(self, score: float) -> str | None:
        return self.scorer.label_for(score)


def load_model(path: str | Path) -> LoadedModel:
    """The serving version at ``path`` (a version folder or a model folder with ``CURRENT``)."""
    registered = read_registered(path)
    model = registered.load_model()
    return LoadedModel(registered, ModelScorer(registered.spec, model, str(registered.path)))
