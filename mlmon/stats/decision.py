"""The drift decision: effect size AND significance after Benjamini–Hochberg AND ``consecutive`` windows.

Pure: the streak history comes in and goes out as data (``{"input:age": 1, …}``, keys
``"<role>:<feature>"``, JSON-friendly), the caller keeps it between runs.

For each check (an engine result):

1. ``n_cur < min_rows`` or ``n_ref < min_rows``, or no test could run → ``insufficient_data``; the streak is
   left as it was (no evidence either way), and the check takes no part in the BH correction.
2. The significance p-values of all remaining checks of the run are adjusted together (BH). A check is
   significant when its adjusted p-value is below its ``alpha`` (the run's alpha, or a per-feature
   override of the significance test's threshold).
3. ``effect.effect_passed and significant`` → the streak grows by one, else it is reset to 0.
4. streak ≥ ``consecutive`` → ``drift``; a streak that has started but is shorter → ``pending``;
   otherwise ``no_drift``.
5. Gross changes decide in the first window: a check that passes (3.) with an effect of at least
   ``gross_factor`` × its threshold (default :data:`GROSS_FACTOR` = 5; thresholds are the 99th percentile of the
   no-change statistic or the test's practical floor, so 5× is never sampling noise), or whose key is in
   ``breaks`` (the caller's data-integrity breaks: a unit change, a fill-rate collapse, a new category, a stuck
   value, values out of the training range), is ``drift`` at once (``immediate``), whatever the streak.
   Persistence over ``consecutive`` windows stays for borderline effects.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from mlmon.errors import InsufficientData
from mlmon.stats.base import StatResult
from mlmon.stats.multiple import bh_adjust

Status = Literal["drift", "pending", "no_drift", "insufficient_data"]
GROSS_FACTOR = 5.0  # effect / threshold from which one window decides (see the module docstring, rule 5)


class Check(Protocol):
    """What the decision reads from an engine result (:class:`mlmon.stats.engine.FeatureComparison`)."""

    @property
    def feature(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def n_ref(self) -> int: ...

    @property
    def n_cur(self) -> int: ...

    @property
    def effect(self) -> StatResult | None: ...

    @property
    def significance(self) -> StatResult | None: ...

    @property
    def alpha(self) -> float: ...

    @property
    def key(self) -> str: ...


@dataclass(frozen=True)
class Decision:
    feature: str
    role: str
    status: Status
    effect_passed: bool
    significant: bool
    p_adjusted: float | None
    streak: int
    reason: str
    immediate: bool = False  # decided in this window by rule 5 (gross effect or data-integrity break)

    @property
    def key(self) -> str:
        return f"{self.role}:{self.feature}"

    @property
    def drifted(self) -> bool:
        return self.status == "drift"


def check_window_rows(rows: int, min_rows: int) -> None:
    """Raise :class:`InsufficientData` when a whole window is too small to judge."""
    if rows < min_rows:
        raise InsufficientData(f"window has {rows} rows, fewer than min_rows={min_rows}")


def _usable(check: Check, min_rows: int) -> str | None:
    if check.effect is None or check.significance is None:
        return "no values on one side"
    if check.n_cur < min_rows or check.n_ref < min_rows:
        return f"too few rows ({check.n_cur} now, {check.n_ref} baseline; min_rows={min_rows})"
    p = check.significance.p_value
    if p is None or math.isnan(p) or math.isnan(check.effect.statistic):
        return "the test could not run"
    return None


def decide(
    checks: Sequence[Check],
    *,
    consecutive: int = 1,
    min_rows: int = 1,
    history: Mapping[str, int] | None = None,
    gross_factor: float | None = GROSS_FACTOR,
    breaks: Collection[str] = (),
) -> tuple[list[Decision], dict[str, int]]:
    """Decisions in the order of ``checks`` and the new streak history. ``gross_factor=None`` turns rule 5's
    effect part off (persistence alone); ``breaks`` are keys (``"<role>:<feature>"``) that decide at once."""
    if consecutive < 1:
        raise ValueError("consecutive must be at least 1")
    if gross_factor is not None and gross_factor <= 1:
        raise ValueError("gross_factor must be above 1")
    history = dict(history or {})
    problems = [_usable(c, min_rows) for c in checks]
    tested = [i for i, problem in enumerate(problems) if problem is None]
    adjusted = bh_adjust([checks[i].significance.p_value for i in tested])  # type: ignore[union-attr]
    p_adj: dict[int, float] = {i: float(p) for i, p in zip(tested, adjusted, strict=True)}

    decisions: list[Decision] = []
    new_history = dict(history)
    for i, check in enumerate(checks):
        previous = int(history.get(check.key, 0))
        problem = problems[i]
        if problem is not None:
            decisions.append(
                Decision(check.feature, check.role, "insufficient_data", False, False, None, previous, problem)
            )
            continue
        assert check.effect is not None and check.significance is not None
        effect_passed = check.effect.effect_passed
        significant = p_adj[i] < check.alpha
        passed = effect_passed and significant
        streak = previous + 1 if passed else 0
        new_history[check.key] = streak
        why_now = _immediate(check.effect, check.key, gross_factor, breaks) if passed else None
        if streak >= consecutive or why_now:
            status: Status = "drift"
        elif streak > 0:
            status = "pending"
        else:
            status = "no_drift"
        reason = (
            f"{check.effect.test}={check.effect.statistic:.4g} "
            f"(threshold {check.effect.threshold:.4g}, {check.effect.threshold_source}), "
            f"{check.significance.test} p_adj={p_adj[i]:.3g} (alpha {check.alpha:g}), "
            f"{streak}/{consecutive} windows"
        )
        immediate = bool(why_now) and streak < consecutive
        if immediate:
            reason += f"; decided at once: {why_now}"
        decisions.append(
            Decision(check.feature, check.role, status, effect_passed, significant, p_adj[i], streak, reason, immediate)
        )
    return decisions, new_history


def _immediate(effect: StatResult, key: str, gross_factor: float | None, breaks: Collection[str]) -> str | None:
    """Why a passing check decides in this window (rule 5), or None."""
    if key in breaks:
        return "data-integrity break"
    if gross_factor is not None and effect.threshold > 0 and effect.statistic >= gross_factor * effect.threshold:
        return f"effect {effect.statistic / effect.threshold:.1f}× its threshold (≥ {gross_factor:g}×)"
    return None
