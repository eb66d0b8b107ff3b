"""Feast apply → historical features → saved dataset → baseline profile → artifact, on the demo's repo in a
temp dir (the demo is one example: the generic path is also covered by test_register on a non-loan model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlmon.baseline import feast_repo
from mlmon.baseline.profile import BaselineProfile, NumericProfile
from mlmon.demo.data import APPLICATIONS_FILE, DEMO_SEED, LABELS_FILE, ensure_demo_data
from mlmon.demo.training import train_demo
from mlmon.errors import BaselineNotFound, ConfigError
from mlmon.registry.register import RegisterResult
from mlmon.registry.rows import entity_rows
from mlmon.registry.serving import load_model
from mlmon.spec import ModelSpec
from tests.fixtures.feast import TRAIN_ROWS, copy_feature_repo

pytestmark = pytest.mark.integration


def test_apply_historical_features_and_saved_dataset_round_trip(feature_repo_copy: Path, demo_spec: ModelSpec) -> None:
    ensure_demo_data(feature_repo_copy, rows=600, seed=5)
    store = feast_repo.apply(feature_repo_copy)
    labels = pd.read_parquet(feature_repo_copy / LABELS_FILE)
    # One row two days after its application: outside the 1-day TTL, Feast drops it silently.
    late = labels.iloc[[0]].copy()
    late["event_timestamp"] = late["event_timestamp"] + pd.Timedelta(days=2)
    entity_df = entity_rows(demo_spec, pd.concat([labels, late], ignore_index=True), "labels")
    service = feast_repo.feature_service_name(demo_spec, feature_repo_copy)
    training = feast_repo.historical_training_set(store, demo_spec, service, entity_df)
    assert training.requested == 601 and training.dropped == 1 and len(training.rows) == 600

    apps = pd.read_parquet(feature_repo_copy / APPLICATIONS_FILE).set_index("application_id")
    joined = training.rows.set_index("application_id")
    pd.testing.assert_series_equal(
        joined["bureau_score"].sort_index(), apps["bureau_score"].sort_index(), check_names=False
    )
    name = feast_repo.save_training_set(store, training.job, feature_repo_copy, "loan_default", "abc123")
    assert name == "training_loan_default_abc123"
    back = feast_repo.read_saved_dataset(feature_repo_copy, name)
    assert len(back) == 600
    # to_df() would drop `label`; the saved parquet keeps it.
    by_id = back.set_index("application_id")["label"].sort_index()
    expected = labels.set_index("application_id")["label"].sort_index()
    assert (by_id == expected.loc[by_id.index]).all()


def test_missing_saved_dataset_is_baseline_not_found(feature_repo_copy: Path) -> None:
    ensure_demo_data(feature_repo_copy, rows=100, seed=5)
    feast_repo.apply(feature_repo_copy)
    with pytest.raises(BaselineNotFound, match="no Feast saved dataset 'training_loan_default_nope'"):
        feast_repo.read_saved_dataset(feature_repo_copy, "training_loan_default_nope")


def test_not_a_feature_repo(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a Feast repository") as info:
        feast_repo.open_store(tmp_path)
    assert "feature_store.yaml" in str(info.value)


def test_trained_artifact_metrics_and_profile(trained_model: RegisterResult) -> None:
    model = load_model(trained_model.path.parent)
    assert model.version == trained_model.version
    assert trained_model.metrics["roc_auc"] > 0.7
    profile = model.profile
    assert profile.source == f"feast:saved_dataset:{trained_model.saved_dataset}"
    assert profile.rows == trained_model.rows == len(model.registered.reference)  # the reference is the holdout
    income = profile.features["income"]
    assert isinstance(income, NumericProfile)
    assert len(income.edges) == 19 and np.all(np.diff(income.edges) > 0)
    assert sum(income.bin_shares) == pytest.approx(1.0)
    assert 0.15 < profile.features["debt_ratio"].missing_share < 0.25
    assert profile.features["postcode"].categories == {}  # PII values never reach the profile
    assert set(profile.features["has_coborrower"].categories) == {"false", "true"}
    assert len(profile.prediction.score_edges) >= 10
    scored = model.score(pd.DataFrame([{"loan_amount": 10_000, "term_months": 36, "age": 40, "channel": "web"}]))
    assert 0 <= scored.scores[0] <= 1  # every optional feature missing still scores


def test_train_is_idempotent(trained_model: RegisterResult) -> None:
    repo = Path(trained_model.path).parents[2] / "feature_repo"
    again = train_demo(repo, trained_model.path.parent, rows=TRAIN_ROWS, seed=DEMO_SEED).registered
    assert again.version == trained_model.version and again.reused
    assert again.metrics == trained_model.metrics
    first = json.loads((trained_model.path / "baseline_profile.json").read_text())
    assert first == again.profile.model_dump(mode="json")
    assert BaselineProfile.load(again.path / "baseline_profile.json") == trained_model.profile
    leftovers = [p.name for p in trained_model.path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no half-written staging folders


def test_degraded_variant_is_a_worse_model(trained_model: RegisterResult, degraded_model: RegisterResult) -> None:
    assert degraded_model.version != trained_model.version
    assert degraded_model.metrics["roc_auc"] < trained_model.metrics["roc_auc"] - 0.05


def test_train_never_writes_demo_data_into_a_users_repo(tmp_path: Path, demo_spec: ModelSpec) -> None:
    from mlmon.training.train import train

    repo = copy_feature_repo(tmp_path / "repo")
    with pytest.raises(ConfigError, match="rows file not found"):
        train(demo_spec, repo, tmp_path / "models", tmp_path / "rows.parquet")
    assert not (repo / "data").exists() and not (tmp_path / "models").exists()
