"""Every drift test by name. Names are what ``FeatureSpec.drift.test`` and the ``method`` label use."""

from __future__ import annotations

from mlmon.errors import ConfigError
from mlmon.stats.base import StatTest
from mlmon.stats.chi2 import CHI2
from mlmon.stats.jensenshannon import JENSEN_SHANNON
from mlmon.stats.ks import KS, KS_BINNED
from mlmon.stats.l1 import L1
from mlmon.stats.psi import PSI
from mlmon.stats.wasserstein import WASSERSTEIN, WASSERSTEIN_BINNED
from mlmon.stats.ztest import ZTEST

REGISTRY: dict[str, StatTest] = {
    t.name: t for t in (KS, KS_BINNED, CHI2, PSI, JENSEN_SHANNON, WASSERSTEIN, WASSERSTEIN_BINNED, L1, ZTEST)
}


def get_test(name: str) -> StatTest:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown drift test {name!r}", hint=f"available: {', '.join(sorted(REGISTRY))}") from None
