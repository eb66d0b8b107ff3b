"""Binning follows the store convention exactly: the same counts as a SQL GROUP BY on the same edges."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from mlmon.errors import InvalidInput
from mlmon.stats.binning import (
    OTHER,
    bin_labels,
    categorical_counts,
    equal_mass_edges,
    numeric_counts,
)


def test_value_on_an_edge_goes_to_the_upper_bin() -> None:
    counts = numeric_counts(np.array([0.0, 1.0, 1.5, 2.0, 3.0]), [1.0, 2.0])
    assert counts.counts.tolist() == [1, 2, 2]
    assert counts.missing == 0 and counts.nonfinite == 0


def test_nan_is_missing_and_inf_goes_to_outer_bins() -> None:
    values = np.array([np.nan, -np.inf, 0.5, np.inf, np.nan, 5.0, np.nan])
    counts = numeric_counts(values, [1.0, 2.0])
    assert counts.counts.tolist() == [2, 0, 2]
    assert counts.missing == 3
    assert counts.nonfinite == 2
    assert counts.total == values.size


def test_integer_arrays_empty_arrays_and_no_edges() -> None:
    assert numeric_counts(np.array([1, 2, 3, 3]), [2.5]).counts.tolist() == [2, 2]
    assert numeric_counts(np.array([], dtype=float), [1.0]).counts.tolist() == [0, 0]
    only = numeric_counts(np.array([1.0, np.nan, 7.0]), [])
    assert only.counts.tolist() == [2] and only.missing == 1


def test_bad_edges_and_values_are_refused() -> None:
    with pytest.raises(InvalidInput, match="strictly increasing"):
        numeric_counts(np.ones(3), [1.0, 1.0])
    with pytest.raises(InvalidInput, match="finite"):
        numeric_counts(np.ones(3), [1.0, np.inf])
    with pytest.raises(InvalidInput, match="numeric"):
        numeric_counts(np.array(["a", "b"]), [1.0])


def test_numeric_counts_equal_sqlite_group_by() -> None:
    """The SQLite backend's convention: bin = number of edges e with x >= e; NULL is missing."""
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=2000), 1)  # many values exactly on edges
    values[rng.random(2000) < 0.1] = np.nan
    edges = [-1.0, -0.5, 0.0, 0.3, 1.2]
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE t (x REAL)")
        db.executemany("INSERT INTO t VALUES (?)", [(None if np.isnan(v) else float(v),) for v in values])
        case = " + ".join(f"(x >= {e!r})" for e in edges)
        rows = dict(db.execute(f"SELECT {case} AS bin, COUNT(*) FROM t WHERE x IS NOT NULL GROUP BY bin"))
        missing = db.execute("SELECT COUNT(*) FROM t WHERE x IS NULL").fetchone()[0]
    counts = numeric_counts(values, edges)
    assert counts.counts.tolist() == [rows.get(i, 0) for i in range(len(edges) + 1)]
    assert counts.missing == missing


def test_categorical_counts_with_other_and_missing() -> None:
    values = np.array(["web", "mobile", None, "fax", "web", float("nan"), "branch", "WEB"], dtype=object)
    counts = categorical_counts(values, ["web", "mobile", "branch", "partner"])
    assert counts.counts.tolist() == [2, 1, 1, 0, 2]  # "fax" and "WEB" (case matters) are __other__
    assert counts.missing == 2
    assert counts.total == values.size


def test_categorical_counts_on_string_and_bool_arrays() -> None:
    assert categorical_counts(np.array(["a", "b", "a", "z"]), ["a", "b"]).counts.tolist() == [2, 1, 1]
    flags = categorical_counts(np.array([True, False, True, True]), ["false", "true"])
    assert flags.counts.tolist() == [1, 3, 0]
    with pytest.raises(InvalidInput, match="unique"):
        categorical_counts(np.array(["a"]), ["a", "a"])


