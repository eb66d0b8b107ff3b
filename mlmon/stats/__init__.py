"""Drift statistics: pure numpy/scipy, no I/O.

Modules: :mod:`~mlmon.stats.base` (types), one module per test (``ks``, ``chi2``, ``psi``,
``jensenshannon``, ``wasserstein``, ``l1``, ``ztest``), :mod:`~mlmon.stats.registry`,
:mod:`~mlmon.stats.binning`, :mod:`~mlmon.stats.selection`, :mod:`~mlmon.stats.multiple`,
:mod:`~mlmon.stats.power`, :mod:`~mlmon.stats.baseline`, :mod:`~mlmon.stats.engine`,
:mod:`~mlmon.stats.decision`.
"""

from __future__ import annotations

from mlmon.stats.base import StatTest, TestInput, TestResult
from mlmon.stats.registry import REGISTRY, get_test

__all__ = ["REGISTRY", "StatTest", "TestInput", "TestResult", "get_test"]
