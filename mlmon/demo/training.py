"""Training the demo's loan model with the product's trainer, and its ``degraded`` variant.

The ``degraded`` variant reproduces a silent training bug ("the model is retrained and released
automatically, but it is worse"): a broken join scrambles two strong features before fitting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mlmon.demo.data import DEMO_SEED, LABELS_FILE, ensure_demo_data
from mlmon.spec import ModelSpec, load_spec
from mlmon.training.train import RowsTransform, TrainResult, train

SPEC_PATH = Path(__file__).with_name("loan_default.yaml")
REPO_PATH = Path(__file__).resolve().parents[2] / "feature_repo"  # the demo's Feast repo, in the checkout
Variant = Literal["standard", "degraded"]
DEGRADED_SHUFFLED = ("debt_ratio", "bureau_score")


def demo_spec() -> ModelSpec:
    return load_spec(SPEC_PATH)


def _scramble(seed: int) -> RowsTransform:
    def transform(rows: pd.DataFrame) -> pd.DataFrame:
        out = rows.copy()
        order = np.random.default_rng(seed).permutation(len(out))
        for name in DEGRADED_SHUFFLED:
            out[name] = out[name].to_numpy()[order]
        return out

    return transform


def train_demo(
    repo: Path,
    model_dir: Path,
    *,
    variant: Variant = "standard",
    rows: int = 20_000,
    seed: int = DEMO_SEED,
    activate: bool = True,
    spec: ModelSpec | None = None,
) -> TrainResult:
    """Generate the demo data into ``repo`` (once), then train and register ``variant``."""
    ensure_demo_data(repo, rows=rows, seed=seed)
    transform = _scramble(seed) if variant == "degraded" else None
    return train(
        spec or demo_spec(),
        repo,
        model_dir,
        repo / LABELS_FILE,
        activate=activate,
        rows_transform=transform,
        variant=variant,
    )
