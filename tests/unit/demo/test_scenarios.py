"""Each scenario's transform does what its description says, on realistic generated applications."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlmon.demo.data import CHANNELS_P, generate_features
from mlmon.demo.scenarios import SCENARIOS, get_scenario

N = 20_000


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_features(N, np.random.default_rng(5))


def apply(name: str, frame: pd.DataFrame, progress: float = 0.5, seed: int = 3) -> pd.DataFrame:
    before = frame.copy()
    out = get_scenario(name).transform(frame, progress, np.random.default_rng(seed))
    pd.testing.assert_frame_equal(frame, before)  # the true applications are never modified in place
    return out


def filled(series: pd.Series) -> float:
    return float(series.notna().mean())


def test_baseline_and_seasonal_send_the_applications_unchanged(frame: pd.DataFrame) -> None:
    for name in ("baseline", "seasonal"):
        pd.testing.assert_frame_equal(apply(name, frame), frame)


def test_unit_change_sends_milliseconds(frame: pd.DataFrame) -> None:
    out = apply("unit-change", frame)
    col = "seconds_since_last_application"
    np.testing.assert_allclose(out[col].dropna(), frame[col].dropna() * 1000.0)
    assert out[col].isna().equals(frame[col].isna())  # first-time applicants stay empty
    others = [c for c in frame.columns if c != col]
    pd.testing.assert_frame_equal(out[others], frame[others])


def test_fill_rate_drop_leaves_about_a_fifth_of_debt_ratio(frame: pd.DataFrame) -> None:
    assert filled(frame["debt_ratio"]) == pytest.approx(0.80, abs=0.015)
    out = apply("fill-rate-drop", frame)
    assert filled(out["debt_ratio"]) == pytest.approx(0.20, abs=0.015)
    kept = out["debt_ratio"].notna()
    np.testing.assert_array_equal(out.loc[kept, "debt_ratio"], frame.loc[kept, "debt_ratio"])  # values untouched


def test_enrichment_outage_blanks_both_bureau_fields(frame: pd.DataFrame) -> None:
    out = apply("enrichment-outage", frame)
    assert out["bureau_score"].isna().all() and out["open_credit_lines"].isna().all()
    assert filled(out["income"]) == filled(frame["income"])


def test_category_shift_makes_partner_about_forty_percent(frame: pd.DataFrame) -> None:
    assert (frame["channel"] == "partner").mean() == pytest.approx(CHANNELS_P[3], abs=0.01)
    out = apply("category-shift", frame)
    assert (out["channel"] == "partner").mean() == pytest.approx(0.40, abs=0.015)
    assert set(out["channel"].unique()) <= {"web", "mobile", "branch", "partner"}


def test_empty_responses_drops_income_for_most_requests(frame: pd.DataFrame) -> None:
    out = apply("empty-responses", frame)
    # 60% blanked on top of the ~3% never declared.
    assert out["income"].isna().mean() == pytest.approx(0.6 + 0.4 * frame["income"].isna().mean(), abs=0.015)


def test_gradual_drift_ramps_loan_amount_with_progress(frame: pd.DataFrame) -> None:
    start, middle, end = (apply("gradual-drift", frame, p)["loan_amount"] for p in (0.0, 0.5, 1.0))
    pd.testing.assert_series_equal(start, frame["loan_amount"])
    assert middle.median() == pytest.approx(frame["loan_amount"].median() * 1.75, rel=0.01)
    assert end.median() == pytest.approx(frame["loan_amount"].median() * 2.5, rel=0.01)
    assert end.max() <= 500_000  # still within the spec's range


def test_seasonal_rate_profile_changes_volume_but_averages_to_the_rate() -> None:
    profile = SCENARIOS["seasonal"].rate_profile
    values = np.array([profile(p) for p in np.linspace(0, 1, 10_001)])
    assert values.mean() == pytest.approx(1.0, abs=0.01)
    assert values.min() == pytest.approx(0.4, abs=0.01) and values.max() == pytest.approx(1.6, abs=0.01)
    assert all(SCENARIOS[name].rate_profile(0.3) == 1.0 for name in SCENARIOS if name != "seasonal")


def test_every_fault_names_what_must_be_found() -> None:
    for scenario in SCENARIOS.values():
        if scenario.name in ("baseline", "seasonal"):
            assert scenario.expected_features == ()
        else:
            assert scenario.expected_features, scenario.name
            assert scenario.detected_by in ("drift", "stats")
    assert SCENARIOS["seasonal"].detected_by == "none"
    assert SCENARIOS["bad-retrain"].model_variant == "degraded"
    assert SCENARIOS["empty-responses"].expected_features == ("empty_share",)


def test_unknown_scenario_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown scenario 'nope'.*unit-change"):
        get_scenario("nope")
