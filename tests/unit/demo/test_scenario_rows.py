"""The demo's scenario rows: deterministic for a seed, independent of how they are taken, plausible labels."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from mlmon.demo.scenarios import ScenarioRows, get_scenario, scenario_frame


def test_same_seed_same_rows_and_labels() -> None:
    a, labels_a = scenario_frame(get_scenario("baseline"), 500, seed=4)
    b, labels_b = scenario_frame(get_scenario("baseline"), 500, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert labels_a == labels_b
    c, labels_c = scenario_frame(get_scenario("baseline"), 500, seed=5)
    assert not a.equals(c) and labels_a != labels_c


def test_rows_do_not_depend_on_how_they_are_taken() -> None:
    """Batch sizes follow the clock; the i-th row must not."""
    scenario = get_scenario("fill-rate-drop")
    whole = ScenarioRows(scenario, 9, total=1000).take(700)
    stream = ScenarioRows(scenario, 9, total=1000)
    parts: tuple[list[dict[str, Any]], list[Any]] = ([], [])
    for n in (1, 7, 250, 3, 439):
        rows, labels = stream.take(n)
        parts[0].extend(rows)
        parts[1].extend(labels)
    assert parts[0] == whole[0] and parts[1] == whole[1]


def test_labels_are_plausible_ground_truth() -> None:
    _, labels = scenario_frame(get_scenario("baseline"), 4000, seed=2)
    share = labels.count("default") / len(labels)
    assert set(labels) == {"default", "no_default"}
    assert 0.05 < share < 0.35


def test_progress_follows_the_row_position() -> None:
    """gradual-drift ramps with the row's place in the planned total: early rows near ×1, late near ×2.5."""
    total = 4000
    drifted, _ = scenario_frame(get_scenario("gradual-drift"), total, seed=3, total=total)
    plain, _ = scenario_frame(get_scenario("baseline"), total, seed=3, total=total)
    ratio = drifted["loan_amount"] / plain["loan_amount"]
    assert ratio.iloc[:200].median() == pytest.approx(1.0 + 1.5 * 100 / total, rel=0.01)
    assert ratio.iloc[-200:].median() == pytest.approx(1.0 + 1.5 * (total - 100) / total, rel=0.01)


def test_seasonal_rate_swings_and_the_mix_stays() -> None:
    rows = get_scenario("seasonal").rows(1, 1000)
    assert rows.rate_at(0.125) > 1.4 and rows.rate_at(0.375) < 0.6
    assert get_scenario("baseline").rows(1, 10).rate_at(0.3) == 1.0


def test_the_product_replay_finds_the_demo_scenarios_through_entry_points() -> None:
    from mlmon.replay.sources import registered_scenarios

    assert set(registered_scenarios()) >= {"baseline", "unit-change", "seasonal", "bad-retrain"}