def test_equal_mass_edges_and_labels() -> None:
    values = np.arange(1000, dtype=float)
    edges = equal_mass_edges(values, 4)
    assert edges.tolist() == pytest.approx([249.75, 499.5, 749.25])
    assert numeric_counts(values, edges).counts.tolist() == [250, 250, 250, 250]
    # heavy ties: edges are deduplicated and never leave an empty bin below the minimum
    tied = np.array([0.0] * 900 + list(range(1, 101)), dtype=float)
    tied_edges = equal_mass_edges(tied, 10)
    assert (np.diff(tied_edges) > 0).all() and tied_edges[0] > 0
    assert equal_mass_edges(np.array([np.nan, np.inf]), 10).size == 0
    assert bin_labels([1.0, 2.0]) == ["< 1", "[1, 2)", ">= 2"]
    assert OTHER == "__other__"


def test_object_arrays_are_counted_by_code() -> None:
    """Mixed objects: only str values match a category; None and NaN are missing; numpy strings are strings."""
    values = np.array(["a", "b", None, float("nan"), "c", 3, 2.5, "a", np.str_("b"), "zz", None] * 5, dtype=object)
    counts = categorical_counts(values, ["a", "b", "q"])
    assert counts.counts.tolist() == [10, 10, 0, 20]  # "c", 3, 2.5 and "zz" are __other__
    assert counts.missing == 15
    unhashable = categorical_counts(np.array([[1], "a", None], dtype=object), ["a"])
    assert unhashable.counts.tolist() == [1, 1] and unhashable.missing == 1


def test_categorical_counts_match_a_plain_tally() -> None:
    rng = np.random.default_rng(8)
    names = np.array(["web", "app", "tv", "kiosk", None], dtype=object)
    values = names[rng.integers(0, 5, 20_000)]
    counts = categorical_counts(values, ["app", "web", "fax"])
    tally = {name: int(np.sum(values == name)) for name in ("app", "web", "tv", "kiosk")}
    assert counts.counts.tolist() == [tally["app"], tally["web"], 0, tally["tv"] + tally["kiosk"]]
    assert counts.missing == int(np.sum(values == None))  # noqa: E711


def test_numeric_sums_per_bin_with_infinities_at_the_finite_extremes() -> None:
    values = np.array([0.5, 1.0, 1.5, np.nan, 2.0, 7.0, np.inf, -np.inf])
    counts = numeric_counts(values, [1.0, 2.0])
    assert counts.counts.tolist() == [2, 2, 3]
    assert counts.sums is not None
    # -inf counts as the smallest finite value (0.5), +inf as the largest (7.0)
    assert counts.sums.tolist() == pytest.approx([0.5 + 0.5, 1.0 + 1.5, 2.0 + 7.0 + 7.0])
    many = numeric_counts(values, np.linspace(-1, 8, 60))  # the binary-search path sums the same way
    assert many.sums is not None and many.sums.sum() == pytest.approx(counts.sums.sum())


def test_edges_of_a_presorted_sample_equal_numpy_quantiles() -> None:
    values = np.sort(np.random.default_rng(4).lognormal(size=10_001))
    assert equal_mass_edges(values, 20, presorted=True).tolist() == equal_mass_edges(values, 20).tolist()


def test_many_numeric_edges_use_binary_search_with_the_same_convention() -> None:
    rng = np.random.default_rng(5)
    values = np.round(rng.normal(size=5000), 2)
    values[::17] = np.nan
    values[::101] = np.inf
    edges = np.round(np.linspace(-2, 2, 80), 2)
    counts = numeric_counts(values, edges)
    # bin i = e_i <= x < e_(i+1); -inf and +inf belong to the outer bins, NaN to none
    finite_or_inf = values[~np.isnan(values)]
    expected = np.bincount([int(np.sum(edges <= x)) for x in finite_or_inf], minlength=edges.size + 1)
    assert counts.counts.tolist() == expected.tolist()
    assert counts.missing == np.count_nonzero(np.isnan(values))
