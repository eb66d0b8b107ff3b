"""Queries and aggregations of the Elasticsearch store's window reads, and what their answers mean.

Pushed down: ``range`` buckets on the baseline edges (``from`` inclusive, ``to`` exclusive, i.e.
``np.searchsorted(edges, x, side="right")``), ``filters`` per known category (``__other__`` = total - missing -
known, exact), ``missing``, ``extended_stats`` and ``percentiles``; a drift run reads features × bins numbers.
Rows are paged with ``search_after`` on (``@timestamp``, ``prediction_id``), without a point in time (the
OpenSearch-API test server lacks Elasticsearch's).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from mlmon.errors import InvalidInput
from mlmon.spec import ModelSpec
from mlmon.store.base import BinnedCounts, BinSpec, CategoryBins, NumericBins, NumericSummary, TimeWindow
from mlmon.store.common import (
    FieldRef,
    check_kind,
    check_percentiles,
    checked_edges,
    resolve_field,
    to_ms,
    window_ms,
)
from mlmon.store.fields import DocField

PAGE = 5000  # hits per search_after page (below index.max_result_window)
# What a window read asks for besides the features, in the order of WINDOW_COLUMNS.
WINDOW_SOURCE = ["prediction_id", "model.version", "prediction", "response.kind", "latency_ms", "received_at"]


class ShardFailures(Exception):
    """A search answered 200 with failed shards: its numbers would silently leave an index out (an index
    whose mapping cannot serve the query, e.g. a keyword field mapped as text)."""


def checked(resp: Any) -> Any:
    """``resp`` unless some of its shards failed (then ShardFailures with the first reason)."""
    shards = resp.get("_shards") or {}
    if shards.get("failed"):
        first = (shards.get("failures") or [{}])[0]
        why = first.get("reason") or {}
        raise ShardFailures(
            f"{shards['failed']} shard(s) failed, e.g. on {first.get('index')}: "
            f"{why.get('type')}: {str(why.get('reason'))[:300]}"
        )
    return resp


def checked_search(es: Any) -> Callable[..., Any]:
    """``es.search`` that raises ShardFailures instead of returning partial results."""

    def search(**kwargs: Any) -> Any:
        return checked(es.search(**kwargs))

    return search


def window_query(window: TimeWindow, model_version: str | None = None) -> dict[str, Any]:
    start, end = window_ms(window)
    filters: list[dict[str, Any]] = [{"range": {"@timestamp": {"gte": start, "lt": end, "format": "epoch_millis"}}}]
    if model_version is not None:
        filters.append({"term": {DocField.MODEL_VERSION.value: model_version}})
    return {"bool": {"filter": filters}}


def window_row(doc: Mapping[str, Any], refs: Sequence[FieldRef]) -> list[Any]:
    """One hit as a row of WINDOW_COLUMNS + features (``_ms`` is the hit's sort value)."""
    feats = doc.get("features") or {}
    pred = doc.get("prediction") or {}
    return [
        doc["prediction_id"],
        doc["_ms"],
        (doc.get("model") or {}).get("version"),
        pred.get("label"),
        pred.get("score"),
        (doc.get("response") or {}).get("kind"),
        doc.get("latency_ms"),
        to_ms(datetime.fromisoformat(doc["received_at"])) if doc.get("received_at") else None,
        *(feats.get(r.name) for r in refs),
    ]


def scan(
    search: Callable[..., Any], index: str, query: dict[str, Any], source: list[str], limit: int | None
) -> Iterator[dict[str, Any]]:
    """Hits' sources in (@timestamp, prediction_id) order, paged with search_after; bounded by the number of
    hits that existed at the first page."""
    after: list[Any] | None = None
    seen = 0
    pages = None
    while pages is None or pages > 0:
        size = PAGE if limit is None else min(PAGE, limit - seen)
        if size <= 0:
            return
        resp = search(
            index=index,
            query=query,
            size=size,
            source_includes=source,
            search_after=after,
            sort=[{"@timestamp": "asc"}, {"prediction_id": "asc"}],
            track_total_hits=pages is None,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        if pages is None:
            pages = int(resp["hits"]["total"]["value"]) // PAGE + 2
        pages -= 1
        hits = resp["hits"]["hits"]
        for hit in hits:
            hit["_source"]["_ms"] = hit["sort"][0]
            yield hit["_source"]
        seen += len(hits)
        if len(hits) < size:
            return
        after = hits[-1]["sort"]


@dataclass(frozen=True)
class _BinPlan:
    numeric: bool
    size: int


def binned_aggs(spec: ModelSpec, bins: Sequence[BinSpec]) -> tuple[dict[str, Any], list[_BinPlan]]:
    aggs: dict[str, Any] = {}
    plans: list[_BinPlan] = []
    for i, bin_spec in enumerate(bins):
        ref = resolve_field(spec, bin_spec.feature)
        aggs[f"m{i}"] = {"missing": {"field": ref.es_path}}
        if isinstance(bin_spec, NumericBins):
            check_kind(ref, "numeric", "numeric bins")
            edges = checked_edges(bin_spec.feature, bin_spec.edges)
            if edges:
                bounds = [None, *edges, None]
                ranges = [
                    {
                        "key": str(j),
                        **({"from": lo} if lo is not None else {}),
                        **({"to": hi} if hi is not None else {}),
                    }
                    for j, (lo, hi) in enumerate(itertools.pairwise(bounds))
                ]
                aggs[f"b{i}"] = {
                    "range": {"field": ref.es_path, "ranges": ranges, "keyed": False},
                    "aggs": {"sum": {"sum": {"field": ref.es_path}}},  # the values of each bin, summed
                }
            else:  # one bin: the sum of every value
                aggs[f"t{i}"] = {"sum": {"field": ref.es_path}}
            plans.append(_BinPlan(True, len(edges) + 1))
        elif isinstance(bin_spec, CategoryBins):
            check_kind(ref, "categorical", "category bins")
            cats = [str(c) for c in bin_spec.categories]
            if cats:
                terms = {str(j): {"term": {ref.es_path: c}} for j, c in enumerate(cats)}
                aggs[f"b{i}"] = {"filters": {"filters": terms}}
            plans.append(_BinPlan(False, len(cats) + 1))
        else:
            raise InvalidInput("bins", f"unknown bin spec {type(bin_spec).__name__}")
    return aggs, plans


def binned_result(
    bins: Sequence[BinSpec], plans: Sequence[_BinPlan], total: int, result: Mapping[str, Any]
) -> dict[str, BinnedCounts]:
    out: dict[str, BinnedCounts] = {}
    for i, (bin_spec, plan) in enumerate(zip(bins, plans, strict=True)):
        missing = int(result.get(f"m{i}", {}).get("doc_count", 0))
        counts = np.zeros(plan.size, dtype=np.int64)
        sums = None
        buckets = result.get(f"b{i}", {}).get("buckets")
        if plan.numeric:
            sums = np.zeros(plan.size, dtype=np.float64)
            for bucket in buckets or []:
                j = int(bucket["key"])
                counts[j] = int(bucket["doc_count"])
                sums[j] = _bin_sum(bucket.get("sum"), counts[j])
            if buckets is None:  # no edges: one bin
                counts[0] = total - missing
                sums[0] = _bin_sum(result.get(f"t{i}"), counts[0])
        else:
            for key, bucket in (buckets or {}).items():
                counts[int(key)] = int(bucket["doc_count"])
            counts[-1] = total - missing - int(counts[:-1].sum())
        out[bin_spec.feature] = BinnedCounts(bin_spec.feature, counts, missing, total, sums)
    return out


def summary_aggs(spec: ModelSpec, features: Sequence[str], percentiles: Sequence[float]) -> dict[str, Any]:
    check_percentiles(percentiles)
    aggs: dict[str, Any] = {}
    for i, name in enumerate(features):
        ref = resolve_field(spec, name)
        check_kind(ref, "numeric", "a numeric summary")
        aggs[f"s{i}"] = {"extended_stats": {"field": ref.es_path}}
        if percentiles:
            percents = [float(p) for p in percentiles]
            aggs[f"p{i}"] = {"percentiles": {"field": ref.es_path, "keyed": False, "percents": percents}}
    return aggs


def summary_result(
    features: Sequence[str], percentiles: Sequence[float], total: int, result: Mapping[str, Any]
) -> dict[str, NumericSummary]:
    out: dict[str, NumericSummary] = {}
    for i, name in enumerate(features):
        stats = result.get(f"s{i}", {})
        n = int(stats.get("count") or 0)
        values = {float(v["key"]): _num(v.get("value")) for v in result.get(f"p{i}", {}).get("values", [])}
        std = stats.get("std_deviation_population", stats.get("std_deviation"))
        out[name] = NumericSummary(
            name,
            n,
            total - n,
            _num(stats.get("avg")) if n else None,
            _num(std) if n else None,
            _num(stats.get("min")) if n else None,
            _num(stats.get("max")) if n else None,
            {float(p): (values.get(float(p)) if n else None) for p in percentiles},
        )
    return out


def _bin_sum(agg: Mapping[str, Any] | None, count: int) -> float:
    """A ``sum`` aggregation's value; an empty bin sums to 0 (some servers answer null)."""
    value = _num((agg or {}).get("value")) if count else None
    return 0.0 if value is None else value


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
