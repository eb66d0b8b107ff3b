"""Evaluation metrics from predictions joined with delayed labels, checked against scikit-learn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlmon.spec import ModelSpec, load_spec, parse_spec
from stats_service.evaluation import ALL, EvalResult, evaluate
from tests.unit.drift_detector.helpers import SPEC_PATH

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
CHANNELS = ["web", "mobile", "branch", "partner"]


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(SPEC_PATH)


def joined_classification(n: int, seed: int, labelled_share: float = 0.7) -> pd.DataFrame:
    """What ``store.labelled_predictions`` returns: predictions, a label for some of them, a segment."""
    rng = np.random.default_rng(seed)
    truth_default = rng.random(n) < 0.3
    # Scores informative but imperfect, so every metric is strictly between 0 and 1.
    scores = np.clip(0.35 * truth_default + rng.normal(0.35, 0.2, n), 0, 1)
    has_label = rng.random(n) < labelled_share
    ts = [T0 + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, 3600, n))]
    lag = rng.uniform(60, 7200, n)
    return pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "timestamp": pd.to_datetime(ts, utc=True),
            "model.version": np.where(rng.random(n) < 0.25, "v2", "v1"),
            "prediction.label": np.where(scores >= 0.5, "default", "no_default"),
            "prediction.score": scores,
            "label": [
                ("default" if t else "no_default") if h else None for t, h in zip(truth_default, has_label, strict=True)
            ],
            "label_observed_at": [
                pd.Timestamp(t) + pd.Timedelta(seconds=float(lg)) if h else pd.NaT
                for t, lg, h in zip(ts, lag, has_label, strict=True)
            ],
            "channel": rng.choice(np.array([*CHANNELS, None], dtype=object), size=n, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
        }
    )


def sklearn_classification(part: pd.DataFrame) -> dict[str, float]:
    part = part[part["label"].notna()]
    truth = part["label"].to_numpy(dtype=object)
    predicted = np.where(part["prediction.score"].to_numpy() >= 0.5, "default", "no_default")
    y = (truth == "default").astype(int)
    return {
        "accuracy": skm.accuracy_score(truth, predicted),
        "precision": skm.precision_score(truth, predicted, pos_label="default", zero_division=0),
        "recall": skm.recall_score(truth, predicted, pos_label="default", zero_division=0),
        "f1": skm.f1_score(truth, predicted, pos_label="default", zero_division=0),
        "positive_rate": float(np.mean(predicted == "default")),
        "roc_auc": skm.roc_auc_score(y, part["prediction.score"].to_numpy()),
    }


def by_key(results: list[EvalResult]) -> dict[tuple[str | None, str], EvalResult]:
    return {(r.model_version, r.segment): r for r in results}


def test_classification_metrics_equal_sklearn_overall_per_version_and_per_segment(spec: ModelSpec) -> None:
    joined = joined_classification(1500, seed=3)
    results = by_key(evaluate(spec, joined, mature=True, min_labels=20))
    expected_keys = set()
    for version, rows in joined.groupby("model.version"):
        expected_keys.add((version, ALL))
        for channel in [*CHANNELS, "__missing__"]:
            part = rows[rows["channel"].fillna("__missing__") == channel]
            if len(part):
                expected_keys.add((version, f"channel={channel}"))
    assert set(results) == expected_keys

    checked = 0
    for (version, segment), result in results.items():
        rows = joined[joined["model.version"] == version]
        if segment != ALL:
            value = segment.split("=", 1)[1]
            rows = rows[rows["channel"].fillna("__missing__") == value]
        labelled = int(rows["label"].notna().sum())
        assert result.predictions == len(rows)
        assert result.labelled == labelled
        assert result.coverage == pytest.approx(labelled / len(rows))
        if labelled < 20:
            assert result.status == "insufficient_labels"
            assert result.metrics == {}
            continue
        assert result.status == "ok"
        expected = sklearn_classification(rows)
        assert result.metrics == pytest.approx(expected, rel=1e-12, abs=1e-12)
        observed = rows[rows["label"].notna()]
        lag = (observed["label_observed_at"] - observed["timestamp"]).dt.total_seconds().median()
        assert result.label_lag_s == pytest.approx(lag)
        checked += 1
    assert checked >= 8  # both versions, overall and most channels had enough labels


def test_the_two_versions_get_different_numbers(spec: ModelSpec) -> None:
    joined = joined_classification(1200, seed=4)
    # Version v2 is a broken model: its scores are noise.
    v2 = joined["model.version"] == "v2"
    joined.loc[v2, "prediction.score"] = np.random.default_rng(0).random(int(v2.sum()))
    results = by_key(evaluate(spec, joined, mature=True, min_labels=20))
    assert results[("v1", ALL)].metrics["roc_auc"] > 0.75
    assert results[("v2", ALL)].metrics["roc_auc"] < 0.65
    assert results[("v2", ALL)].metrics == pytest.approx(sklearn_classification(joined[v2]))


def test_immature_window_has_no_metrics_not_zeros(spec: ModelSpec) -> None:
    joined = joined_classification(400, seed=5)
    results = evaluate(spec, joined, mature=False, min_labels=20)
    assert results and all(r.status == "immature" for r in results)
    assert all(r.metrics == {} for r in results)
    overall = by_key(results)[("v1", ALL)]
    v1 = joined[joined["model.version"] == "v1"]
    assert overall.labelled == int(v1["label"].notna().sum()) > 0
    assert overall.coverage == pytest.approx(v1["label"].notna().mean())


def test_too_few_labels_is_insufficient_labels(spec: ModelSpec) -> None:
    joined = joined_classification(300, seed=6, labelled_share=0.05)
    joined["model.version"] = "v1"
    overall = by_key(evaluate(spec, joined, mature=True, min_labels=30))[("v1", ALL)]
    assert overall.labelled < 30
    assert overall.status == "insufficient_labels"
    assert overall.metrics == {}
    # Same data, lower bar: metrics appear.
    lowered = by_key(evaluate(spec, joined, mature=True, min_labels=overall.labelled))[("v1", ALL)]
    assert lowered.status == "ok"
    assert lowered.metrics["accuracy"] == pytest.approx(sklearn_classification(joined)["accuracy"])


def test_no_labels_at_all(spec: ModelSpec) -> None:
    joined = joined_classification(200, seed=7)
    joined["label"] = None
    joined["label_observed_at"] = pd.NaT
    for result in evaluate(spec, joined, mature=True, min_labels=1):
        assert result.status == "insufficient_labels"
        assert result.labelled == 0 and result.coverage == 0.0 and result.label_lag_s is None


def test_no_traffic(spec: ModelSpec) -> None:
    empty = joined_classification(10, seed=1).iloc[0:0]
    [result] = evaluate(spec, empty, mature=True, min_labels=1)
    assert result.status == "no_traffic"
    assert result.predictions == 0 and result.coverage == 0.0 and result.metrics == {}


def test_single_class_labels_leave_roc_auc_out(spec: ModelSpec) -> None:
    joined = joined_classification(300, seed=8, labelled_share=1.0)
    joined["model.version"] = "v1"
    joined["label"] = "no_default"
    overall = by_key(evaluate(spec, joined, mature=True, min_labels=10))[("v1", ALL)]
    assert "roc_auc" not in overall.metrics
    assert overall.metrics["precision"] == 0.0  # every predicted default is a false positive
    assert overall.metrics["accuracy"] == pytest.approx(float(np.mean(joined["prediction.score"] < 0.5)))


def test_wrong_type_labels_are_counted_and_excluded(spec: ModelSpec) -> None:
    joined = joined_classification(600, seed=9, labelled_share=1.0)
    joined["model.version"] = "v1"
    joined["label"] = joined["label"].astype(object)
    bad = joined.index[:50]
    joined.loc[bad[:25], "label"] = 1.0  # a number for a classifier
    joined.loc[bad[25:], "label"] = "maybe"  # not one of the classes
    overall = by_key(evaluate(spec, joined, mature=True, min_labels=10))[("v1", ALL)]
    assert overall.invalid_labels == 50
    assert overall.labelled == 550
    assert overall.metrics == pytest.approx(sklearn_classification(joined.drop(index=bad)))


REGRESSION = parse_spec(
    {
        "model": "house-price",
        "prediction": {"kind": "regression"},
        "features": [{"name": "area", "type": "numeric"}, {"name": "city", "type": "categorical"}],
        "segments": ["city"],
    }
)


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(11)
    n = 800
    truth = rng.lognormal(12, 0.4, n)
    truth[:5] = 0.0  # MAPE skips zero truths
    predicted = truth * rng.normal(1.0, 0.1, n) + rng.normal(0, 5000, n)
    has = rng.random(n) < 0.8
    labels = pd.Series([float(t) if h else None for t, h in zip(truth, has, strict=True)], dtype=object)
    labels[10] = "a lot"  # wrong type for a regression model
    joined = pd.DataFrame(
        {
            "prediction_id": [f"h{i}" for i in range(n)],
            "timestamp": pd.to_datetime([T0] * n, utc=True),
            "model.version": "r1",
            "prediction.label": None,
            "prediction.score": predicted,
            "label": labels,
            "label_observed_at": pd.to_datetime([T0 + timedelta(hours=1)] * n, utc=True),
            "city": rng.choice(["paris", "lyon"], size=n),
        }
    )
    results = by_key(evaluate(REGRESSION, joined, mature=True, min_labels=30))
    for key, rows in [
        (("r1", ALL), joined),
        *((("r1", f"city={c}"), joined[joined["city"] == c]) for c in ("lyon", "paris")),
    ]:
        ok = rows["label"].map(lambda v: isinstance(v, float)) & rows["label"].notna()
        y = rows.loc[ok, "label"].to_numpy(dtype=float)
        p = rows.loc[ok, "prediction.score"].to_numpy(dtype=float)
        nz = y != 0
        expected = {
            "mae": skm.mean_absolute_error(y, p),
            "rmse": float(np.sqrt(skm.mean_squared_error(y, p))),
            "mape": skm.mean_absolute_percentage_error(y[nz], p[nz]),
        }
        result = results[key]
        assert result.status == "ok"
        assert result.labelled == int(ok.sum())
        assert result.metrics == pytest.approx(expected, rel=1e-10)
    assert results[("r1", ALL)].invalid_labels == 1


def test_multiclass_metrics_equal_sklearn_macro_averages() -> None:
    spec = parse_spec(
        {
            "model": "weather",
            "prediction": {"kind": "classification", "classes": ["sun", "rain", "snow"]},
            "features": [{"name": "x", "type": "numeric"}],
        }
    )
    rng = np.random.default_rng(4)
    n = 600
    truth = rng.choice(["sun", "rain", "snow"], size=n, p=[0.6, 0.3, 0.1])
    predicted = np.where(rng.random(n) < 0.7, truth, rng.choice(["sun", "rain", "snow"], size=n))
    joined = pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "timestamp": pd.to_datetime([T0] * n, utc=True),
            "model.version": "v1",
            "prediction.label": predicted,
            "prediction.score": rng.uniform(0.34, 1.0, n),
            "label": truth,
            "label_observed_at": pd.to_datetime([T0 + timedelta(hours=1)] * n, utc=True),
        }
    )
    [result] = evaluate(spec, joined, mature=True, min_labels=10)
    assert result.metrics["accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert result.metrics[name] == pytest.approx(fn(truth, predicted, average="macro", zero_division=0)), name


def test_an_empty_window_has_no_version_not_a_sentinel(spec: ModelSpec) -> None:
    [result] = evaluate(spec, joined_classification(10, seed=1).iloc[0:0], mature=True, min_labels=1)
    assert (result.model_version, result.status, result.predictions) == (None, "no_traffic", 0)
