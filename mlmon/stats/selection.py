"""Which tests judge a feature: one effect size and one significance test.

Default rule. Effect thresholds are calibrated on the baseline at the window's sizes, never below the
practical floor shown (:mod:`mlmon.stats.calibration`); significance is the run's alpha after BH:

==========================  ==================================  =========================================
what                        effect size (drift needs ≥ thr.)    significance (p, BH-adjusted, < alpha)
==========================  ==================================  =========================================
numeric input               normalised Wasserstein, floor 0.05  exact KS when the raw baseline sample and
                            (raw values when exact KS runs,     the window both have ≤ ``exact_max_rows``
                            else binned, with per-bin sums)     values, else chi-square on baseline bins
numeric output (score)      PSI on the baseline's equal-mass    same as numeric input
                            bins, floor 0.05
categorical / boolean       Jensen–Shannon distance base 2,     chi-square on categories + ``__other__``
                            floor 0.05
missing share (quality)     Z-test: |Δ missing share|, floor    Z-test p-value
                            0.02
==========================  ==================================  =========================================

Why: with large windows every p-value is tiny, so the effect size carries the decision; with small windows
every distance is noisy, so the effect must clear its own no-change distribution (the calibrated threshold)
and the p-value guards it too. KS on raw values is the most powerful test for numbers, but it sorts the
window, so above the cap the binned chi-square (which stores and Elasticsearch compute as counts) takes over.
All significance tests compare two samples: the baseline is a sample too.

Override per feature with ``FeatureSpec.drift`` (``test`` and/or ``threshold``): a distance test replaces
the effect size, a p-value test replaces the significance test (its threshold is then that feature's
alpha), a threshold alone applies to the default effect size. An overridden threshold is used as given
(``threshold_source="override"``); a distance test without one is calibrated like the default. A raw-value
test asked for where only counts exist runs as its binned variant (``ks`` → ``ks_binned``, ``wasserstein`` →
``wasserstein_binned``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from mlmon.errors import ConfigError
from mlmon.stats.base import FeatureKind, StatTest
from mlmon.stats.registry import get_test

Role = Literal["output", "input", "quality"]


class Override(Protocol):
    """``mlmon.spec.DriftOverride`` or anything with the same two fields."""

    @property
    def test(self) -> str | None: ...

    @property
    def threshold(self) -> float | None: ...


@dataclass(frozen=True)
class ChosenTests:
    """The two tests of one feature. ``effect_threshold`` None: calibrated on the baseline."""

    effect: StatTest
    effect_threshold: float | None
    significance: StatTest
    significance_threshold: float  # alpha for this feature
    significance_overridden: bool = False


def _usable(test: StatTest, has_values: bool) -> StatTest:
    if test.needs == "values" and not has_values:
        if test.binned_variant is None:
            raise ConfigError(f"drift test {test.name!r} needs raw values, which this window does not have")
        return get_test(test.binned_variant)
    return test


def choose_tests(
    kind: FeatureKind,
    role: Role = "input",
    *,
    has_values: bool = False,
    alpha: float = 0.05,
    override: Override | None = None,
    feature: str = "feature",
) -> ChosenTests:
    """Tests for one feature. ``has_values``: raw values of both samples are at hand and within the exact
    cap (the caller decides, see :func:`use_exact`)."""
    if kind == "missing":
        effect = significance = get_test("ztest")
    elif kind == "numeric":
        significance = get_test("ks") if has_values else get_test("chi2")
        if role == "output":
            effect = get_test("psi")
        else:
            effect = get_test("wasserstein") if has_values else get_test("wasserstein_binned")
    else:
        effect, significance = get_test("jensenshannon"), get_test("chi2")
    effect_threshold: float | None = None
    significance_threshold, significance_overridden = alpha, False

    test_name = override.test if override is not None else None
    threshold = override.threshold if override is not None else None
    if test_name is not None:
        chosen = get_test(test_name)
        if kind not in chosen.feature_kinds:
            raise ConfigError(
                f"features[{feature}].drift.test: {chosen.name!r} does not apply to {kind} features",
                hint=f"it applies to: {', '.join(chosen.feature_kinds)}",
            )
        chosen = _usable(chosen, has_values)
        if chosen.kind == "distance":
            effect = chosen
            effect_threshold = threshold
        else:
            significance = chosen
            if threshold is not None:
                significance_threshold, significance_overridden = threshold, True
    elif threshold is not None:
        effect_threshold = threshold
    return ChosenTests(effect, effect_threshold, significance, significance_threshold, significance_overridden)


def use_exact(n_ref_values: int | None, n_cur_values: int | None, exact_max_rows: int) -> bool:
    """Exact tests on raw values run only when both raw samples exist and are within the cap."""
    return (
        n_ref_values is not None
        and n_cur_values is not None
        and 0 < n_ref_values <= exact_max_rows
        and 0 < n_cur_values <= exact_max_rows
    )
