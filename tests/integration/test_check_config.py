"""`mlmon check-config` against a real Feast repo and a registered non-loan model: a setup that works says OK,
every mistake of the spec, the repo or the artifact is one line naming the setting, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlmon.cli import main
from tests.fixtures.toy import SPEC, ToyProject, fit_toy_model, toy_project

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> ToyProject:
    project = toy_project(tmp_path_factory.mktemp("toy"))
    model = fit_toy_model(project, project.root / "model.joblib")
    args = ["--spec", str(project.spec_path), "--feast-repo", str(project.repo)]
    args += ["--model-path", str(project.root / "models"), "--model", str(model), "--rows", str(project.rows_path)]
    assert main(["register", *args]) == 0
    return project


def check(
    project: ToyProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], spec: Path
) -> tuple[int, list[str]]:
    for key, value in {
        "MLMON_MODEL_SPEC": str(spec),
        "MLMON_FEAST_REPO": str(project.repo),
        "MLMON_MODEL_PATH": str(project.root / "models"),
        "MLMON_VAR_DIR": str(project.root / "var"),
        "MLMON_FEEDBACK_TOKEN": "a-long-enough-token",
    }.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = main(["check-config"])
    out = capsys.readouterr()
    return code, out.err.splitlines() + out.out.splitlines()


def spec_with(project: ToyProject, tmp_path: Path, **changes: object) -> Path:
    spec = json.loads(json.dumps(SPEC)) | changes
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_working_setup_is_ok(
    registered: ToyProject, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(registered, monkeypatch, capsys, registered.spec_path) == (0, ["configuration OK"])


def test_every_mistake_is_listed_one_line_each(
    registered: ToyProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_with(
        registered,
        tmp_path,
        entity={"keys": ["shop_id"], "timestamp": "day"},
        features=[*SPEC["features"], {"name": "competitor_price", "type": "numeric"}],
        label={"column": "sales", "source": "feature_view", "feature_view": "sales_labels"},
    )
    monkeypatch.setenv("MLMON_STORE", "mysql://nope")
    code, lines = check(registered, monkeypatch, capsys, spec)
    assert code == 2
    text = "\n".join(lines)
    assert "MLMON_STORE: must start with sqlite:/// or http(s)://" in text  # a settings problem hides nothing
    assert "feature service 'sales_v1' lacks spec features: competitor_price" in text
    assert "entity.keys ['shop_id'] are not join keys of 'sales_v1' (it joins on ['store_id'])" in text
    assert "label.feature_view 'sales_labels' is not defined" in text
    assert "was registered with other features than MLMON_MODEL_SPEC" in text
    assert all(": " in line for line in lines)


def test_a_model_of_the_wrong_kind(
    registered: ToyProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_with(registered, tmp_path, prediction={"kind": "classification", "classes": ["low", "high"]})
    code, lines = check(registered, monkeypatch, capsys, spec)
    assert code == 2
    assert any("cannot serve prediction.kind: classification" in line for line in lines), lines
