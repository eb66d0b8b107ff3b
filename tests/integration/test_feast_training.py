"""Feast apply → historical features → saved dataset → baseline profile → model artifact, in a temp repo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmon.baseline import feast_repo
from mlmon.baseline.profile import BaselineProfile, NumericProfile
from mlmon.errors import BaselineNotFound, ConfigError
from mlmon.model.artifact import load_model
from mlmon.spec import ModelSpec
from mlmon.training.train import ENTITY_KEY, ensure_demo_data, train
from tests.fixtures.feast import copy_feature_repo

pytestmark = pytest.mark.integration


def test_apply_historical_features_and_saved_dataset_round_trip(feature_repo_copy: Path) -> None:
    ensure_demo_data(feature_repo_copy, rows=600, seed=5)
    store = feast_repo.apply(feature_repo_copy)
    labels = pd.read_parquet(feature_repo_copy / feast_repo.LABELS_FILE)
    # One row two days after its application: outside the 1-day TTL, Feast drops it silently.
    late = labels.iloc[[0]].copy()
    late["event_timestamp"] = late["event_timestamp"] + pd.Timedelta(days=2)
    entity_df = pd.concat([labels, late], ignore_index=True)[[ENTITY_KEY, "event_timestamp", "label"]]
    job, training = feast_repo.historical_training_set(store, "loan_default_v1", entity_df, ENTITY_KEY)
    assert training.requested == 601
    assert training.dropped == 1
    assert len(training.rows) == 600

    apps = pd.read_parquet(feature_repo_copy / feast_repo.APPLICATIONS_FILE).set_index(ENTITY_KEY)
    joined = training.rows.set_index(ENTITY_KEY)
    pd.testing.assert_series_equal(
        joined["bureau_score"].sort_index(), apps["bureau_score"].sort_index(), check_names=False
    )

    name = feast_repo.save_training_set(store, job, feature_repo_copy, "loan_default", "abc123")
    assert name == "training_loan_default_abc123"
    back = feast_repo.read_saved_dataset(feature_repo_copy, "loan_default", "abc123", ENTITY_KEY)
    assert len(back) == 600
    # to_df() drops `label`; read_saved_dataset recovers it from the saved parquet.
    assert back["label"].notna().all()
    by_id = back.set_index(ENTITY_KEY)["label"].sort_index()
    expected = labels.set_index(ENTITY_KEY)["label"].sort_index()
    assert (by_id == expected.loc[by_id.index]).all()


def test_missing_saved_dataset_is_baseline_not_found(feature_repo_copy: Path) -> None:
    ensure_demo_data(feature_repo_copy, rows=100, seed=5)
    feast_repo.apply(feature_repo_copy)
    with pytest.raises(BaselineNotFound, match="no Feast saved dataset 'training_loan_default_nope'") as info:
        feast_repo.read_saved_dataset(feature_repo_copy, "loan_default", "nope", ENTITY_KEY)
    assert "mlmon train" in str(info.value)


def test_not_a_feature_repo(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a Feast repository") as info:
        feast_repo.open_store(tmp_path)
    assert "feature_store.yaml" in str(info.value)


def test_trained_artifact_metrics_and_profile(trained_model, demo_spec: ModelSpec) -> None:  # type: ignore[no-untyped-def]
    model = load_model(trained_model.path.parent)
    assert model.version == trained_model.version
    assert trained_model.metrics["roc_auc"] > 0.7
    profile = model.profile
    assert profile.source == f"feast:saved_dataset:{trained_model.saved_dataset}"
    income = profile.features["income"]
    assert isinstance(income, NumericProfile)
    assert len(income.edges) == 19 and np.all(np.diff(income.edges) > 0)
    assert sum(income.bin_shares) == pytest.approx(1.0)
    assert 0.15 < profile.features["debt_ratio"].missing_share < 0.25
    assert profile.features["postcode"].categories == {}  # PII values never reach the profile
    assert set(profile.features["has_coborrower"].categories) == {"false", "true"}
    assert len(profile.prediction.score_edges) >= 10
    scores = model.predict_scores(
        pd.DataFrame([{"loan_amount": 10_000, "term_months": 36, "age": 40, "channel": "web"}])
    )
    assert 0 <= scores[0] <= 1  # every optional feature missing still scores


def test_train_is_idempotent(trained_model, demo_spec: ModelSpec) -> None:  # type: ignore[no-untyped-def]
    repo = Path(trained_model.path).parents[2] / "feature_repo"
    again = train(demo_spec, repo, trained_model.path.parent, rows=4000, seed=7)
    assert again.version == trained_model.version
    assert again.reused
    assert again.metrics == trained_model.metrics
    first = json.loads((trained_model.path / "baseline_profile.json").read_text())
    assert first == again.profile.model_dump(mode="json")
    assert BaselineProfile.load(again.path / "baseline_profile.json") == trained_model.profile
    leftovers = [p.name for p in trained_model.path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no half-written staging folders


def test_degraded_variant_is_a_worse_model(trained_model, degraded_model) -> None:  # type: ignore[no-untyped-def]
    assert degraded_model.version != trained_model.version
    assert degraded_model.metrics["roc_auc"] < trained_model.metrics["roc_auc"] - 0.05


def test_bad_labels_file_is_a_clear_error(tmp_path: Path, demo_spec: ModelSpec) -> None:
    repo = copy_feature_repo(tmp_path / "repo")
    ensure_demo_data(repo, rows=200, seed=1)
    (repo / feast_repo.LABELS_FILE).write_bytes(b"not parquet")
    with pytest.raises(ConfigError, match="cannot read the labels file"):
        train(demo_spec, repo, tmp_path / "models", rows=200)
    assert not (tmp_path / "models" / "CURRENT").exists()
