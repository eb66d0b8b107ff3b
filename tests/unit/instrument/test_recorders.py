from __future__ import annotations

import math

import numpy as np
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from mlmon.baseline.profile import BaselineProfile
from mlmon.instrument import Instrumentation, instrument
from mlmon.instrument.metrics import score_buckets
from mlmon.spec import ModelSpec, load_spec, parse_spec
from mlmon.store.base import OTHER
from tests.conftest import REPO
from tests.unit.instrument.helpers import demo_profile, sample

BASE = {"model": "loan_default", "model_version": "v-test"}


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml")


@pytest.fixture(scope="module")
def profile(spec: ModelSpec) -> BaselineProfile:
    return demo_profile(spec)


def _inst(spec: ModelSpec, profile: BaselineProfile | None) -> tuple[Instrumentation, CollectorRegistry]:
    registry = CollectorRegistry()
    return instrument(FastAPI(), registry=registry, spec=spec, profile=profile, model_version="v-test"), registry


def test_score_buckets_are_the_baseline_edges_plus_inf() -> None:
    assert score_buckets([0.3, 0.1, 0.2, 0.2, math.nan]) == (0.1, 0.2, 0.3, math.inf)
    assert score_buckets(None)[-1] == math.inf and len(score_buckets(None)) == 20


def test_prediction_histogram_counts_per_baseline_bin(spec: ModelSpec, profile: BaselineProfile) -> None:
    inst, registry = _inst(spec, profile)
    edges = profile.prediction.score_edges
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 500)
    for score in scores:
        inst.outputs.record(float(score), "default" if score >= 0.5 else "no_default")
    for edge in edges:  # cumulative count at each bucket bound == number of scores <= edge
        expected = int(np.sum(scores <= edge))
        assert sample(registry, "mlmon_prediction_bucket", **BASE, le=_le(edge)) == expected
    assert sample(registry, "mlmon_prediction_bucket", **BASE, le="+Inf") == 500
    assert sample(registry, "mlmon_prediction_sum", **BASE) == pytest.approx(scores.sum())
    assert sample(registry, "mlmon_predicted_class_total", **BASE, **{"class": "default"}) == np.sum(scores >= 0.5)
    assert sample(registry, "mlmon_responses_total", **BASE, kind="ok") == 500


def _le(edge: float) -> str:
    from prometheus_client.utils import floatToGoString

    return floatToGoString(edge)


def test_nonfinite_and_response_kinds(spec: ModelSpec, profile: BaselineProfile) -> None:
    inst, registry = _inst(spec, profile)
    inst.outputs.record(math.nan, None, "empty")
    inst.outputs.record(None, None, "empty")
    inst.outputs.record(math.inf, None, "empty")
    inst.outputs.record(0.2, "no_default", "fallback")
    assert sample(registry, "mlmon_nonfinite_predictions_total", **BASE) == 3
    assert sample(registry, "mlmon_prediction_count", **BASE) == 1
    assert sample(registry, "mlmon_responses_total", **BASE, kind="empty") == 3
    assert sample(registry, "mlmon_responses_total", **BASE, kind="fallback") == 1
    assert sample(registry, "mlmon_responses_total", **BASE, kind="ok") == 0
    # the zero series exist from the start, so rate() works before the first empty response
    assert registry.get_sample_value("mlmon_responses_total", {**BASE, "kind": "ok"}) == 0.0


def test_inputs_missing_out_of_range_and_categories(spec: ModelSpec, profile: BaselineProfile) -> None:
    inst, registry = _inst(spec, profile)
    rows: list[dict[str, object]] = [
        {"income": 50_000.0, "age": 17.0, "channel": "web", "has_coborrower": True, "postcode": "1011AB"},
        {"income": None, "age": 101.0, "channel": "carrier-pigeon", "has_coborrower": False, "postcode": "X"},
        {"income": float("nan"), "age": 40.0, "channel": "web", "has_coborrower": None},
    ]
    inst.inputs.record(rows)
    assert sample(registry, "mlmon_feature_missing_total", **BASE, feature="income") == 2
    assert sample(registry, "mlmon_feature_missing_total", **BASE, feature="postcode") == 1
    assert sample(registry, "mlmon_feature_missing_total", **BASE, feature="has_coborrower") == 1
    assert sample(registry, "mlmon_feature_missing_total", **BASE, feature="bureau_score") == 3
    assert sample(registry, "mlmon_feature_out_of_range_total", **BASE, feature="age") == 2  # spec [18, 100]
    assert sample(registry, "mlmon_feature_out_of_range_total", **BASE, feature="income") == 0
    assert sample(registry, "mlmon_feature_category_total", **BASE, feature="channel", category="web") == 2
    assert sample(registry, "mlmon_feature_category_total", **BASE, feature="channel", category=OTHER) == 1
    assert sample(registry, "mlmon_feature_category_total", **BASE, feature="has_coborrower", category="true") == 1
    assert sample(registry, "mlmon_feature_category_total", **BASE, feature="has_coborrower", category="false") == 1
    exposed = [s for m in registry.collect() for s in m.samples if s.labels.get("feature") == "postcode"]
    assert exposed and all("category" not in s.labels for s in exposed)  # never a PII value as a label


def test_out_of_range_falls_back_to_baseline_min_max(profile: BaselineProfile) -> None:
    spec = parse_spec(
        {
            "model": "loan_default",
            "prediction": {"kind": "classification", "classes": ["no_default", "default"]},
            "features": [{"name": "income", "type": "numeric"}, {"name": "region", "type": "categorical"}],
        }
    )
    inst, registry = _inst(spec, profile)
    low, high = profile.numeric("income").min, profile.numeric("income").max
    assert low is not None and high is not None
    inst.inputs.record([{"income": low}, {"income": high}, {"income": high * 10}, {"income": low - 1}])
    assert sample(registry, "mlmon_feature_out_of_range_total", **BASE, feature="income") == 2
    # no categories in the spec: the baseline's categories are the known ones
    inst.inputs.record([{"region": "north"}, {"region": "atlantis"}])
    assert sample(registry, "mlmon_feature_category_total", **BASE, feature="region", category="north") == 1
    assert sample(registry, "mlmon_feature_category_total", **BASE, feature="region", category=OTHER) == 1
