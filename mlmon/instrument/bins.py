"""Serve-time binned counts of a numeric input on the baseline's fixed edges (``mlmon_feature_bin_total``).

Each feature has its own edges, so the counts are a counter with a ``bin`` label (the bin's upper edge, spelt
like a histogram's ``le``, ``+Inf`` last), not a histogram family (one bucket set per family). Bins follow the
store's convention (``mlmon.store.base``): bin ``i`` holds ``e_i <= x < e_{i+1}`` — a value on an edge counts in
the bin above it, as SQL ``x >= e_i`` and ``np.searchsorted(edges, x, side="right")`` put it — so the drift
detector gets the same counts from Prometheus as from the store.

Next to the counts, ``mlmon_feature_bin_offset_total`` keeps each bin's sum of values as a sum of non-negative
offsets from an anchor: the bin's lower edge, or for the first (open) bin its upper edge (``edge - value``), so
counters never go down and the reader rebuilds ``sum = count × lower + offset`` (first bin: ``count × upper -
offset``). ``±inf`` values count in their end bin at the edge (offset 0): a counter cannot hold an infinity.

Per request, one pass: a few values are placed with ``bisect``; more with one ``searchsorted`` and two
``bincount`` calls; then one increment per bin that changed (and one of its offset).
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import numpy as np
from prometheus_client.metrics import Counter
from prometheus_client.utils import floatToGoString

# up to this many values a request's values are placed one by one (numpy's per-call overhead is larger)
_SMALL_BATCH = 16


def bin_labels(edges: Sequence[float]) -> list[str]:
    """The ``bin`` label of each bin: its upper edge as Prometheus spells ``le``, ``+Inf`` for the last."""
    return [_le(float(e)) for e in [*edges, math.inf]]


def _le(value: float) -> str:
    """Prometheus's spelling of a bucket bound (``0.5``, ``1e+06``, ``+Inf``)."""
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]


def usable_edges(edges: Sequence[float] | None) -> list[float] | None:
    """The baseline's interior edges when they can bin values (finite, strictly increasing, at least one)."""
    if not edges:
        return None
    clean = [float(e) for e in edges]
    if not all(math.isfinite(e) for e in clean) or any(b <= a for a, b in itertools.pairwise(clean)):
        return None
    return clean


class FeatureBins:
    """The bin and offset counters of one numeric feature of one model version."""

    __slots__ = ("_anchor", "_anchors", "_counts", "_edges", "_offsets")

    def __init__(self, edges: Sequence[float], counts: Sequence[Counter], offsets: Sequence[Counter]) -> None:
        self._edges = [float(e) for e in edges]
        if len(counts) != len(self._edges) + 1 or len(offsets) != len(counts):
            raise ValueError("one count and one offset counter per bin (len(edges) + 1)")
        # the anchor of bin i: its lower edge; the first bin's is its upper edge (offset = |value - anchor|)
        self._anchor = [self._edges[0], *self._edges]
        self._anchors = np.asarray(self._anchor)
        self._counts = list(counts)
        self._offsets = list(offsets)

    def add(self, values: Sequence[Any]) -> None:
        """Count the values present in one request (no None/NaN: the missing counter has those)."""
        if len(values) <= _SMALL_BATCH:
            self._add_few(values)
            return
        x = np.asarray(values, dtype=float)
        index = np.searchsorted(self._edges, x, side="right")
        offset = np.abs(x - self._anchors[index])
        offset[~np.isfinite(offset)] = 0.0
        k = len(self._counts)
        counts = np.bincount(index, minlength=k)
        sums = np.bincount(index, weights=offset, minlength=k)
        for i in np.flatnonzero(counts).tolist():
            self._counts[i].inc(int(counts[i]))
            if sums[i] > 0:
                self._offsets[i].inc(float(sums[i]))

    def _add_few(self, values: Sequence[Any]) -> None:
        edges, anchor = self._edges, self._anchor
        if len(values) == 1:
            value = float(values[0])
            i = bisect_right(edges, value)
            self._counts[i].inc()
            offset = abs(value - anchor[i])
            if 0 < offset < math.inf:
                self._offsets[i].inc(offset)
            return
        tally: dict[int, list[float]] = {}
        for raw in values:
            value = float(raw)
            i = bisect_right(edges, value)
            offset = abs(value - anchor[i])
            entry = tally.get(i)
            if entry is None:
                tally[i] = entry = [0.0, 0.0]
            entry[0] += 1
            if offset < math.inf:
                entry[1] += offset
        for i, (count, total) in tally.items():
            self._counts[i].inc(count)
            if total > 0:
                self._offsets[i].inc(total)
