"""Synthetic loan applications for the demo (a loan-rejection project), deterministic for a seed.

Two tables, as a lending team would have them:

- applications: ``application_id``, ``event_timestamp`` (when the application came in), ``created`` and the
  features of the demo spec (``mlmon/demo/loan_default.yaml``), with realistic gaps:
  ``seconds_since_last_application`` is empty for first-time applicants, ``debt_ratio`` is filled about 80%
  of the time, the credit-bureau enrichment (``bureau_score``, ``open_credit_lines``) fails for a few
  percent, ``income`` is sometimes not declared.
- labels: ``application_id``, ``event_timestamp`` (same as the application), ``label`` (``default`` /
  ``no_default``) and ``label_timestamp``, weeks later: the ground truth arrives late.

The default probability depends plausibly on the features (debt ratio, bureau score, loan-to-income,
employment, term, co-borrower), so a model can learn it and a broken input visibly hurts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

EMPLOYMENT = ["employed", "self_employed", "unemployed", "retired", "student"]
EMPLOYMENT_P = [0.62, 0.15, 0.06, 0.10, 0.07]
REGIONS = ["north", "south", "east", "west", "central"]
REGIONS_P = [0.22, 0.24, 0.16, 0.18, 0.20]
CHANNELS = ["web", "mobile", "branch", "partner"]
CHANNELS_P = [0.45, 0.30, 0.15, 0.10]
TERMS = [12, 24, 36, 48, 60, 72, 84]
TERMS_P = [0.10, 0.18, 0.25, 0.15, 0.20, 0.07, 0.05]
POSTCODES = [f"{code:05d}" for code in range(10115, 10115 + 200 * 37, 37)]
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)

FEATURE_COLUMNS = [
    "income",
    "loan_amount",
    "term_months",
    "age",
    "debt_ratio",
    "seconds_since_last_application",
    "bureau_score",
    "open_credit_lines",
    "employment_type",
    "region",
    "channel",
    "has_coborrower",
    "postcode",
]


@dataclass(frozen=True)
class DemoData:
    applications: pd.DataFrame
    labels: pd.DataFrame


def _timestamps(rng: np.random.Generator, n: int, start: datetime, days: int) -> pd.Series:
    """Arrival times with a daily rhythm (busier in the day and evening) over ``days`` days."""
    day = rng.integers(0, days, size=n)
    # Hour-of-day mixture: office hours and an evening peak; few applications at night.
    hour = np.where(rng.random(n) < 0.6, rng.normal(13, 3, n), rng.normal(20, 1.5, n)) % 24
    seconds = day * 86400 + hour * 3600 + rng.uniform(0, 60, n)
    ts = pd.to_datetime(start) + pd.to_timedelta(np.sort(seconds), unit="s")
    return pd.Series(ts).dt.floor("ms")


def generate_features(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Feature rows only (no ids or timestamps); used by the generator and by the replay tool."""
    employment = rng.choice(EMPLOYMENT, size=n, p=EMPLOYMENT_P)
    income_factor = (
        pd.Series(employment)
        .map({"employed": 1.0, "self_employed": 1.1, "unemployed": 0.35, "retired": 0.6, "student": 0.4})
        .to_numpy()
    )
    income = np.round(rng.lognormal(np.log(46_000), 0.45, n) * income_factor, 0)
    age = np.clip(rng.normal(41, 12, n), 18, 90).round()
    age = np.where(employment == "student", np.clip(rng.normal(23, 3, n), 18, 35).round(), age)
    age = np.where(employment == "retired", np.clip(rng.normal(70, 6, n), 58, 95).round(), age)
    loan_amount = np.clip(rng.lognormal(np.log(14_000), 0.7, n) * np.sqrt(income / 46_000), 500, 500_000).round(-1)
    term = rng.choice(TERMS, size=n, p=TERMS_P).astype(float)
    debt_ratio = np.clip(rng.beta(2.2, 5.0, n) * 1.4 + 0.1 * (employment == "unemployed"), 0, 5).round(3)
    returning = rng.random(n) < 0.6
    since_last = np.where(returning, rng.exponential(180 * 86400, n).round(), np.nan)
    bureau = np.clip(rng.normal(680, 60, n) - 40 * (employment == "unemployed"), 300, 850).round()
    open_lines = rng.poisson(4 + 2 * (income > 60_000), n).astype(float)
    frame = pd.DataFrame(
        {
            "income": income,
            "loan_amount": loan_amount,
            "term_months": term,
            "age": age,
            "debt_ratio": debt_ratio,
            "seconds_since_last_application": since_last,
            "bureau_score": bureau,
            "open_credit_lines": open_lines,
            "employment_type": employment,
            "region": rng.choice(REGIONS, size=n, p=REGIONS_P),
            "channel": rng.choice(CHANNELS, size=n, p=CHANNELS_P),
            "has_coborrower": rng.random(n) < 0.25,
            "postcode": rng.choice(POSTCODES, size=n),
        }
    )
    # Realistic gaps: undeclared income, debt ratio filled ~80%, enrichment outages hit both bureau fields.
    frame.loc[rng.random(n) < 0.02, "income"] = np.nan
    frame.loc[rng.random(n) < 0.20, "debt_ratio"] = np.nan
    enrichment_failed = rng.random(n) < 0.04
    frame.loc[enrichment_failed, ["bureau_score", "open_credit_lines"]] = np.nan
    return frame


