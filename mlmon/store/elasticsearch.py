"""Elasticsearch / OpenSearch inference store: daily indices, labels apart, statistics as aggregations.

Writes are idempotent bulk ``create`` operations with ``_id = prediction_id`` (409 → duplicate, 400 →
rejected with the reason, per-item 429 retried with backoff; anything else → ``StoreUnavailable``, and the
caller may replay the whole batch: what was stored comes back as duplicates). Reads push the work down:
``range`` buckets on the baseline edges (``from`` inclusive, ``to`` exclusive), ``filters`` per known
category, ``missing``, ``extended_stats`` and ``percentiles``, so a drift run reads features × bins numbers.
No data streams, ingest pipelines, scripts, rollover or runtime fields: plain daily indices work on
Elasticsearch 8/9, OpenSearch 2/3 and the osmem test server alike. Names and mappings: ``es_mapping``.
Elasticsearch is near-real-time: a search may miss writes of the last second (``refresh()`` forces it);
label look-ups refresh once before calling an id unknown.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from elasticsearch import BadRequestError, Elasticsearch
from elasticsearch.helpers import streaming_bulk

from mlmon.errors import InvalidInput, StoreUnavailable
from mlmon.spec import ModelSpec
from mlmon.store import es_mapping as names
from mlmon.store.base import (
    BinnedCounts,
    BinSpec,
    CategoryBins,
    InferenceEvent,
    LabelRecord,
    LabelWriteResult,
    NumericBins,
    NumericSummary,
    ReportKind,
    ReportRecord,
    RetentionResult,
    TimeWindow,
    WriteResult,
)
from mlmon.store.common import (
    RESPONSE_KINDS,
    check_kind,
    check_percentiles,
    checked_edges,
    day_of,
    frame_refs,
    ms_to_iso,
    normalize_event,
    resolve_field,
    to_jsonable,
    to_ms,
    typed_frame,
    window_ms,
)
from mlmon.store.es_client import (
    REQUEST_TIMEOUT_S,
    Credentials,
    build_client,
    describe,
    detect_distribution,
    translated,
)
from mlmon.store.es_mapping import index_template  # re-exported: compose/Kibana checks import it here
from mlmon.store.fields import LABEL, LABEL_OBSERVED_AT, WINDOW_COLUMNS

__all__ = ["ElasticsearchStore", "index_template"]

log = logging.getLogger(__name__)
PAGE = 5000  # hits per search_after page (below index.max_result_window)
ID_CHUNK = 1000
BULK_RETRIES = 3  # per-item 429 retries inside streaming_bulk


class ElasticsearchStore:
    """``InferenceStore`` on Elasticsearch 8/9 or OpenSearch 2/3; connects lazily, once."""

    backend = "elasticsearch"

    def __init__(
        self,
        url: str,
        spec: ModelSpec,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        verify_certs: bool = True,
        ca_certs: str | None = None,
        retention_days: int | None = None,
        bulk_chunk: int = 500,
        request_timeout: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.spec = spec
        self.creds = Credentials(api_key, username, password, verify_certs, ca_certs)
        self.retention_days = retention_days
        self.bulk_chunk = bulk_chunk
        self.request_timeout = request_timeout  # per request; aggregations over big windows may need more
        self.distribution: str | None = None
        self.server_version: str | None = None
        self.last_response_bytes = 0  # size of the last aggregation response (push-down benchmark)
        self._es: Elasticsearch | None = None
        self._schema_ready = False
        self._lock = threading.Lock()
        model = spec.model
        self.pattern = names.inference_pattern(model)
        self.labels_index = names.labels_index(model)

    # --- connection ---------------------------------------------------------------------------------

    @property
    def es(self) -> Elasticsearch:
        """The client; detects Elasticsearch vs OpenSearch on first use (StoreUnavailable if unreachable)."""
        if self._es is None:
            with self._lock:
                if self._es is None:
                    self.distribution, self.server_version = detect_distribution(self.url, self.creds)
                    self._es = build_client(self.url, self.creds, self.distribution, self.request_timeout)
        return self._es

    def ensure_schema(self) -> None:
        es = self.es
        with translated("creating the index templates", self.url):
            es.cluster.put_component_template(
                name=names.component_template_name(self.spec.model), **names.component_template(self.spec)
            )
            es.indices.put_index_template(name=names.index_template_name(self.spec.model), **index_template(self.spec))
            self._create_index(es, self.labels_index, names.labels_mappings())
            for kind in ("drift", "stats"):
                self._create_index(es, names.reports_index(self.spec.model, kind), names.reports_mappings())
            # Indices created before a spec change get the new features mapped too.
            features = names.inference_mappings(self.spec)["properties"]["features"]
            try:
                es.indices.put_mapping(
                    index=self.pattern,
                    properties={"features": features},
                    allow_no_indices=True,
                    ignore_unavailable=True,
                )
            except BadRequestError as exc:
                log.warning("existing inference indices keep their mapping: %s", describe(exc))
        self._schema_ready = True

    @staticmethod
    def _create_index(es: Elasticsearch, index: str, mappings: dict[str, Any]) -> None:
        if es.indices.exists(index=index):
            return
        try:
            es.indices.create(index=index, mappings=mappings, settings=names.index_settings())
        except BadRequestError as exc:
            if "already_exists" not in describe(exc):  # another process won the race
                raise

    def _ready(self) -> Elasticsearch:
        if not self._schema_ready:
            self.ensure_schema()
        return self.es

    def ping(self) -> bool:
        try:
            with translated("ping", self.url):
                return bool(self.es.ping())
        except StoreUnavailable:
            return False

    def close(self) -> None:
        if self._es is not None:
            self._es.close()
            self._es = None

    def refresh(self) -> None:
        """Make every write visible to searches (tests, benchmarks); not needed in normal operation."""
        with translated("refresh", self.url):
            self.es.indices.refresh(
                index=f"{self.pattern},{self.labels_index}", ignore_unavailable=True, allow_no_indices=True
            )

    # --- writes -------------------------------------------------------------------------------------

    def _bulk(self, es: Elasticsearch, actions: list[dict[str, Any]]) -> Iterator[tuple[bool, dict[str, Any]]]:
        for ok, item in streaming_bulk(
            es,
            actions,
            chunk_size=self.bulk_chunk,
            max_retries=BULK_RETRIES,
            initial_backoff=0.5,
            max_backoff=5,
            raise_on_error=False,
            raise_on_exception=False,
        ):
            yield ok, next(iter(item.values()))

    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        result = WriteResult()
        actions = []
        for event in events:
            norm = normalize_event(event, self.spec)
            if isinstance(norm, str):
                result.rejected.append((str(event.prediction_id), norm))
                continue
            index = names.daily_index(self.spec.model, day_of(to_ms(norm.timestamp)))
            actions.append({"_op_type": "create", "_index": index, "_id": norm.prediction_id, "_source": norm.to_doc()})
        if not actions:
            return result
        failed: list[str] = []
        with translated("writing inference events", self.url):
            for ok, info in self._bulk(self._ready(), actions):
                status = info.get("status")
                if ok:
                    result.stored += 1
                elif status == 409:
                    result.duplicates += 1
                elif isinstance(status, int) and 400 <= status < 500 and status != 429:
                    result.rejected.append((str(info.get("_id")), _reason(info)))
                else:
                    failed.append(_reason(info))
        if failed:
            raise StoreUnavailable(
                f"{len(failed)} of {len(actions)} inference events not stored on {self.url}: {failed[0]}",
                hint="replaying the batch is safe (stored events count as duplicates)",
            )
        return result

    def _known_ids(self, es: Elasticsearch, ids: list[str]) -> dict[str, int]:
        known: dict[str, int] = {}
        for i in range(0, len(ids), ID_CHUNK):
            chunk = ids[i : i + ID_CHUNK]
            resp = es.search(
                index=self.pattern,
                query={"ids": {"values": chunk}},
                size=len(chunk),
                source_includes=["@timestamp"],
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            for hit in resp["hits"]["hits"]:
                known[hit["_id"]] = to_ms(pd.Timestamp(hit["_source"]["@timestamp"]).to_pydatetime())
        return known

    def upsert_labels(self, labels: Sequence[LabelRecord]) -> LabelWriteResult:
        result = LabelWriteResult()
        if not labels:
            return result
        ids = list(dict.fromkeys(label.prediction_id for label in labels))
        with translated("writing labels", self.url):
            es = self._ready()
            known = self._known_ids(es, ids)
            if len(known) < len(ids):
                # Searches are near-real-time: refresh once before calling a fresh prediction unknown.
                es.indices.refresh(index=self.pattern, ignore_unavailable=True, allow_no_indices=True)
                known.update(self._known_ids(es, [i for i in ids if i not in known]))
            actions = []
            for label in labels:
                pid = label.prediction_id
                if pid not in known:
                    if pid not in result.unknown:
                        result.unknown.append(pid)
                    continue
                value = label.label if isinstance(label.label, str) else float(label.label)
                actions.append(
                    {
                        "_op_type": "index",
                        "_index": self.labels_index,
                        "_id": pid,
                        "_source": {
                            "prediction_id": pid,
                            "label": value,
                            "observed_at": ms_to_iso(to_ms(label.observed_at)),
                            "@timestamp": ms_to_iso(known[pid]),
                        },
                    }
                )
            failed = []
            for ok, info in self._bulk(es, actions):
                if not ok:
                    failed.append(_reason(info))
                    continue
                result.written += 1
                if info.get("result") == "updated":
                    result.replaced += 1
        if failed:
            raise StoreUnavailable(f"{len(failed)} labels not stored on {self.url}: {failed[0]}")
        return result

    def write_report(self, record: ReportRecord) -> None:
        doc = {
            "@timestamp": ms_to_iso(to_ms(record.timestamp)),
            "kind": record.kind,
            "model": self.spec.model,
            "model_version": record.model_version,
            "status": record.status,
            "summary": record.summary,
            "drift_detected": record.drift_detected,
            "findings": list(record.findings),
            "written_ns": time.time_ns(),
            "report": to_jsonable(record.body),
        }
        with translated("writing a report", self.url):
            self._ready().index(
                index=names.reports_index(self.spec.model, record.kind), document=doc, refresh="wait_for"
            )

    def apply_retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete daily indices (and labels) older than ``retention_days``: whole indices, no delete-by-query
        over events."""
        if not self.retention_days:
            return RetentionResult(None)
        today = (now or datetime.now(UTC)).astimezone(UTC).date()
        cutoff = today - timedelta(days=self.retention_days)
        prefix = names.inference_prefix(self.spec.model)
        doomed = []
        events = 0
        with translated("applying retention", self.url):
            es = self.es
            for index in es.indices.get(index=self.pattern, allow_no_indices=True, ignore_unavailable=True):
                try:
                    day = datetime.strptime(index.removeprefix(prefix), "%Y.%m.%d").date()
                except ValueError:
                    continue  # not one of ours (e.g. a model whose name extends this one)
                if day < cutoff:
                    doomed.append(index)
            for index in sorted(doomed):  # one at a time: a long list of names could overflow the URL
                events += int(es.count(index=index, ignore_unavailable=True)["count"])
                es.indices.delete(index=index, ignore_unavailable=True)
            cutoff_at = datetime.combine(cutoff, datetime.min.time(), UTC)
            es.delete_by_query(
                index=self.labels_index,
                conflicts="proceed",
                ignore_unavailable=True,
                query={"range": {"@timestamp": {"lt": to_ms(cutoff_at), "format": "epoch_millis"}}},
            )
        return RetentionResult(cutoff_at, events, tuple(sorted(doomed)))

    # --- reads --------------------------------------------------------------------------------------

    def _query(self, window: TimeWindow, model_version: str | None = None) -> dict[str, Any]:
        start, end = window_ms(window)
        filters: list[dict[str, Any]] = [{"range": {"@timestamp": {"gte": start, "lt": end, "format": "epoch_millis"}}}]
        if model_version is not None:
            filters.append({"term": {"model.version": model_version}})
        return {"bool": {"filter": filters}}

    def count(self, window: TimeWindow, model_version: str | None = None) -> int:
        with translated("count", self.url):
            resp = self.es.count(
                index=self.pattern,
                query=self._query(window, model_version),
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        return int(resp["count"])

    def _aggregate(
        self, window: TimeWindow, aggs: dict[str, Any], what: str, model_version: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        with translated(what, self.url):
            resp = self.es.search(
                index=self.pattern,
                size=0,
                track_total_hits=True,
                query=self._query(window, model_version),
                aggs=aggs or None,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        length = resp.meta.headers.get("content-length")
        self.last_response_bytes = int(length) if length else len(str(resp.body))
        return int(resp["hits"]["total"]["value"]), resp.body.get("aggregations") or {}

    def _scan(
        self, index: str, query: dict[str, Any], source: list[str], limit: int | None, what: str
    ) -> Iterator[dict[str, Any]]:
        """Hits in (@timestamp, prediction_id) order, paged with search_after (no PIT: osmem lacks ES's)."""
        after: list[Any] | None = None
        seen = 0
        pages = None
        with translated(what, self.url):
            while pages is None or pages > 0:
                size = PAGE if limit is None else min(PAGE, limit - seen)
                if size <= 0:
                    return
                resp = self.es.search(
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
                if pages is None:  # bound the loop by what existed at the start
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

    def read_window(
        self,
        window: TimeWindow,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        refs = frame_refs(self.spec, fields)
        source = [
            "prediction_id",
            "model.version",
            "prediction",
            "response.kind",
            "latency_ms",
            *(r.es_path for r in refs),
        ]
        rows = []
        query = self._query(window, model_version)
        for doc in self._scan(self.pattern, query, source, limit, "reading a window"):
            feats = doc.get("features") or {}
            pred = doc.get("prediction") or {}
            rows.append(
                [
                    doc["prediction_id"],
                    doc["_ms"],
                    (doc.get("model") or {}).get("version"),
                    pred.get("label"),
                    pred.get("score"),
                    (doc.get("response") or {}).get("kind"),
                    doc.get("latency_ms"),
                    *(feats.get(r.name) for r in refs),
                ]
            )
        return typed_frame(pd.DataFrame(rows, columns=[*WINDOW_COLUMNS, *(r.name for r in refs)]), refs)

    def labelled_predictions(
        self, window: TimeWindow, extra_fields: Sequence[str] = (), model_version: str | None = None
    ) -> pd.DataFrame:
        refs = frame_refs(self.spec, extra_fields)
        frame = self.read_window(window, fields=[r.name for r in refs], model_version=model_version)
        try:
            with translated("refreshing labels", self.url):
                self.es.indices.refresh(index=self.labels_index, ignore_unavailable=True)
        except StoreUnavailable as exc:  # e.g. no refresh privilege: labels of the last second may be missed
            log.debug("labels refresh skipped: %s", exc)
        labels = {
            doc["prediction_id"]: (doc.get("label"), to_ms(pd.Timestamp(doc["observed_at"]).to_pydatetime()))
            for doc in self._scan(
                self.labels_index,
                self._query(window),
                ["prediction_id", "label", "observed_at"],
                None,
                "reading labels",
            )
        }
        found = [labels.get(pid, (None, None)) for pid in frame["prediction_id"]]
        at = len(WINDOW_COLUMNS)
        frame.insert(at, LABEL, [f[0] for f in found])
        frame.insert(at + 1, LABEL_OBSERVED_AT, [f[1] for f in found])
        return typed_frame(frame.assign(timestamp=frame["timestamp"].astype("int64") // 10**6), refs)

    def binned_counts(
        self, window: TimeWindow, bins: Sequence[BinSpec], model_version: str | None = None
    ) -> dict[str, BinnedCounts]:
        aggs: dict[str, Any] = {}
        plans: list[tuple[str, int, list[str] | None]] = []
        for i, spec in enumerate(bins):
            ref = resolve_field(self.spec, spec.feature)
            aggs[f"m{i}"] = {"missing": {"field": ref.es_path}}
            if isinstance(spec, NumericBins):
                check_kind(ref, "numeric", "numeric bins")
                edges = checked_edges(spec.feature, spec.edges)
                if edges:  # from inclusive, to exclusive == np.searchsorted(edges, x, side="right")
                    bounds = [None, *edges, None]
                    ranges = [
                        {
                            "key": str(j),
                            **({"from": lo} if lo is not None else {}),
                            **({"to": hi} if hi is not None else {}),
                        }
                        for j, (lo, hi) in enumerate(itertools.pairwise(bounds))
                    ]
                    aggs[f"b{i}"] = {"range": {"field": ref.es_path, "ranges": ranges, "keyed": False}}
                plans.append(("numeric", len(edges) + 1, None))
            elif isinstance(spec, CategoryBins):
                check_kind(ref, "categorical", "category bins")
                cats = [str(c) for c in spec.categories]
                if cats:  # the rest (__other__) = total - missing - known, exact
                    aggs[f"b{i}"] = {
                        "filters": {"filters": {str(j): {"term": {ref.es_path: c}} for j, c in enumerate(cats)}}
                    }
                plans.append(("categorical", len(cats) + 1, cats))
            else:
                raise InvalidInput("bins", f"unknown bin spec {type(spec).__name__}")
        total, result = self._aggregate(window, aggs, "binned counts", model_version)
        out: dict[str, BinnedCounts] = {}
        for i, (spec, (kind, nbins, _cats)) in enumerate(zip(bins, plans, strict=True)):
            missing = int(result.get(f"m{i}", {}).get("doc_count", 0))
            counts = np.zeros(nbins, dtype=np.int64)
            buckets = result.get(f"b{i}", {}).get("buckets")
            if kind == "numeric":
                for bucket in buckets or []:
                    counts[int(bucket["key"])] = int(bucket["doc_count"])
                if buckets is None:
                    counts[0] = total - missing
            else:
                for key, bucket in (buckets or {}).items():
                    counts[int(key)] = int(bucket["doc_count"])
                counts[-1] = total - missing - int(counts[:-1].sum())
            out[spec.feature] = BinnedCounts(spec.feature, counts, missing, total)
        return out

    def numeric_summaries(
        self,
        window: TimeWindow,
        features: Sequence[str],
        percentiles: Sequence[float],
        model_version: str | None = None,
    ) -> dict[str, NumericSummary]:
        check_percentiles(percentiles)
        aggs: dict[str, Any] = {}
        for i, name in enumerate(features):
            ref = resolve_field(self.spec, name)
            check_kind(ref, "numeric", "a numeric summary")
            aggs[f"s{i}"] = {"extended_stats": {"field": ref.es_path}}
            if percentiles:
                aggs[f"p{i}"] = {
                    "percentiles": {"field": ref.es_path, "keyed": False, "percents": [float(p) for p in percentiles]}
                }
        total, result = self._aggregate(window, aggs, "numeric summaries", model_version)
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

    def response_counts(self, window: TimeWindow, model_version: str | None = None) -> dict[str, int]:
        _total, result = self._aggregate(
            window, {"kinds": {"terms": {"field": "response.kind", "size": 20}}}, "response counts", model_version
        )
        counts = dict.fromkeys(RESPONSE_KINDS, 0)
        counts.update({str(b["key"]): int(b["doc_count"]) for b in result.get("kinds", {}).get("buckets", [])})
        return counts

    def latest_reports(self, kind: ReportKind, limit: int = 10) -> list[dict[str, Any]]:
        with translated("reading reports", self.url):
            resp = self.es.search(
                index=names.reports_index(self.spec.model, kind),
                size=int(limit),
                query={"term": {"kind": kind}},
                sort=[{"@timestamp": "desc"}, {"written_ns": "desc"}],
                ignore_unavailable=True,
            )
        return [hit["_source"]["report"] for hit in resp["hits"]["hits"]]


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _reason(info: Mapping[str, Any]) -> str:
    err = info.get("error")
    if isinstance(err, dict):
        return f"{err.get('type')}: {err.get('reason')}"
    return f"status {info.get('status')}: {err}"
