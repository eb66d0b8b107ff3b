from __future__ import annotations

import numpy as np
import pandas as pd

from mlmon.demo.data import FEATURE_COLUMNS, default_probability, generate


def test_same_seed_same_data_different_seed_different_data() -> None:
    a, b, c = generate(2000, seed=3), generate(2000, seed=3), generate(2000, seed=4)
    pd.testing.assert_frame_equal(a.applications, b.applications)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    assert not a.applications[FEATURE_COLUMNS].equals(c.applications[FEATURE_COLUMNS])


def test_shape_time_span_and_missing_rates() -> None:
    data = generate(20_000, seed=1)
    apps = data.applications
    span = apps["event_timestamp"].max() - apps["event_timestamp"].min()
    assert span >= pd.Timedelta(days=60)
    assert apps["application_id"].is_unique
    missing = apps[FEATURE_COLUMNS].isna().mean()
    assert 0.15 < missing["debt_ratio"] < 0.25  # filled about 80%
    assert 0.3 < missing["seconds_since_last_application"] < 0.5  # first-time applicants
    assert missing["loan_amount"] == 0
    # Enrichment outages blank both bureau fields together.
    assert (apps["bureau_score"].isna() == apps["open_credit_lines"].isna()).all()


def test_labels_are_delayed_and_depend_on_features() -> None:
    data = generate(20_000, seed=2)
    delay = data.labels["label_timestamp"] - data.labels["event_timestamp"]
    assert delay.min() >= pd.Timedelta(days=14)
    rate = (data.labels["label"] == "default").mean()
    assert 0.1 < rate < 0.3
    p = default_probability(data.applications)
    high = data.labels["label"][p > np.quantile(p, 0.8)]
    low = data.labels["label"][p < np.quantile(p, 0.2)]
    assert (high == "default").mean() > 3 * (low == "default").mean()
