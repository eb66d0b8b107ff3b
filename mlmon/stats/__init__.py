"""Drift statistics: pure numpy/scipy/pandas, no I/O.

Modules (import them directly; this package file imports nothing, so no module can reach back through it):
:mod:`~mlmon.stats.base` (types), one module per test (``ks``, ``chi2``, ``psi``, ``jensenshannon``,
``wasserstein``, ``l1``, ``ztest``), :mod:`~mlmon.stats.registry`, :mod:`~mlmon.stats.exact` (sorted-sample
kernels), :mod:`~mlmon.stats.histogram` (binned Wasserstein), :mod:`~mlmon.stats.binning`,
:mod:`~mlmon.stats.selection`, :mod:`~mlmon.stats.calibration` (thresholds calibrated on the baseline),
:mod:`~mlmon.stats.multiple`, :mod:`~mlmon.stats.power`, :mod:`~mlmon.stats.baseline`, :mod:`~mlmon.stats.window`
(what a window holds per feature), :mod:`~mlmon.stats.engine`, :mod:`~mlmon.stats.decision`.
"""
