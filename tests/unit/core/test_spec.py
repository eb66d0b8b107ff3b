from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlmon.errors import ConfigError
from mlmon.spec import load_spec, parse_spec

REPO = Path(__file__).resolve().parents[3]


def base_spec() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((REPO / "mlmon" / "demo" / "loan_default.yaml").read_text())


def problems(raw: object) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_spec(raw, "spec.yaml")
    return dict(info.value.problems)


def test_demo_spec_loads() -> None:
    spec = load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml")
    assert spec.model == "loan_default"
    assert spec.prediction.positive == "default"
    assert spec.feature("postcode").pii
    assert [str(s) for s in spec.slos][:2] == ["roc_auc >= 0.7", "precision >= 0.45"]
    assert spec.slos[3].severity == "warning"
    assert spec.slos[0].holds(0.71) and not spec.slos[0].holds(0.69)


def test_bad_feature_type_names_location() -> None:
    raw = base_spec()
    raw["features"][2]["type"] = "number"
    found = problems(raw)
    key = "spec.yaml: features[2] (term_months).type"
    assert key in found and "'numeric', 'categorical' or 'boolean'" in found[key]


def test_range_on_categorical_and_inverted_range() -> None:
    raw = base_spec()
    raw["features"][0]["range"] = [10, 1]
    raw["features"][9]["range"] = [0, 1]
    found = problems(raw)
    assert "above upper bound" in found["spec.yaml: features[0] (income)"]
    assert "only allowed for numeric" in found["spec.yaml: features[9] (region)"]


def test_unknown_slo_metric_and_unreadable_slo() -> None:
    raw = base_spec()
    raw["slos"] = ["precission >= 0.9"]
    assert "unknown SLO metric 'precission'" in problems(raw)["spec.yaml: slos[0].metric"]
    raw["slos"] = ["precision is high"]
    assert "write it like 'precision >= 0.95'" in problems(raw)["spec.yaml: slos"]


def test_duplicate_features_segments_and_extra_keys() -> None:
    raw = base_spec()
    raw["features"].append(dict(raw["features"][0]))
    assert "duplicate feature names: income" in problems(raw)["spec.yaml: (top level)"]
    raw = base_spec()
    raw["segments"] = ["income"]
    assert "must be a non-PII categorical" in problems(raw)["spec.yaml: (top level)"]
    raw = base_spec()
    raw["features"][0]["colour"] = "red"
    assert "Extra inputs are not permitted" in problems(raw)["spec.yaml: features[0] (income).colour"]


def test_model_name_must_be_index_safe() -> None:
    raw = base_spec()
    raw["model"] = "Loan Default"
    assert "spec.yaml: model" in problems(raw)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model spec not found") as info:
        load_spec(tmp_path / "nope.yaml")
    assert "MLMON_MODEL_SPEC" in str(info.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: x\nfeatures: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+:\d+: not valid YAML"):
        load_spec(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_spec(bad)


def test_spec_reference_is_in_sync() -> None:
    from mlmon.spec_docs import spec_reference

    committed = (REPO / "docs" / "spec-reference.md").read_text()
    assert committed == spec_reference(), "run `python -m mlmon.spec_docs > docs/spec-reference.md`"


def test_new_sections_validate_with_located_errors() -> None:
    raw = base_spec()
    raw["serving"] = {"routes": ["predict"], "empty_when_missing": ["salary"]}
    raw["label"] = {"column": "label", "source": "feature_view"}
    raw["prediction"] = {"kind": "regression", "classes": ["a", "b"]}
    found = problems(raw)
    assert any(key.startswith("spec.yaml: serving.routes") for key in found)
    assert "needs feature_view" in found["spec.yaml: label"]
    assert "apply to classification only" in found["spec.yaml: prediction"]


def test_multiclass_and_binary_properties() -> None:
    three = parse_spec({**base_spec(), "prediction": {"kind": "classification", "classes": ["a", "b", "c"]}})
    assert three.prediction.multiclass and not three.prediction.binary and three.prediction.positive is None
    two = parse_spec(base_spec())
    assert two.prediction.binary and (two.prediction.positive, two.prediction.negative) == ("default", "no_default")
