"""The SQL of the SQLite store's window statistics: bins and summaries computed next to the data.

Only numbers come back: one statement bins every requested field (each row's bin is computed once, a binary
search over the edges in SQL), and one sort per feature yields the needed order statistics for percentiles.
Conventions shared with Elasticsearch (bins, percentiles) are in ``common``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlmon.errors import InvalidInput
from mlmon.spec import ModelSpec
from mlmon.store.base import BinnedCounts, BinSpec, CategoryBins, NumericBins, NumericSummary
from mlmon.store.common import check_kind, check_percentiles, checked_edges, percentile_ranks, resolve_field
from mlmon.store.sqlite_schema import quote


def _search_expr(col: str, edges: Sequence[float], lo: int, hi: int) -> tuple[str, list[float]]:
    """SQL for ``np.searchsorted(edges, col, side="right")`` known to lie in ``[lo, hi]``: a binary search
    (~log2(k) comparisons per row instead of k)."""
    if lo == hi:
        return str(lo), []
    mid = (lo + hi) // 2  # col < edges[mid] → at most mid edges are <= col
    left, left_args = _search_expr(col, edges, lo, mid)
    right, right_args = _search_expr(col, edges, mid + 1, hi)
    return f"CASE WHEN {col} < ? THEN {left} ELSE {right} END", [edges[mid], *left_args, *right_args]


def binned_counts(
    conn: sqlite3.Connection,
    table: str,
    spec: ModelSpec,
    bins: Sequence[BinSpec],
    where: str,
    where_params: Sequence[Any],
) -> dict[str, BinnedCounts]:
    """All fields in one statement: each row's bin per field (and a numeric field's value) is computed once,
    materialised, then counted and summed per field. Bin -1 = missing."""
    exprs: list[str] = []
    params: list[Any] = []
    args: list[Any]
    sizes: list[int] = []
    numeric: list[bool] = []
    for i, bin_spec in enumerate(bins):
        ref = resolve_field(spec, bin_spec.feature)
        col = quote(ref.column)
        if isinstance(bin_spec, NumericBins):
            check_kind(ref, "numeric", "numeric bins")
            edges = checked_edges(bin_spec.feature, bin_spec.edges)
            expr, args = _search_expr(col, edges, 0, len(edges))
            sizes.append(len(edges) + 1)
            exprs.append(f"{col} AS v{i}")
        elif isinstance(bin_spec, CategoryBins):
            check_kind(ref, "categorical", "category bins")
            cats = [str(c) for c in bin_spec.categories]
            whens = " ".join(f"WHEN {col} = ? THEN {j}" for j in range(len(cats)))
            expr, args = (f"CASE {whens} ELSE {len(cats)} END", cats) if cats else ("0", [])
            sizes.append(len(cats) + 1)
        else:
            raise InvalidInput("bins", f"unknown bin spec {type(bin_spec).__name__}")
        numeric.append(isinstance(bin_spec, NumericBins))
        exprs.append(f"CASE WHEN {col} IS NULL THEN -1 ELSE {expr} END AS b{i}")
        params += args
    if not bins:
        return {}
    counts = [np.zeros(n, dtype=np.int64) for n in sizes]
    sums = [np.zeros(n, dtype=np.float64) if num else None for n, num in zip(sizes, numeric, strict=True)]
    missing = [0] * len(bins)
    union = " UNION ALL ".join(
        f"SELECT {i}, b{i}, COUNT(*), {f'SUM(v{i})' if numeric[i] else 'NULL'} FROM t GROUP BY b{i}"
        for i in range(len(bins))
    )
    rows = conn.execute(
        f"WITH t AS MATERIALIZED (SELECT {', '.join(exprs)} FROM {table} {where}) {union}",
        [*params, *where_params],
    ).fetchall()
    for i, b, n, value_sum in rows:
        if b < 0:
            missing[i] = int(n)
            continue
        counts[i][int(b)] = int(n)
        bin_sums = sums[i]
        if bin_sums is not None and value_sum is not None:
            bin_sums[int(b)] = float(value_sum)
    total = int(counts[0].sum()) + missing[0]
    return {
        b.feature: BinnedCounts(b.feature, c, m, total, sums_of)
        for b, c, m, sums_of in zip(bins, counts, missing, sums, strict=True)
    }


def numeric_summaries(
    conn: sqlite3.Connection,
    table: str,
    spec: ModelSpec,
    features: Sequence[str],
    percentiles: Sequence[float],
    condition: str,
    params: Sequence[Any],
) -> dict[str, NumericSummary]:
    check_percentiles(percentiles)
    out: dict[str, NumericSummary] = {}
    where = f"FROM {table} {condition}"
    total = int(conn.execute(f"SELECT COUNT(*) {where}", params).fetchone()[0])
    for name in features:
        ref = resolve_field(spec, name)
        check_kind(ref, "numeric", "a numeric summary")
        col = quote(ref.column)
        n, mean, lo, hi = conn.execute(
            f"SELECT COUNT({col}), AVG({col}), MIN({col}), MAX({col}) {where}", params
        ).fetchone()
        n = int(n)
        std: float | None = None
        pct: dict[float, float | None] = {float(p): None for p in percentiles}
        if n:
            # Second pass around the mean: no cancellation for large values with small spread.
            var = conn.execute(
                f"SELECT SUM(({col} - ?) * ({col} - ?)) {where} AND {col} IS NOT NULL", (mean, mean, *params)
            ).fetchone()[0]
            std = float(np.sqrt(max(float(var) / n, 0.0)))
            pct = _percentiles(conn, col, where, params, n, percentiles)
        out[name] = NumericSummary(
            name,
            n,
            total - n,
            None if mean is None else float(mean),
            std,
            None if lo is None else float(lo),
            None if hi is None else float(hi),
            pct,
        )
    return out


def _percentiles(
    conn: sqlite3.Connection, col: str, where: str, params: Sequence[Any], n: int, percentiles: Sequence[float]
) -> dict[float, float | None]:
    plan = {float(p): percentile_ranks(n, float(p)) for p in percentiles}
    ranks = sorted({r for lo, hi, _ in plan.values() for r in (lo, hi)})
    marks = ",".join("?" * len(ranks))
    # One sort per feature; only the needed order statistics come back.
    rows = conn.execute(
        f"SELECT rn, v FROM (SELECT {col} AS v, ROW_NUMBER() OVER (ORDER BY {col}) - 1 AS rn "
        f"{where} AND {col} IS NOT NULL) WHERE rn IN ({marks})",
        [*params, *ranks],
    ).fetchall()
    value = {int(r): float(v) for r, v in rows}
    return {p: value[lo] + w * (value[hi] - value[lo]) for p, (lo, hi, w) in plan.items()}
