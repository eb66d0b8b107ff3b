"""Data-integrity fingerprints on real engine comparisons: each break is recognised (also in a window only partly
affected), and ordinary shifts of valid inputs are not breaks."""

from __future__ import annotations

import numpy as np
import pytest

from drift_detector.integrity import fingerprint, unit_factor
from mlmon.stats.baseline import Baseline, CategoricalBaseline, NumericBaseline
from mlmon.stats.engine import FeatureComparison, compare

N_REF, N_CUR = 5000, 2000


@pytest.fixture(scope="module")
def base() -> Baseline:
    rng = np.random.default_rng(3)
    duration = rng.lognormal(10, 1.0, N_REF)
    ratio = rng.gamma(2.0, 0.2, N_REF)
    ratio[rng.random(N_REF) < 0.2] = np.nan  # filled 80%
    store = rng.choice(["a", "b", "c"], N_REF, p=[0.6, 0.3, 0.1])
    return Baseline(
        rows=N_REF,
        features={
            "duration": NumericBaseline.from_values(duration, keep_values=True),
            "ratio": NumericBaseline.from_values(ratio, keep_values=True),
            "store": CategoricalBaseline.from_values(store, ["a", "b", "c"]),
        },
    )


def window(rng: np.random.Generator, **change: object) -> dict[str, np.ndarray]:
    duration = rng.lognormal(10, 1.0, N_CUR)
    ratio = rng.gamma(2.0, 0.2, N_CUR)
    ratio[rng.random(N_CUR) < 0.2] = np.nan
    store = rng.choice(["a", "b", "c"], N_CUR, p=[0.6, 0.3, 0.1]).astype(object)
    current = {"duration": duration, "ratio": ratio, "store": store}
    for name, transform in change.items():
        current[name] = transform(current[name], rng)  # type: ignore[operator]
    return current


def checks(base: Baseline, current: dict[str, np.ndarray]) -> dict[str, FeatureComparison]:
    results = compare(base, current, rows=N_CUR)
    for check in results:  # as the job does: the profile's mean is the "before" of a numeric feature
        feature = base.features[check.feature]
        if isinstance(feature, NumericBaseline) and feature.values is not None:
            check.summary.setdefault("ref_mean", float(np.mean(feature.values)))
    return {c.key: c for c in results}


