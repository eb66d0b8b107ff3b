"""Effect thresholds calibrated on the baseline itself, at the window's sample sizes.

The rule: a distance test's default threshold for a feature is the **99th percentile of the statistic between two
samples drawn from that feature's baseline at the window's sizes** ``(n_ref, n_cur)`` — what the test reads when
nothing changed — never below the test's practical floor (``StatTest.default_threshold``: 0.05 for Wasserstein,
Jensen–Shannon and PSI, 0.1 for L1, 0.02 for the Z-test) and never below the sampling-noise floor (the
statistic's expected value with no change at those sizes, from its asymptotic law). A spec override wins. So a
small window is judged against its own noise (PSI between two unchanged samples of 150 is ≈ 0.25 with 20 bins),
and a large one against the practical floor.

How the no-change samples are drawn (:class:`NullCalibration`):

* counts tests (PSI, JS, L1, Z-test, binned Wasserstein): 1,000 pairs of multinomial samples of sizes
  ``(n_ref, n_cur)`` from the baseline's bin shares — exactly the counts a bootstrap of the reference would give.
  With per-bin sums, each bin's sum is drawn around ``count × the bin's reference mean`` with the within-bin
  spread of the histogram model (:func:`mlmon.stats.histogram.model_std`).
* raw-value tests (Wasserstein on raw values, the exact path): resampling the raw reference sample. Up to an
  effective size ``2/(1/n_ref + 1/n_cur)`` of 2,048, 1,000 pairs of smoothed bootstrap samples of that size
  (at most 512, the quantile then scaled by ``sqrt(1/n + 1/m)``; same asymptotic null as the actual pair). Each
  resampled value is jittered by a Gaussian kernel with Silverman's bandwidth ``1.06·std·N^(-1/5)``, because a
  plain bootstrap of a small reference — ties, no value beyond its extremes — reads too little noise (1.5–1.7 %
  instead of 1 % exceedance for a normal feature at 150 rows a side; 0.9–1.0 % smoothed). Above 2,048, the
  bootstrap's large-sample limit ``sqrt(1/n + 1/m)·∫|B(F(x))| dx`` over 1,000 Brownian bridges ``B`` shared by
  every feature, on a grid that refines into both tails down to 2⁻²⁰ (one matrix product for all features,
  :meth:`NullCalibration.prime`); it lacks the small-sample skew (1.0–1.4 % exceedance at 1,000 rows a side,
  where the bootstrap reads 0.7–0.9 %), which fades with size.

Caching: sizes are bucketed by powers of ``2^(1/4)`` (buckets ≈ ±9 % wide). The null is drawn once per
``(feature, test, bucket of n_ref, bucket of n_cur)`` at the bucket's centre sizes, then scaled to the actual
sizes by ``((1/n + 1/m)/(1/n_b + 1/m_b))^s`` (``s`` = ½ for distances, 1 for PSI), so repeated runs draw nothing.
Draws are seeded from the feature, test and bucket, so one baseline gives the same thresholds in every process.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from mlmon.stats.base import Draws, NullModel, SampleInput, StatsError, StatTest, Threshold
from mlmon.stats.exact import bridge_grid, sort_finite_first
from mlmon.stats.histogram import model_std

NULL_QUANTILE = 0.99
COUNT_REPLICATES = 1000
BOOTSTRAP_REPLICATES = 1000
BRIDGE_REPLICATES = 1000
BOOTSTRAP_MAX_SIZE = 2048  # effective size up to which raw-value nulls are bootstrapped, not taken in the limit
BOOTSTRAP_SIZE = 512  # bootstrap samples are at most this large; the quantile is scaled to the effective size
STEPS_PER_DOUBLING = 4  # size buckets: powers of 2^(1/4)

CacheKey = tuple[str, str, str, int, int]
Request = tuple[str, StatTest, SampleInput, float, float]  # feature, test, data, n_ref, n_cur


def size_bucket(n: float) -> int:
    """The bucket of a sample size: ``round(4·log2 n)``."""
    return round(STEPS_PER_DOUBLING * math.log2(max(n, 1.0)))


def bucket_size(bucket: int) -> int:
    """The centre size of a bucket, ``round(2^(bucket/4))``."""
    return max(1, round(math.pow(2.0, bucket / STEPS_PER_DOUBLING)))


def _h(n: float, m: float) -> float:
    return 1.0 / n + 1.0 / m


def _centre(key: CacheKey) -> tuple[int, int]:
    return bucket_size(key[3]), bucket_size(key[4])


def _bridge_weights(test: StatTest, grid: np.ndarray, data: SampleInput) -> np.ndarray:
    if test.null is None or test.null.bridge is None:
        raise StatsError(f"{test.name}: no bridge limit")
    return np.asarray(test.null.bridge(grid, data), dtype=float)


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


@dataclass
class NullCalibration:
    """Calibrated thresholds of one baseline, cached by feature, test and size bucket (see the module docstring)."""

    quantile: float = NULL_QUANTILE
    draws: int = 0  # null simulations run so far (a cache miss each)
    _cache: dict[CacheKey, float] = field(default_factory=dict, repr=False)
    _bootstrap: OrderedDict[int, tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = field(
        default_factory=OrderedDict, repr=False
    )

    def threshold(self, feature: str, test: StatTest, data: SampleInput, n_ref: float, n_cur: float) -> Threshold:
        """The default threshold of ``test`` for ``feature`` at these sizes: calibrated, or a floor."""
        if test.kind != "distance":
            raise StatsError(f"{test.name}: only distance tests have calibrated thresholds")
        floor = test.default_threshold
        model = test.null
        if model is None or n_ref <= 0 or n_cur <= 0:
            return Threshold(floor, "floor")
        noise = self.noise_floor(feature, test, data, n_ref, n_cur)
        null = self.null_quantile(feature, test, data, n_ref, n_cur)
        lower = max(floor, noise if noise is not None and math.isfinite(noise) else 0.0)
        if null is not None and math.isfinite(null) and null > lower:
            return Threshold(null, "calibrated", null, noise)
        return Threshold(lower, "floor", null, noise)

    def prime(self, requests: Sequence[Request]) -> None:
        """Calibrate many ``(feature, test, data, n_ref, n_cur)`` at once: the large-sample raw-value nulls of every
        feature come from one product of the shared bridges with the features' weights."""
        bridged: list[tuple[CacheKey, StatTest, SampleInput]] = []
        for feature, test, data, n_ref, n_cur in requests:
            if test.null is None or n_ref <= 0 or n_cur <= 0:
                continue
            key = self._key(feature, test, data, n_ref, n_cur)
            if key not in self._cache and self._bridged(test, key):
                bridged.append((key, test, data))
            else:
                self.threshold(feature, test, data, n_ref, n_cur)
        if not bridged:
            return
        abs_bridge, grid = brownian_bridges()
        weights = np.stack([_bridge_weights(test, grid, data) for _, test, data in bridged], axis=1)
        draws = np.einsum("rg,gf->rf", abs_bridge, weights.astype(abs_bridge.dtype))  # no BLAS thread pool
        for column, (key, _, _) in enumerate(bridged):
            self._cache[key] = self._quantile(draws[:, column]) * math.sqrt(_h(*_centre(key)))
            self.draws += 1

    def noise_floor(self, feature: str, test: StatTest, data: SampleInput, n_ref: float, n_cur: float) -> float | None:
        """The test's sampling-noise floor at these sizes. Its coefficient of ``(1/n + 1/m)^scale`` is computed once
        per feature: the test's own formula, or for a raw-value test ``sqrt(2/π)·Σ sqrt(u(1-u))·w(u)`` over its
        bridge weights (the mean of the large-sample limit)."""
        model = test.null
        if model is None:
            return None
        key = (feature, test.name, "noise", 0, 0)
        if key not in self._cache:
            if model.noise_floor is not None:
                value = model.noise_floor(data, n_ref, n_cur)
                coefficient = math.nan if value is None else value / _h(n_ref, n_cur) ** model.scale
            elif model.bridge is not None and test.needs == "values":
                grid = bridge_grid()
                expected = math.sqrt(2.0 / math.pi) * np.sqrt(grid * (1.0 - grid))
                coefficient = float(np.sum(expected * _bridge_weights(test, grid, data)))
            else:
                coefficient = math.nan
            self._cache[key] = coefficient
        coefficient = self._cache[key]
        return None if math.isnan(coefficient) else float(coefficient * _h(n_ref, n_cur) ** model.scale)

    def null_quantile(
        self, feature: str, test: StatTest, data: SampleInput, n_ref: float, n_cur: float
    ) -> float | None:
        """The calibrated quantile of ``test``'s statistic with no change, at sizes ``(n_ref, n_cur)``."""
        model = test.null
        if model is None:
            return None
        key = self._key(feature, test, data, n_ref, n_cur)
        if key not in self._cache:
            self._cache[key] = self._simulate(key, model, test, data)
            self.draws += 1
        return float(self._cache[key] * (_h(n_ref, n_cur) / _h(*_centre(key))) ** model.scale)

    @staticmethod
    def _key(feature: str, test: StatTest, data: SampleInput, n_ref: float, n_cur: float) -> CacheKey:
        model = test.null
        with_sums = model is not None and model.uses_sums and data.ref_sums is not None and data.cur_sums is not None
        return (feature, test.name, "sums" if with_sums else "", size_bucket(n_ref), size_bucket(n_cur))

    @staticmethod
    def _bridged(test: StatTest, key: CacheKey) -> bool:
        """A raw-value null taken in the large-sample limit (else bootstrapped, or drawn from counts)."""
        model = test.null
        if test.needs != "values" or model is None or model.bridge is None:
            return False
        return model.sorted_samples is None or 2.0 / _h(*_centre(key)) > BOOTSTRAP_MAX_SIZE

    def _simulate(self, key: CacheKey, model: NullModel, test: StatTest, data: SampleInput) -> float:
        n_b, m_b = _centre(key)
        rng = np.random.default_rng(_seed(*key))
        if test.needs == "counts":
            if model.counts is None:
                raise StatsError(f"{test.name}: a counts test needs NullModel.counts")
            return self._quantile(model.counts(*_multinomial_draws(rng, data, n_b, m_b, key[2] == "sums"), data))
        if self._bridged(test, key):
            abs_bridge, grid = brownian_bridges()
            weights = _bridge_weights(test, grid, data).astype(abs_bridge.dtype)
            return self._quantile(np.einsum("rg,g->r", abs_bridge, weights)) * math.sqrt(_h(n_b, m_b))
        if model.sorted_samples is None:
            raise StatsError(f"{test.name}: a raw-value test needs NullModel.bridge or sorted_samples")
        reference = _finite_reference(data)
        if reference.size == 0:
            return 0.0
        size = min(round(2.0 / _h(n_b, m_b)), BOOTSTRAP_SIZE)
        uniforms, normals = self._bootstrap_draws(size)
        bandwidth = 1.06 * float(reference.std()) * reference.size**-0.2  # Silverman's rule
        ref, cur = (
            np.sort(reference[(u * reference.size).astype(np.int64)] + bandwidth * z, axis=1)
            for u, z in zip(uniforms, normals, strict=True)
        )
        scaled = math.pow(_h(n_b, m_b) * size / 2.0, model.scale)  # from two samples of `size` to the bucket's sizes
        return self._quantile(model.sorted_samples(ref, cur, data)) * scaled

    def _quantile(self, values: np.ndarray) -> float:
        return upper_quantile(values, self.quantile)

    def _bootstrap_draws(self, size: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Uniforms (which reference value) and standard normals (the kernel's jitter) for both sides of
        ``BOOTSTRAP_REPLICATES`` smoothed bootstrap pairs of ``size`` values; shared by every feature, the last two
        sizes kept."""
        if size not in self._bootstrap:
            rng = np.random.default_rng(_seed("bootstrap", size))
            shape = (BOOTSTRAP_REPLICATES, size)
            self._bootstrap[size] = (
                (rng.random(shape), rng.random(shape)),
                (rng.standard_normal(shape), rng.standard_normal(shape)),
            )
            while len(self._bootstrap) > 2:
                self._bootstrap.popitem(last=False)
        return self._bootstrap[size]


@cache
def brownian_bridges() -> tuple[np.ndarray, np.ndarray]:
    """``|B(u)|`` of ``BRIDGE_REPLICATES`` Brownian bridges on :func:`bridge_grid` (fixed seed, drawn on first use
    and shared by every baseline: 1.1 MB of float32), and the grid."""
    grid = bridge_grid()
    rng = np.random.default_rng(_seed("bridge"))
    steps = np.diff(np.concatenate([[0.0], grid, [1.0]]))
    walk = np.cumsum(rng.standard_normal((BRIDGE_REPLICATES, steps.size)) * np.sqrt(steps), axis=1)
    bridge = walk[:, :-1] - grid * walk[:, -1:]
    absolute = np.abs(bridge).astype(np.float32)  # half the memory traffic per feature; ample precision
    absolute.flags.writeable = False
    grid.flags.writeable = False
    return absolute, grid


def upper_quantile(values: np.ndarray, quantile: float) -> float:
    """The smallest drawn value that at most ``(1 - quantile)`` of the draws reach: the draws' own exceedance
    share at the threshold stays within ``1 - quantile`` even where the statistic is discrete (a boolean's share
    moves in steps of 1/n), where an interpolated percentile would sit on an atom holding several percent."""
    ordered = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    if ordered.size == 0:
        return math.nan
    allowed = math.floor((1.0 - quantile) * ordered.size + 1e-9)
    index = max(ordered.size - allowed, 0)
    if index >= ordered.size:
        return float(ordered[-1])
    value = ordered[index]
    if index > 0 and ordered[index - 1] == value:  # a tie across the boundary: the next distinct value up
        above = int(np.searchsorted(ordered, value, side="right"))
        value = ordered[above] if above < ordered.size else value
    return float(value)


def _finite_reference(data: SampleInput) -> np.ndarray:
    if data.presorted is not None:
        reference = data.presorted.ref
    elif data.ref_values is not None:
        reference = sort_finite_first(data.ref_values)
    else:
        raise StatsError("a raw-value test's calibration needs the reference sample")
    if reference.size == 0 or (math.isfinite(reference[0]) and math.isfinite(reference[-1])):
        return reference
    finite = reference[np.isfinite(reference)]
    return np.asarray(np.clip(reference, finite[0], finite[-1])) if finite.size else finite


def _multinomial_draws(
    rng: np.random.Generator, data: SampleInput, n: int, m: int, with_sums: bool
) -> tuple[Draws, Draws]:
    if data.ref_counts is None:
        raise StatsError("a counts test's calibration needs the baseline counts")
    counts = np.asarray(data.ref_counts, dtype=float)
    total = counts.sum()
    if total <= 0:
        raise StatsError("the baseline counts are empty")
    p = counts / total
    if p.size == 2:  # a share: two binomials are the same draw, without the multinomial's per-row loop
        drawn = [rng.binomial(size, p[1], size=COUNT_REPLICATES).astype(float) for size in (n, m)]
        ref, cur = (np.column_stack([size - hits, hits]) for size, hits in zip((n, m), drawn, strict=True))
    else:
        ref = rng.multinomial(n, p, size=COUNT_REPLICATES).astype(float)
        cur = rng.multinomial(m, p, size=COUNT_REPLICATES).astype(float)
    if not with_sums or data.ref_sums is None or data.edges is None:
        return Draws(ref), Draws(cur)
    sums = np.asarray(data.ref_sums, dtype=float)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    spread = model_std(counts, sums, np.asarray(data.edges, dtype=float))

    def with_noise(drawn: np.ndarray) -> Draws:
        noise = rng.standard_normal(drawn.shape) * np.sqrt(drawn) * spread
        return Draws(drawn, drawn * means + noise)

    return with_noise(ref), with_noise(cur)
