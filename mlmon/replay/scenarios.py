"""Named fault scenarios for `mlmon replay`, drawn from the silent failures of seed 000.

A scenario turns a batch of realistic applications into what the model server would receive while the fault
is on. ``progress`` runs from 0 to 1 over the replay, so faults can ramp. Ground truth is always computed
from the *true* applications (before the fault): the fault changes what the model sees, not who defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Transform = Callable[[pd.DataFrame, float, np.random.Generator], pd.DataFrame]
Expectation = Literal["drift", "stats", "none"]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    transform: Transform
    expected_features: tuple[str, ...] = ()  # what the detector should name (empty: nothing should alert)
    detected_by: Expectation = "drift"
    model_variant: str = "standard"  # "degraded": the demo deploys a worse model version first
    rate_profile: Callable[[float], float] = field(default=lambda progress: 1.0)


def _identity(frame: pd.DataFrame, progress: float, rng: np.random.Generator) -> pd.DataFrame:
    return frame


def _unit_change(frame: pd.DataFrame, progress: float, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    out["seconds_since_last_application"] = out["seconds_since_last_application"] * 1000.0
    return out


def _fill_rate_drop(frame: pd.DataFrame, progress: float, rng: np.random.Generator) -> pd.DataFrame:
    # debt_ratio is filled ~80% in training; blank enough present values to leave ~20% filled.
    out = frame.copy()
    present = out["debt_ratio"].notna().to_numpy()
    blank = present & (rng.random(len(out)) < 0.75)
    out.loc[blank, "debt_ratio"] = np.nan
    return out


def _enrichment_outage(frame: pd.DataFrame, progress: float, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    out[["bureau_score", "open_credit_lines"]] = np.nan
    return out


def _category_shift(frame: pd.DataFrame, progress: float, rng: np.random.Generator) -> pd.DataFrame:
    # A partner campaign: the partner channel's share goes from 10% to about 40%.
    out = frame.copy()
    move = rng.random(len(out)) < 1 / 3
    out.loc[move, "channel"] = "partner"
    return out


def _empty_responses(frame: pd.DataFrame, progress: float, rng: np.random.Generator) -> pd.DataFrame:
    # A client release stops sending income; the server's affordability filter then answers with no offer.
    out = frame.copy()
    out.loc[rng.random(len(out)) < 0.6, "income"] = np.nan
    return out


def _gradual_drift(frame: pd.DataFrame, progress: float, rng: np.random.Generator) -> pd.DataFrame:
    # Loan sizes creep up as a new product is rolled out: +150% by the end of the replay.
    out = frame.copy()
    out["loan_amount"] = (out["loan_amount"] * (1.0 + 1.5 * progress)).clip(upper=500_000)
    return out


def _seasonal_rate(progress: float) -> float:
    # Two compressed "days" of traffic: busy afternoons, quiet nights. Volume changes, the mix does not.
    return float(1.0 + 0.6 * np.sin(2 * np.pi * 2 * progress))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("baseline", "no change: traffic like the training data", _identity),
        Scenario(
            "unit-change",
            "seconds_since_last_application sent in milliseconds",
            _unit_change,
            ("seconds_since_last_application",),
        ),
        Scenario("fill-rate-drop", "debt_ratio filled 80% -> 20%", _fill_rate_drop, ("debt_ratio",)),
        Scenario(
            "enrichment-outage",
            "credit-bureau enrichment down: bureau_score and open_credit_lines null",
            _enrichment_outage,
            ("bureau_score", "open_credit_lines"),
        ),
        Scenario("category-shift", "partner channel share 10% -> 40%", _category_shift, ("channel",)),
        Scenario(
            "empty-responses",
            "income no longer sent: the affordability filter empties responses",
            _empty_responses,
            ("empty_share",),
            detected_by="stats",
        ),
        Scenario(
            "bad-retrain",
            "a worse model version is deployed (training join bug)",
            _identity,
            ("roc_auc",),
            detected_by="stats",
            model_variant="degraded",
        ),
        Scenario("gradual-drift", "loan_amount creeps up to +150% over the replay", _gradual_drift, ("loan_amount",)),
        Scenario(
            "seasonal",
            "daily volume pattern, same mix: must NOT alert",
            _identity,
            (),
            detected_by="none",
            rate_profile=_seasonal_rate,
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}") from None
