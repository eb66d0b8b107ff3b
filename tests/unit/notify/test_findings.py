from __future__ import annotations

import json
import math
from datetime import datetime

import pytest

from mlmon.notify.findings import SHARE, ChartData, Contribution, Finding, Shift, format_number, max_severity
from tests.unit.notify.helpers import END, START, finding


def test_tiers_keys_and_effect() -> None:
    assert finding("evaluation", "mae").tier == "symptom"
    assert finding("integrity", "x").tier == "integrity" and finding("integrity", "x").is_input
    assert finding("input", "x").tier == "context" and finding("labels", "y").tier == "context"
    assert finding("input", "x", aspect="fill").key == "input:x:fill" and finding("input", "x").key == "input:x"
    assert finding("input", "x", effect=3.0).effect == pytest.approx(3.0)
    assert Finding("traffic", "t", "warning", "t").effect == 0.0
    assert max_severity([finding(severity="warning"), finding(severity="critical")]) == "critical"
    assert max_severity([]) is None


def test_bad_values_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"finding\.signal"):
        Finding(signal="bogus", name="x", severity="warning", title="t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"finding\.severity"):
        Finding(signal="input", name="x", severity="info", title="t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"finding\.integrity"):
        Finding(signal="integrity", name="x", severity="warning", title="t")
    with pytest.raises(ValueError, match="2 baseline"):
        ChartData(("a", "b", "c"), (0.5, 0.5), (0.3, 0.3, 0.4))
    with pytest.raises(ValueError, match="timezone"):
        Contribution("drift", "m", "v", datetime(2026, 1, 1), END)
    with pytest.raises(ValueError, match="window_end"):
        Contribution("drift", "m", "v", END, START)


def test_numbers_read_unambiguously() -> None:
    f = Finding("input", "income", "warning", "t", before=52000.0, after=52.5, unit="EUR", what="mean")
    assert f.change_text == "mean 52,000 EUR → 52.5 EUR"
    fill = Finding("input", "x", "warning", "t", before=0.8, after=0.2, unit=SHARE, what="fill rate")
    assert fill.change_text == "fill rate 80% → 20%"
    assert Finding("evaluation", "mae", "critical", "mae 27.37, SLO ≤ 20").change_text == ""  # no "20 -> 27.37"
    assert format_number(1.6e10, "s") == "16,000,000,000 s" and format_number(None) == "n/a"
    assert format_number(0.004, SHARE) == "0.4%"
    assert format_number(83.75, "%") == "83.75 %"  # a spec's unit "%" (humidity 0..100) is not a fraction


def test_findings_and_shifts_round_trip_through_json() -> None:
    f = finding("integrity", "x", importance=0.3, model_version="v2")
    back = Finding.from_dict(json.loads(json.dumps(f.to_dict())))
    assert back == f
    s = Shift("x", "mean", 1.0, math.inf, "s", 0.3, 0.1, "wasserstein", None, True)
    assert Shift.from_dict(json.loads(json.dumps(s.to_dict()))).after is None  # non-finite → null, valid JSON