def default_probability(frame: pd.DataFrame) -> np.ndarray:
    """The true (hidden) probability of default for each application."""
    income = frame["income"].fillna(20_000).clip(lower=3_000)
    loan_to_income = (frame["loan_amount"] / income).clip(upper=5)
    debt = frame["debt_ratio"].fillna(0.45)
    bureau = frame["bureau_score"].fillna(640)
    logit = (
        -2.4
        + 2.2 * (debt - 0.4)
        - 0.014 * (bureau - 680)
        + 0.9 * loan_to_income
        + 0.006 * (frame["term_months"] - 36)
        - 0.35 * frame["has_coborrower"].astype(float)
        + frame["employment_type"].map(
            {"employed": 0.0, "self_employed": 0.25, "unemployed": 1.1, "retired": 0.1, "student": 0.5}
        )
        + 0.25 * (frame["channel"] == "partner")
        + 0.3 * frame["bureau_score"].isna()
    )
    probability: np.ndarray = 1.0 / (1.0 + np.exp(-logit.to_numpy(dtype=float)))
    return probability


def generate(n: int = 20_000, *, seed: int = 7, start: datetime = DEFAULT_START, days: int = 90) -> DemoData:
    """Applications over ``days`` days from ``start`` plus their delayed labels; same seed, same data."""
    if n < 10:
        raise ValueError("n must be at least 10")
    rng = np.random.default_rng(seed)
    ts = _timestamps(rng, n, start, days)
    features = generate_features(n, rng)
    applications = pd.concat(
        [pd.DataFrame({"application_id": np.arange(1, n + 1, dtype="int64"), "event_timestamp": ts}), features],
        axis=1,
    )
    applications["created"] = applications["event_timestamp"]
    defaulted = rng.random(n) < default_probability(features)
    delay = pd.to_timedelta(rng.uniform(14, 60, n), unit="D").floor("s")
    labels = pd.DataFrame(
        {
            "application_id": applications["application_id"],
            "event_timestamp": applications["event_timestamp"],
            "label": np.where(defaulted, "default", "no_default"),
            "label_timestamp": applications["event_timestamp"] + delay,
        }
    )
    return DemoData(applications=applications, labels=labels)


# The demo's data seed. Its newest 20% (the reference rows `mlmon train` registers) is within 2 standard errors
# of the generator's shares for every category and fill rate: a reference that is itself an unusual sample
# makes ordinary traffic look different from it, which calibrated drift thresholds rightly report.
DEMO_SEED = 5
APPLICATIONS_FILE = "data/loan_applications.parquet"  # the Feast FileSource of feature_repo/features.py
LABELS_FILE = "data/loan_labels.parquet"  # the entity rows: application_id, event_timestamp, label


def ensure_demo_data(repo: Path, *, rows: int = 20_000, seed: int = DEMO_SEED) -> bool:
    """Write the demo's parquet files into the demo Feast repo when it has none; True when it wrote them."""
    apps, labels = repo / APPLICATIONS_FILE, repo / LABELS_FILE
    if apps.is_file() and labels.is_file():
        return False
    data = generate(rows, seed=seed)
    apps.parent.mkdir(parents=True, exist_ok=True)
    for frame, path in ((data.applications, apps), (data.labels, labels)):
        tmp = path.with_suffix(".tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    return True
