"""Feature importance, computed once at registration, used to rank the likely causes of an incident.

Permutation sensitivity on the reference rows: for each feature, shuffle its column (``repeats`` times, a
fixed seed) and measure the mean absolute change of the model's score; the importances are these changes as
shares of their sum. It needs no labels, so it works on any reference set, and it says how much the model's
*output* moves when that input changes — which is what makes an input shift a plausible cause of a symptom.
At most ``max_rows`` reference rows are used. Without a model object (precomputed predictions) there is no
importance and every input counts the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlmon.registry.scoring import ModelScorer

MAX_ROWS = 2000
REPEATS = 3


def permutation_importance(
    scorer: ModelScorer, frame: pd.DataFrame, *, repeats: int = REPEATS, max_rows: int = MAX_ROWS, seed: int = 0
) -> dict[str, float]:
    """``{feature: share}`` summing to 1 (all zeros when the model ignores every input)."""
    rng = np.random.default_rng(seed)
    if len(frame) > max_rows:
        frame = frame.iloc[np.sort(rng.choice(len(frame), size=max_rows, replace=False))]
    frame = frame.reset_index(drop=True)
    base = scorer.score(frame).scores
    changes: dict[str, float] = {}
    for name in frame.columns:
        total = 0.0
        for _ in range(repeats):
            shuffled = frame.copy()
            shuffled[name] = frame[name].to_numpy()[rng.permutation(len(frame))]
            moved = np.abs(scorer.score(shuffled).scores - base)
            total += float(np.nanmean(moved)) if np.isfinite(moved).any() else 0.0
        changes[name] = total / repeats
    whole = sum(changes.values())
    return {k: (v / whole if whole > 0 else 0.0) for k, v in changes.items()}
