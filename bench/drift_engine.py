"""Drift engine vs a plain SciPy reference, side by side in one run.

Workload: 20 numeric + 5 categorical features; a reference (training) sample and a current window of the
same size, at 10k, 100k and 1M rows. Two features carry real drift (a numeric shift, a category share
change), so both sides also have something to find.

* engine: ``mlmon.stats.engine.compare`` on the in-memory arrays, binned path (``exact_max_rows=0``), plus
  ``decide`` (BH + effect thresholds). The baseline profile (edges, shares) is built once beforehand, as
  ``mlmon train`` stores it, and is not timed.
* reference: per column what one would write with SciPy: numeric ``ks_2samp`` on the raw samples +
  ``chi2_contingency`` and PSI on 10 reference-quantile bins; categorical ``np.unique`` counts +
  ``chi2_contingency`` + PSI.

Memory: peak bytes allocated by the engine during ``compare`` (tracemalloc, which sees numpy buffers)
against the size of the window's arrays (``sum(nbytes)``; object arrays counted as their 8-byte pointers
only, which understates the window and so makes the ratio conservative).

Run: ``python -m bench drift_engine`` (env ``BENCH_SIZES=10000,100000`` for a quicker run).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from scipy import stats

from bench.common import record
from mlmon.stats.baseline import Baseline, CategoricalBaseline, FeatureBaseline, NumericBaseline
from mlmon.stats.decision import decide
from mlmon.stats.engine import compare

N_NUMERIC, N_CATEGORICAL = 20, 5
CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
CATEGORY_P = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)


def make_data(rng: np.random.Generator, n: int, drift: bool) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    for i in range(N_NUMERIC):
        kind = i % 4
        if kind == 0:
            column = rng.normal(10 * i, 1 + i, n)
        elif kind == 1:
            column = rng.lognormal(2, 0.7, n)
        elif kind == 2:
            column = rng.poisson(3 + i, n).astype(float)
        else:
            column = rng.exponential(5, n)
            column[rng.random(n) < 0.1] = np.nan
        if drift and i == 0:
            column = column + 0.5 * (1 + i)  # half a standard deviation
        data[f"num{i:02d}"] = column
    for i in range(N_CATEGORICAL):
        p = CATEGORY_P
        if drift and i == 0:
            p = np.array([0.20, 0.25, 0.30, 0.12, 0.08, 0.05])
        column = np.asarray(CATEGORIES, dtype=object)[rng.choice(len(CATEGORIES), n, p=p)]
        column[rng.random(n) < 0.02] = None
        data[f"cat{i}"] = column
    return data


def build_baseline(ref: dict[str, np.ndarray]) -> Baseline:
    features: dict[str, FeatureBaseline] = {}
    for name, column in ref.items():
        if name.startswith("num"):
            features[name] = NumericBaseline.from_values(column)
        else:
            features[name] = CategoricalBaseline.from_values(column, CATEGORIES)
    return Baseline(rows=len(next(iter(ref.values()))), features=features)


def run_engine(baseline: Baseline, cur: dict[str, np.ndarray]) -> set[str]:
    results = compare(baseline, cur, exact_max_rows=0)
    decisions, _ = decide(results, consecutive=1, min_rows=200)
    return {d.feature for d in decisions if d.status == "drift" and d.role == "input"}


def _psi(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    p = np.maximum(p_counts / p_counts.sum(), 1e-4)
    q = np.maximum(q_counts / q_counts.sum(), 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def run_reference(ref: dict[str, np.ndarray], cur: dict[str, np.ndarray]) -> set[str]:
    flagged = set()
    for name in ref:
        if name.startswith("num"):
            r, c = ref[name][~np.isnan(ref[name])], cur[name][~np.isnan(cur[name])]
            ks_p = stats.ks_2samp(r, c).pvalue
            edges = np.unique(np.quantile(r, np.linspace(0, 1, 11)[1:-1]))
            bins = np.concatenate([[-np.inf], edges, [np.inf]])
            r_counts, c_counts = np.histogram(r, bins)[0], np.histogram(c, bins)[0]
            keep = (r_counts + c_counts) > 0
            chi_p = stats.chi2_contingency(np.vstack([r_counts[keep], c_counts[keep]]), correction=False).pvalue
            psi = _psi(r_counts, c_counts)
            if min(ks_p, chi_p) < 0.05 and psi >= 0.1:
                flagged.add(name)
        else:
            r, c = ref[name], cur[name]
            r_names, r_counts = np.unique(r[r != None].astype(str), return_counts=True)  # noqa: E711
            c_names, c_counts = np.unique(c[c != None].astype(str), return_counts=True)  # noqa: E711
            names = np.union1d(r_names, c_names)
            table = np.zeros((2, names.size))
            table[0, np.searchsorted(names, r_names)] = r_counts
            table[1, np.searchsorted(names, c_names)] = c_counts
            chi_p = stats.chi2_contingency(table, correction=False).pvalue
            if chi_p < 0.05 and _psi(table[0], table[1]) >= 0.1:
                flagged.add(name)
    return flagged


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def peak_bytes(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def main() -> None:
    sizes = tuple(int(s) for s in os.environ.get("BENCH_SIZES", "").split(",") if s) or DEFAULT_SIZES
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rng = np.random.default_rng(n)
        ref, cur = make_data(rng, n, drift=False), make_data(rng, n, drift=True)
        baseline = build_baseline(ref)
        repeats = 5 if n <= 100_000 else 2
        engine = partial(run_engine, baseline, cur)
        reference = partial(run_reference, ref, cur)
        engine_s, engine_flags = best_time(engine, repeats)
        reference_s, reference_flags = best_time(reference, max(1, repeats - 2))
        window_bytes = sum(a.nbytes for a in cur.values())
        engine_peak, reference_peak = peak_bytes(engine), peak_bytes(reference)
        rows.append(
            {
                "rows": n,
                "engine_s": engine_s,
                "reference_s": reference_s,
                "speedup": reference_s / engine_s,
                "window_MB": window_bytes / 1e6,
                "engine_peak_MB": engine_peak / 1e6,
                "engine_mem_ratio": engine_peak / window_bytes,
                "reference_peak_MB": reference_peak / 1e6,
                "engine_flags": ",".join(sorted(engine_flags)),
                "reference_flags": ",".join(sorted(reference_flags)),
            }
        )
        del ref, cur, baseline, engine, reference
    largest = rows[-1]
    record(
        "drift_engine",
        {
            "description": f"{N_NUMERIC} numeric + {N_CATEGORICAL} categorical features, window = reference size",
            "reference": "per column scipy.stats.ks_2samp + chi2_contingency + 10-bin PSI on raw arrays",
            "targets": {"speedup_at_largest": ">= 10", "engine_mem_ratio": "< 2"},
            "met": {
                "speedup": largest["speedup"] >= 10,
                "memory": all(r["engine_mem_ratio"] < 2 for r in rows),
            },
            "rows": rows,
            "notes": [
                "engine: compare() binned path + decide(); baseline profile built beforehand (not timed)",
                "memory: tracemalloc peak during one engine run / sum(nbytes) of the window arrays",
                "flags: features each side calls drifted (num00 and cat0 carry injected drift)",
            ],
        },
    )


if __name__ == "__main__":
    main()
