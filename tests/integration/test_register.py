"""`mlmon register` on a non-loan model (a sales regression keyed by store_id, trained by plain scikit-learn),
with a real Feast repo: the artifact, idempotence, precomputed predictions, and every user mistake as one
line naming the file, the field and the fix, exit 2, nothing half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlmon.cli import main
from mlmon.registry.artifact import read_registered
from tests.fixtures.toy import SPEC, ToyProject, fit_toy_model, toy_project

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ToyProject:
    return toy_project(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def model_file(project: ToyProject) -> Path:
    return fit_toy_model(project, project.root / "model.joblib")


def register(project: ToyProject, model_dir: Path, *args: str, spec: Path | None = None) -> int:
    return main(
        [
            "register",
            "--spec",
            str(spec or project.spec_path),
            "--feast-repo",
            str(project.repo),
            "--model-path",
            str(model_dir),
            *args,
        ]
    )


def test_register_writes_a_complete_version_and_is_idempotent(
    project: ToyProject, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "models"
    assert register(project, model_dir, "--model", str(model_file), "--rows", str(project.rows_path)) == 0
    out = capsys.readouterr().out
    registered = read_registered(model_dir)
    assert f"model shop_sales version {registered.version}" in out and "reference metrics: mae" in out
    assert registered.spec.model == "shop_sales" and registered.has_model
    reference = registered.reference
    assert len(reference) == registered.profile.rows == 600
    assert {"footfall", "weather", "prediction.score"} <= set(reference.columns)
    assert registered.profile.prediction.kind == "regression"
    assert registered.metadata["feast"]["saved_dataset"] == f"training_shop_sales_{registered.version}"
    assert (project.repo / "data" / "saved" / f"training_shop_sales_{registered.version}.parquet").is_file()
    importance = registered.importance
    assert set(importance) == set(registered.spec.feature_names)
    assert sum(importance.values()) == pytest.approx(1.0)
    assert max(importance, key=lambda k: importance[k]) == "footfall"  # sales follow footfall most
    # Same inputs, same version; the folder is replaced whole.
    assert register(project, model_dir, "--model", str(model_file), "--rows", str(project.rows_path)) == 0
    assert "(unchanged)" in capsys.readouterr().out
    assert read_registered(model_dir).version == registered.version
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(".")] == []


def test_precomputed_predictions_register_without_a_model(project: ToyProject, tmp_path: Path) -> None:
    rows = pd.read_parquet(project.rows_path)
    rows["predicted_sales"] = rows["sales"] + np.random.default_rng(1).normal(0, 10, len(rows))
    path = tmp_path / "rows_with_predictions.csv"
    rows.to_csv(path, index=False)
    model_dir = tmp_path / "models"
    assert register(project, model_dir, "--predictions-column", "predicted_sales", "--rows", str(path)) == 0
    registered = read_registered(model_dir)
    assert not registered.has_model and registered.importance == {}
    assert registered.metadata["reference"]["metrics"]["mae"] == pytest.approx(8, abs=2)


def write_spec(project: ToyProject, tmp_path: Path, **changes: object) -> Path:
    spec = json.loads(json.dumps(SPEC))
    for key, value in changes.items():
        spec[key] = value
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def mistake(
    project: ToyProject, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str, spec: Path | None = None
) -> str:
    model_dir = tmp_path / "models"
    code = register(project, model_dir, *args, spec=spec)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not model_dir.exists() or not any(model_dir.iterdir())  # nothing half-written
    return err


def test_wrong_entity_key(
    project: ToyProject, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(project, tmp_path, entity={"keys": ["shop_id"], "timestamp": "day"})
    err = mistake(project, tmp_path, capsys, "--model", str(model_file), "--rows", str(project.rows_path), spec=spec)
    assert f"{project.rows_path}: entity key column 'shop_id' (entity.keys in the spec) is missing" in err
    assert "store_id" in err  # the columns the file has


def test_missing_label_column(
    project: ToyProject, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "no_label.parquet"
    pd.read_parquet(project.rows_path).drop(columns=["sales"]).to_parquet(rows)
    err = mistake(project, tmp_path, capsys, "--model", str(model_file), "--rows", str(rows))
    assert f"{rows}: label column 'sales' (label.column in the spec) is missing" in err


def test_features_missing_from_the_feature_service(
    project: ToyProject, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features = [*SPEC["features"], {"name": "competitor_price", "type": "numeric"}]
    spec = write_spec(project, tmp_path, features=features)
    err = mistake(project, tmp_path, capsys, "--model", str(model_file), "--rows", str(project.rows_path), spec=spec)
    assert "Feast feature service 'sales_v1': spec features missing: competitor_price" in err


def test_a_model_that_cannot_score_the_spec_features(
    project: ToyProject, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features = [f for f in SPEC["features"] if f["name"] != "weather"]  # type: ignore[index]
    spec = write_spec(project, tmp_path, features=features)
    err = mistake(project, tmp_path, capsys, "--model", str(model_file), "--rows", str(project.rows_path), spec=spec)
    assert f"{model_file}: cannot score one row of the spec's features" in err


def test_a_classifier_under_a_regression_spec_and_the_reverse(
    project: ToyProject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    classifier = fit_toy_model(project, tmp_path / "classifier.joblib", classifier=True)
    err = mistake(project, tmp_path, capsys, "--model", str(classifier), "--rows", str(project.rows_path))
    assert "is a classifier (it has predict_proba and classes_) but the spec says prediction.kind: regression" in err
    regressor = fit_toy_model(project, tmp_path / "regressor.joblib")
    spec = write_spec(project, tmp_path, prediction={"kind": "classification", "classes": ["low", "high"]})
    err = mistake(project, tmp_path, capsys, "--model", str(regressor), "--rows", str(project.rows_path), spec=spec)
    assert "has no predict_proba() and classes_, so it cannot serve prediction.kind: classification" in err


def test_missing_or_unreadable_files(
    project: ToyProject, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = mistake(project, tmp_path, capsys, "--model", str(tmp_path / "nope.joblib"), "--rows", str(project.rows_path))
    assert f"{tmp_path / 'nope.joblib'}: model file not found" in err
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"not a pickle")
    err = mistake(project, tmp_path, capsys, "--model", str(broken), "--rows", str(project.rows_path))
    assert f"{broken}: cannot load the model" in err
    err = mistake(project, tmp_path, capsys, "--model", str(model_file), "--rows", str(tmp_path / "rows.parquet"))
    assert f"{tmp_path / 'rows.parquet'}: rows file not found" in err
    garbage = tmp_path / "rows.csv"
    garbage.write_bytes(b"\x00\x01")
    err = mistake(project, tmp_path, capsys, "--model", str(model_file), "--rows", str(garbage))
    assert "rows.csv" in err
    repo = tmp_path / "not_a_repo"
    repo.mkdir()
    shutil.copy(project.spec_path, tmp_path / "spec_copy.yaml")
    code = main(
        [
            "register",
            "--spec",
            str(project.spec_path),
            "--feast-repo",
            str(repo),
            "--model-path",
            str(tmp_path / "m"),
            "--model",
            str(model_file),
            "--rows",
            str(project.rows_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"{repo / 'feature_store.yaml'}: missing" in err
