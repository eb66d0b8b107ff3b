"""The decision rule on realistic scenarios: no drift on the same distribution, drift on each fault."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pytest

from mlmon.errors import InsufficientData
from mlmon.stats.base import StatResult
from mlmon.stats.baseline import Baseline, CategoricalBaseline, NumericBaseline
from mlmon.stats.binning import Counts, categorical_counts, numeric_counts
from mlmon.stats.decision import Decision, check_window_rows, decide
from mlmon.stats.engine import FeatureComparison, compare
from tests.unit.stats import scenario

WINDOW = 50_000


@pytest.fixture(scope="module")
def base() -> Baseline:
    return scenario.baseline(np.random.default_rng(1))


def _run(base: Baseline, fault: str | None, seed: int, consecutive: int = 2) -> dict[str, Decision]:
    rng = np.random.default_rng(seed)
    history: dict[str, int] = {}
    decisions: list[Decision] = []
    for _ in range(consecutive):
        results = compare(base, scenario.sample(rng, WINDOW, fault))
        decisions, history = decide(results, consecutive=consecutive, min_rows=200, history=history)
    return {d.key: d for d in decisions}


def _drifted(decisions: dict[str, Decision]) -> set[str]:
    return {key for key, d in decisions.items() if d.status == "drift"}


def test_same_distribution_does_not_drift(base: Baseline) -> None:
    decisions = _run(base, None, seed=11)
    assert _drifted(decisions) == set()
    assert all(d.status == "no_drift" for d in decisions.values())


def test_unit_change_seconds_to_milliseconds(base: Baseline) -> None:
    assert _drifted(_run(base, "unit_change", seed=12)) == {"input:seconds_since_last_application"}


def test_fill_rate_falling_from_80_to_20_percent(base: Baseline) -> None:
    decisions = _run(base, "fill_rate", seed=13)
    assert _drifted(decisions) == {"quality:bureau_score"}
    assert decisions["input:bureau_score"].status == "no_drift"  # the values present did not change


def test_category_share_doubling(base: Baseline) -> None:
    assert _drifted(_run(base, "category_doubling", seed=14)) == {"input:channel"}


def test_shift_of_the_prediction_distribution(base: Baseline) -> None:
    drifted = _run(base, "prediction_shift", seed=15)
    assert "output:prediction" in drifted and _drifted(drifted) <= {"output:prediction", "output:predicted_class"}


def test_one_window_is_pending_until_consecutive(base: Baseline) -> None:
    """Persistence alone (rule 5 off): the streak decides after ``consecutive`` windows."""
    rng = np.random.default_rng(16)
    results = compare(base, scenario.sample(rng, WINDOW, "unit_change"))
    persistence = partial(decide, consecutive=3, min_rows=200, gross_factor=None)
    first, history = persistence(results, history={})
    key = "input:seconds_since_last_application"
    assert {d.key: d.status for d in first}[key] == "pending" and history[key] == 1
    _, history = persistence(results, history=history)
    third, history = persistence(results, history=history)
    assert {d.key: d.status for d in third}[key] == "drift" and history[key] == 3
    clean = compare(base, scenario.sample(rng, WINDOW))
    fourth, history = persistence(clean, history=history)
    assert {d.key: d.status for d in fourth}[key] == "no_drift" and history[key] == 0


def test_a_unit_change_decides_in_the_first_window(base: Baseline) -> None:
    """Rule 5: an effect far above its threshold does not wait for a second window."""
    results = compare(base, scenario.sample(np.random.default_rng(16), WINDOW, "unit_change"))
    decisions, history = decide(results, consecutive=3, min_rows=200, history={})
    unit = {d.key: d for d in decisions}["input:seconds_since_last_application"]
    assert unit.status == "drift" and unit.immediate and history[unit.key] == 1
    assert "decided at once: effect" in unit.reason


def test_borderline_effects_wait_and_gross_ones_or_breaks_decide_at_once() -> None:
    borderline, gross, broken = _check("a", 0.15, 1e-9), _check("b", 0.6, 1e-9), _check("c", 0.12, 1e-9)
    decisions, history = decide([borderline, gross, broken], consecutive=2, min_rows=1, breaks={"input:c"})
    by_key = {d.key: d for d in decisions}
    assert by_key["input:a"].status == "pending" and not by_key["input:a"].immediate  # 1.5× its threshold
    assert by_key["input:b"].status == "drift" and by_key["input:b"].immediate  # 6×
    assert by_key["input:c"].status == "drift" and "data-integrity break" in by_key["input:c"].reason
    again, _ = decide([borderline, gross, broken], consecutive=2, min_rows=1, history=history)
    by_key = {d.key: d for d in again}
    assert by_key["input:a"].status == "drift" and not by_key["input:a"].immediate  # persisted: decided
    assert not by_key["input:b"].immediate  # the streak would decide now anyway
    # significance is still required: a gross effect that is not significant is no decision
    noisy, _ = decide([_check("d", 0.9, 0.2)], consecutive=2, min_rows=1, breaks={"input:d"})
    assert noisy[0].status == "no_drift" and not noisy[0].immediate
    with pytest.raises(ValueError, match="gross_factor"):
        decide([borderline], gross_factor=1.0)


def test_too_few_rows_is_insufficient_data_and_keeps_the_streak(base: Baseline) -> None:
    results = compare(base, scenario.sample(np.random.default_rng(17), 150, "unit_change"))
    decisions, history = decide(results, consecutive=1, min_rows=200, history={"input:income": 1})
    assert {d.status for d in decisions} == {"insufficient_data"}
    assert history == {"input:income": 1}
    with pytest.raises(InsufficientData):
        check_window_rows(150, 200)
    check_window_rows(200, 200)


def _check(feature: str, statistic: float, p_value: float) -> FeatureComparison:
    effect = StatResult("psi", statistic, None, 0.1, 10_000, 10_000, 0.01, statistic >= 0.1)
    significance = StatResult("chi2", 50.0, p_value, 0.05, 10_000, 10_000, 30.0, p_value < 0.05)
    return FeatureComparison(feature, "input", "numeric", 10_000, 10_000, effect, significance, alpha=0.05)


def test_effect_without_significance_after_bh_is_not_drift() -> None:
    # raw p = 0.03 passes alone, but with nine other null tests BH lifts it to 0.3
    checks = [_check("a", 0.5, 0.03)] + [_check(f"n{i}", 0.01, 0.5 + i / 100) for i in range(9)]
    decisions, _ = decide(checks, consecutive=1, min_rows=1)
    assert decisions[0].effect_passed and not decisions[0].significant
    assert decisions[0].p_adjusted == pytest.approx(0.3)
    assert decisions[0].status == "no_drift"
    # significance without effect is not drift either
    decisions, _ = decide([_check("b", 0.05, 1e-12)], consecutive=1, min_rows=1)
    assert decisions[0].significant and decisions[0].status == "no_drift"


def _normal(rng: np.random.Generator, n: int, mean: float) -> np.ndarray:
    return rng.normal(mean, 1 + mean / 10, n)


@pytest.mark.slow
def test_no_drift_at_one_million_rows_by_fifty_features() -> None:
    """Same distribution, 1M rows × 50 features, binned path: BH + effect sizes give no drift."""
    started = time.perf_counter()
    rng = np.random.default_rng(2026)
    n_ref, n_cur = 200_000, 1_000_000
    makers: list[Callable[[np.random.Generator, int], np.ndarray]] = []
    for i in range(35):
        kind = i % 5
        if kind == 0:
            makers.append(partial(_normal, mean=float(i)))
        elif kind == 1:
            makers.append(lambda r, n: r.lognormal(3, 0.8, n))
        elif kind == 2:
            makers.append(lambda r, n: r.poisson(4, n).astype(float))  # discrete: tied values
        elif kind == 3:
            makers.append(lambda r, n: np.where(r.random(n) < 0.3, np.nan, r.exponential(2, n)))
        else:
            makers.append(lambda r, n: r.uniform(-1, 1, n))
    categories = [f"c{j}" for j in range(8)]
    cat_p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02])
    features: dict[str, NumericBaseline | CategoricalBaseline] = {}
    current: dict[str, Counts] = {}
    for i, make in enumerate(makers):
        numeric = NumericBaseline.from_values(make(rng, n_ref))
        features[f"num{i}"] = numeric
        current[f"num{i}"] = numeric_counts(make(rng, n_cur), numeric.edges)
    for i in range(10):
        codes = rng.choice(8, size=n_ref, p=cat_p)
        features[f"cat{i}"] = CategoricalBaseline.from_values(np.array(categories)[codes], categories)
        current[f"cat{i}"] = categorical_counts(np.array(categories)[rng.choice(8, n_cur, p=cat_p)], categories)
    for i in range(5):
        features[f"flag{i}"] = CategoricalBaseline.from_values(rng.random(n_ref) < 0.1, kind="boolean")
        current[f"flag{i}"] = categorical_counts(rng.random(n_cur) < 0.1, ["false", "true"])
    results = compare(Baseline(n_ref, features), current)
    decisions, _ = decide(results, consecutive=1, min_rows=200)
    assert len({r.feature for r in results}) == 50
    assert [d.key for d in decisions if d.status != "no_drift"] == []
    assert max(r.score for r in results) < 0.5  # every effect far below its threshold
    assert time.perf_counter() - started < 60  # ~10 s alone on this machine; generous for a shared CPU
