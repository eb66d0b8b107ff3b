from __future__ import annotations

from datetime import datetime

import pytest

from mlmon.notify.findings import ChartData, Finding, Incident, group_by_model, max_severity, symptom_order
from tests.unit.notify.helpers import END, START, finding, incident


def test_symptom_order_puts_outputs_and_slos_first_and_ranks_inputs_by_effect() -> None:
    items = [
        finding("input", "age", effect=0.1),
        finding("input", "income", effect=0.9),
        finding("traffic", "requests"),
        finding("quality", "empty_share"),
        finding("slo", "precision", severity="critical"),
        finding("output", "prediction", effect=0.2),
        finding("input", "channel", effect=0.5, severity="critical"),
    ]
    order = [(f.role, f.name) for f in symptom_order(items)]
    assert order == [
        ("output", "prediction"),
        ("slo", "precision"),
        ("quality", "empty_share"),
        ("traffic", "requests"),
        ("input", "channel"),  # critical first within inputs
        ("input", "income"),
        ("input", "age"),
    ]


def test_incident_severity_is_the_worst_finding() -> None:
    assert incident().severity is None
    assert incident(finding(severity="warning")).severity == "warning"
    assert incident(finding(severity="warning"), finding("input", "x", severity="critical")).severity == "critical"
    assert max_severity([]) is None


def test_bad_values_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"finding\.role"):
        Finding(role="bogus", name="x", severity="warning", title="t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"finding\.severity"):
        Finding(role="input", name="x", severity="info", title="t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 baseline"):
        ChartData(("a", "b", "c"), (0.5, 0.5), (0.3, 0.3, 0.4))
    with pytest.raises(ValueError, match="timezone"):
        Incident("m", "v", datetime(2026, 1, 1), END)
    with pytest.raises(ValueError, match="window_end"):
        Incident("m", "v", END, START)


def test_value_formatting_keeps_units() -> None:
    f = Finding("input", "income", "warning", "t", before=52000.0, after=52.5, unit="EUR")
    assert (f.before_text, f.after_text) == ("52,000 EUR", "52.5 EUR")
    share = Finding("quality", "empty", "warning", "t", before=1.5, after=20.0, unit="%")
    assert (share.before_text, share.after_text) == ("1.5%", "20%")
    assert Finding("slo", "p", "warning", "t").before_text == "n/a"


def test_group_by_model() -> None:
    a, b = finding(name="x"), finding(name="y")
    assert group_by_model([("m1", a), ("m2", b), ("m1", b)]) == {"m1": [a, b], "m2": [b]}
