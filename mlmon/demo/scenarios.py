"""The demo's named fault scenarios (`mlmon replay --scenario NAME`, `mlmon demo --scenario NAME`).

A scenario turns a batch of realistic applications into what the model server would receive while the fault
is on. ``progress`` runs from 0 to 1 over the replay, so faults can ramp. Ground truth is always computed
from the *true* applications (before the fault): the fault changes what the model sees, not who defaults.
The scenarios reach the product's `mlmon replay` through the ``mlmon.scenarios`` entry-point group.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlmon.demo.data import default_probability, generate_features
from mlmon.replay.sources import RowSource, to_payload

CHUNK_ROWS = 200  # rows drawn (and transformed) at a time; fixed so that a seed gives the same rows

Transform = Callable[[pd.DataFrame, float, np.random.Generator], pd.DataFrame]
Expectation = Literal["drift", "stats", "none"]


@dataclass(frozen=True)
class Scenario:
    """A fault and what its incident email must say: ``expected_kinds`` (codes of ``mlmon.notify.kinds``) name the
    kind of change, whose label must be in the subject with ``subject_words``; ``expected_features`` must be in
    the text. ``pages``: a symptom or an integrity break pages; False: input shifts alone, told by the digest
    (a page is fine only when a symptom followed)."""

    name: str
    description: str
    transform: Transform
    expected_features: tuple[str, ...] = ()  # what the email should name (empty: nothing should alert)
    detected_by: Expectation = "drift"
    model_variant: str = "standard"  # "degraded": the demo deploys a worse model version first
    rate_profile: Callable[[float], float] = field(default=lambda progress: 1.0)
    expected_kinds: tuple[str, ...] = ()
    subject_words: tuple[str, ...] = ()
    pages: bool = True

    def rows(self, seed: int, total: int) -> RowSource:
        return ScenarioRows(self, seed, total)


class ScenarioRows:
    """A seeded stream of (rows as sent, true labels) for a scenario over ``total`` planned rows; row *i* is
    the same whatever the timing, because rows are drawn in fixed-size chunks and ``progress`` is the row's
    position in the planned total."""

    def __init__(self, scenario: Scenario, seed: int, total: int, chunk: int = CHUNK_ROWS) -> None:
        if total < 1 or chunk < 1:
            raise ValueError("total and chunk must be positive")
        self.scenario = scenario
        self.name = scenario.name
        self.rng = np.random.default_rng(seed)
        self.total = total
        self.chunk = chunk
        self.drawn = 0
        self._rows: collections.deque[dict[str, Any]] = collections.deque()
        self._labels: collections.deque[str] = collections.deque()

    def _draw(self) -> None:
        true = generate_features(self.chunk, self.rng)
        defaulted = self.rng.random(self.chunk) < default_probability(true)
        progress = min(1.0, (self.drawn + self.chunk / 2) / self.total)
        sent = self.scenario.transform(true, progress, self.rng)
        self._rows.extend(to_payload(r) for r in sent.to_dict("records"))
        self._labels.extend("default" if d else "no_default" for d in defaulted)
        self.drawn += self.chunk

    def take(self, n: int) -> tuple[list[dict[str, Any]], list[Any]]:
        while len(self._rows) < n:
            self._draw()
        return [self._rows.popleft() for _ in range(n)], [self._labels.popleft() for _ in range(n)]

    def rate_at(self, progress: float) -> float:
        return self.scenario.rate_profile(progress)


def scenario_frame(
    scenario: Scenario, n: int, seed: int = 11, total: int | None = None
) -> tuple[pd.DataFrame, list[Any]]:
    """The first ``n`` rows a replay of ``scenario`` would send (for inspection and tests)."""
    rows, labels = ScenarioRows(scenario, seed, total or n).take(n)
    return pd.DataFrame(rows), labels


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
            expected_kinds=("data_integrity",),
            subject_words=("unit change",),
        ),
        Scenario(
            "fill-rate-drop",
            "debt_ratio filled 80% -> 20%",
            _fill_rate_drop,
            ("debt_ratio",),
            expected_kinds=("data_integrity",),
            subject_words=("fill rate",),
        ),
        Scenario(
            "enrichment-outage",
            "credit-bureau enrichment down: bureau_score and open_credit_lines null",
            _enrichment_outage,
            ("bureau_score", "open_credit_lines"),
            expected_kinds=("data_integrity",),
            subject_words=("fill rate",),
        ),
        Scenario(
            "category-shift",
            "partner channel share 10% -> 40%",
            _category_shift,
            ("channel",),
            expected_kinds=("covariate_shift",),
            pages=False,
        ),
        Scenario(
            "empty-responses",
            "income no longer sent: the affordability filter empties responses",
            _empty_responses,
            ("empty_share",),
            detected_by="stats",
            expected_kinds=("post_processing",),
        ),
        Scenario(
            "bad-retrain",
            "a worse model version is deployed (training join bug)",
            _identity,
            ("roc_auc",),
            detected_by="stats",
            model_variant="degraded",
            expected_kinds=("worse_version",),
        ),
        Scenario(
            "gradual-drift",
            "loan_amount creeps up to +150% over the replay",
            _gradual_drift,
            ("loan_amount",),
            expected_kinds=("covariate_shift", "data_integrity"),
            pages=False,
        ),
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