def scaled(share: float, factor: float):
    def transform(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = values.copy()
        hit = rng.random(values.size) < share
        out[hit] = out[hit] * factor
        return out

    return transform


@pytest.mark.parametrize(
    ("share", "factor", "words"),
    [
        (1.0, 1000.0, "values ≈1,000× the training values — a unit change?"),
        (0.15, 1000.0, "values ≈1,000× the training values"),  # the first window after the change: mixed
        (1.0, 60.0, "values ≈60× the training values"),
        (0.3, 60.0, "values ≈60× the training values"),
        (1.0, 0.001, "values ≈1/1,000 of the training values"),
    ],
)
def test_unit_changes_are_named_with_their_factor(base: Baseline, share: float, factor: float, words: str) -> None:
    got = checks(base, window(np.random.default_rng(1), duration=scaled(share, factor)))
    brk = fingerprint(got["input:duration"], base=base.features["duration"])  # type: ignore[arg-type]
    assert brk is not None and brk.code == "unit_change" and words in brk.text


def test_fill_rate_collapse(base: Baseline) -> None:
    def blank(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = values.copy()
        out[rng.random(values.size) < 0.75] = np.nan
        return out

    brk = fingerprint(checks(base, window(np.random.default_rng(2), ratio=blank))["quality:ratio"])
    assert brk is not None and brk.code == "fill_rate" and brk.text.startswith("fill rate 80% → 19%")


def test_new_category_is_named_when_looked_up(base: Baseline) -> None:
    def newcomer(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = values.copy()
        out[rng.random(values.size) < 0.3] = "x"
        return out

    check = checks(base, window(np.random.default_rng(4), store=newcomer))["input:store"]
    assert fingerprint(check, ("x", 0.3)) == fingerprint(check, ("x", 0.3))
    named = fingerprint(check, ("x", 0.3))
    assert named is not None and named.code == "new_category" and named.text == "new category 'x' at 30%"
    unnamed = fingerprint(check)
    assert unnamed is not None and unnamed.text.startswith("unseen categories at ")


def test_stuck_values(base: Baseline) -> None:
    got = checks(
        base,
        window(
            np.random.default_rng(5),
            duration=lambda v, rng: np.full(v.size, 1234.0),
            store=lambda v, rng: np.full(v.size, "b", dtype=object),
        ),
    )
    assert fingerprint(got["input:duration"]).text == "stuck at one value (1234)"
    assert fingerprint(got["input:store"]).text == "stuck at one value ('b')"


def test_out_of_the_training_range(base: Baseline) -> None:
    def sentinel(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = values.copy()
        out[rng.random(values.size) < 0.05] = -1.0  # "unknown" sent as -1 upstream
        return out

    beyond = sentinel
    check = checks(base, window(np.random.default_rng(6), duration=beyond))["input:duration"]
    brk = fingerprint(check, base=base.features["duration"])  # type: ignore[arg-type]
    assert brk is not None and brk.code == "out_of_range" and "out of the training range" in brk.text


def test_valid_shifts_are_not_breaks(base: Baseline) -> None:
    def more_c(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = values.copy()
        out[rng.random(values.size) < 0.3] = "c"
        return out

    got = checks(
        base,
        window(np.random.default_rng(7), duration=lambda v, rng: v * 1.4, store=more_c),
    )
    assert fingerprint(got["input:duration"]) is None  # 40% longer: a shift, not a unit
    assert fingerprint(got["input:store"]) is None
    same = checks(base, window(np.random.default_rng(8)))
    assert all(fingerprint(c) is None for c in same.values())


def test_the_binned_path_without_range_information_reads_the_mean_ratio(base: Baseline) -> None:
    got = checks(base, window(np.random.default_rng(9), duration=scaled(1.0, 3600.0)))["input:duration"]
    got.summary.pop("out_of_range_share")
    assert unit_factor(got) == 3600.0
    got.summary["cur_mean"] = got.summary["ref_mean"] * 500  # type: ignore[operator]
    assert unit_factor(got) is None  # 500× is no unit


def test_valid_values_a_little_past_the_training_extremes_are_a_shift() -> None:
    """A warmer month: 30% of the values past the training maximum, but not far past it, and no unit."""
    rng = np.random.default_rng(10)
    level = NumericBaseline.from_values(rng.uniform(0, 10, N_REF), keep_values=True)
    [got] = compare(Baseline(N_REF, {"level": level}), {"level": rng.uniform(3, 13, N_CUR)}, rows=N_CUR)
    got.summary.setdefault("ref_mean", 5.0)
    assert got.summary["out_of_range_share"] >= 0.2  # type: ignore[operator]
    assert fingerprint(got, base=level) is None
    declared = fingerprint(got, base=level, declared=(0.0, 12.0))
    assert declared is not None and declared.code == "out_of_range"
    assert declared.text.startswith("values outside the declared range [0, 12] (")


def test_an_interval_scale_is_never_a_unit_change() -> None:
    rng = np.random.default_rng(12)
    temperature = NumericBaseline.from_values(rng.normal(3, 6, N_REF), keep_values=True)
    warmer = rng.normal(3, 6, N_CUR) + 8.0
    [check] = compare(Baseline(N_REF, {"temperature": temperature}), {"temperature": warmer}, rows=N_CUR)
    check.summary.setdefault("ref_mean", 3.0)
    assert unit_factor(check, temperature) is None and fingerprint(check, base=temperature) is None


def test_a_rare_category_missing_for_a_while_is_not_stuck() -> None:
    rng = np.random.default_rng(13)
    flag = CategoricalBaseline.from_values(rng.random(N_REF) < 0.06, kind="boolean")
    [check, *_] = compare(Baseline(N_REF, {"flag": flag}), {"flag": np.zeros(N_CUR, dtype=bool)}, rows=N_CUR)
    assert fingerprint(check) is None  # all "false", which training saw in 94% of rows


def test_on_the_serve_time_counts_the_declared_range_is_checked_from_the_servers_count(base: Baseline) -> None:
    check = checks(base, window(np.random.default_rng(11)))["input:duration"]
    for key in ("cur_min", "cur_max", "out_of_range_share"):
        check.summary.pop(key, None)  # the binned paths see no single values
    declared = (0.0, 1e9)
    assert fingerprint(check, declared=declared) is None  # nothing counted
    check.summary["served_out_of_range"] = 0.3  # what increase() extrapolates from nothing
    assert fingerprint(check, declared=declared) is None
    check.summary["served_out_of_range"] = 12.4
    brk = fingerprint(check, declared=declared)
    assert brk is not None and brk.code == "out_of_range"
    assert brk.text == "values outside the declared range [0, 1e+09] (12 counted by the model server)"
    assert fingerprint(check) is None  # no declared range: "far from training" needs single values
