"""Elasticsearch / OpenSearch inference store: daily indices, labels apart, statistics as aggregations.

Writes are idempotent bulk ``create`` operations with ``_id = prediction_id`` (409 → duplicate, 400 →
rejected with the reason, per-item 429 retried with backoff; anything else → ``StoreUnavailable``, and the
caller may replay the whole batch: what was stored comes back as duplicates). Reads push the work down
(``es_reads``). No data streams, ingest pipelines, scripts, rollover or runtime fields: plain daily indices
work on Elasticsearch 8/9, OpenSearch 2/3 and the osmem test server alike. Names and mappings:
``es_mapping``; putting them on the cluster: ``es_schema``; the shared incident state: ``es_incidents``.
Elasticsearch is near-real-time: a search may miss writes of the last second (``refresh()`` forces it);
label look-ups refresh once before calling an id unknown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from mlmon.errors import StoreUnavailable
from mlmon.spec import ModelSpec
from mlmon.store import es_incidents, es_mapping, es_reads, es_writes
from mlmon.store.base import (
    BinnedCounts,
    BinSpec,
    InferenceEvent,
    LabelRecord,
    LabelWriteResult,
    NumericSummary,
    ReportKind,
    ReportRecord,
    RetentionResult,
    StateRecord,
    TimeWindow,
    WriteResult,
)
from mlmon.store.common import (
    FieldRef,
    accept_events,
    check_labels,
    frame_refs,
    plan_labels,
    response_counts,
    retention_cutoff,
    to_ms,
    typed_frame,
)
from mlmon.store.es_client import (
    REQUEST_TIMEOUT_S,
    Credentials,
    build_client,
    detect_distribution,
    redact,
    translated,
)
from mlmon.store.es_schema import SchemaGuard
from mlmon.store.fields import LABEL_COLUMNS, WINDOW_COLUMNS, DocField

log = logging.getLogger(__name__)
_T = TypeVar("_T")


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
        self._url = url
        self._spec = spec
        self._creds = Credentials(api_key, username, password, verify_certs, ca_certs)
        self._retention_days = retention_days
        self._bulk_chunk = bulk_chunk
        self._request_timeout = request_timeout  # per request; aggregations over big windows may need more
        self._distribution: str | None = None
        self._server_version: str | None = None
        self._client: Elasticsearch | None = None
        self._schema_ready = False
        self._lock = threading.Lock()
        self._pattern = es_mapping.inference_pattern(spec.model)
        self._labels_index = es_mapping.labels_index(spec.model)
        self._guard = SchemaGuard(spec)

    @property
    def distribution(self) -> str | None:
        """``"elasticsearch"`` or ``"opensearch"`` once connected (None before)."""
        return self._distribution

    @property
    def server_version(self) -> str | None:
        return self._server_version

    # --- connection ---------------------------------------------------------------------------------

    def _es(self) -> Elasticsearch:
        """The client; detects Elasticsearch vs OpenSearch on first use (StoreUnavailable if unreachable)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._distribution, self._server_version = detect_distribution(self._url, self._creds)
                    self._client = build_client(self._url, self._creds, self._distribution, self._request_timeout)
        return self._client

    def ensure_schema(self) -> None:
        """Templates and indices in place, existing inference indices checked (conflicts logged once)."""
        es = self._es()
        with translated("creating the index templates", self._url):
            self._guard.ensure(es)
        self._schema_ready = True

    def _ready(self) -> Elasticsearch:
        if not self._schema_ready:
            self.ensure_schema()
        return self._es()

    def ping(self) -> bool:
        try:
            with translated("ping", self._url):
                return bool(self._es().ping())
        except StoreUnavailable:
            return False

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def refresh(self) -> None:
        """Make every write visible to searches; not needed in normal operation."""
        with translated("refresh", self._url):
            self._es().indices.refresh(
                index=f"{self._pattern},{self._labels_index}", ignore_unavailable=True, allow_no_indices=True
            )

    # --- writes -------------------------------------------------------------------------------------

    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        result = WriteResult()
        model = self._spec.model
        actions = [es_writes.event_action(model, e) for e in accept_events(events, self._spec, result)]
        if not actions:
            return result
        with translated("writing inference events", self._url):
            es = self._ready()
            self._guard.before_events(es, {a["_index"] for a in actions})
            failed = self._write(es, actions, result)
            if failed and all(action for action, _ in failed):  # e.g. an index deleted since the check
                # repair, then once more (what was stored meanwhile comes back as duplicates)
                self._guard.before_events(es, {a["_index"] for a, _ in failed})
                failed = self._write(es, [a for a, _ in failed], result)
        if failed:
            raise StoreUnavailable(
                f"{len(failed)} of {len(actions)} inference events not stored on {self._url}: {failed[0][1]}",
                hint="replaying the batch is safe (stored events count as duplicates)",
            )
        return result

    def _write(
        self, es: Elasticsearch, actions: list[dict[str, Any]], result: WriteResult
    ) -> list[tuple[dict[str, Any], str]]:
        """Bulk ``actions`` into ``result``; the actions that failed for a reason that is not the event's."""
        by_id = {a["_id"]: a for a in actions}
        failed = []
        for ok, info in es_writes.bulk(es, actions, self._bulk_chunk):
            problem = es_writes.tally(ok, info, result)
            if problem is not None:
                failed.append((by_id.get(str(info.get("_id")), {}), problem))
        return failed

    def upsert_labels(self, labels: Sequence[LabelRecord]) -> LabelWriteResult:
        result = LabelWriteResult()
        if not labels:
            return result
        check_labels(labels)
        ids = list(dict.fromkeys(label.prediction_id for label in labels))
        with translated("writing labels", self._url):
            es = self._ready()
            self._guard.before_labels(es)
            known = es_writes.known_ids(es, self._pattern, ids)
            if len(known) < len(ids):
                # Searches are near-real-time: refresh once before calling a fresh prediction unknown.
                es.indices.refresh(index=self._pattern, ignore_unavailable=True, allow_no_indices=True)
                known.update(es_writes.known_ids(es, self._pattern, [i for i in ids if i not in known]))
            actions = [
                es_writes.label_action(self._labels_index, label, prediction_ms)
                for label, prediction_ms in plan_labels(labels, known, result)
            ]
            failed = []
            for ok, info in es_writes.bulk(es, actions, self._bulk_chunk):
                if not ok:
                    failed.append(es_writes.reason(info))
                    continue
                result.written += 1
                if info.get("result") == "updated":
                    result.replaced += 1
        if failed:
            raise StoreUnavailable(f"{len(failed)} labels not stored on {self._url}: {failed[0]}")
        return result

    def write_report(self, record: ReportRecord) -> None:
        doc = es_writes.report_document(self._spec.model, record)
        index = es_mapping.reports_index(self._spec.model, record.kind)
        with translated("writing a report", self._url):
            es = self._ready()
            self._guard.before_report(es, record.kind)
            es.index(index=index, document=doc, refresh="wait_for")

    def read_incident_state(self) -> StateRecord | None:
        with translated("reading the incident state", self._url):
            es = self._ready()
            self._guard.before_incidents(es)
            return es_incidents.read(es, es_mapping.incidents_index(self._spec.model))

    def write_incident_state(self, body: Mapping[str, Any], revision: str | None) -> str | None:
        index = es_mapping.incidents_index(self._spec.model)
        with translated("writing the incident state", self._url):
            es = self._ready()
            self._guard.before_incidents(es)
            return es_incidents.write(es, index, self._spec.model, body, revision)

    def apply_retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete daily indices (and labels) older than ``retention_days``: whole indices, no delete-by-query
        over events."""
        cutoff = retention_cutoff(self._retention_days, now)
        if cutoff is None:
            return RetentionResult(None)
        events = 0
        with translated("applying retention", self._url):
            es = self._es()
            indices = es.indices.get(index=self._pattern, allow_no_indices=True, ignore_unavailable=True)
            doomed = es_writes.indices_before(list(indices), self._spec.model, cutoff.date())
            for index in doomed:  # one at a time: a long list of names could overflow the URL
                events += int(es.count(index=index, ignore_unavailable=True)["count"])
                es.indices.delete(index=index, ignore_unavailable=True)
            es.delete_by_query(
                index=self._labels_index,
                conflicts="proceed",
                ignore_unavailable=True,
                query={"range": {"@timestamp": {"lt": to_ms(cutoff), "format": "epoch_millis"}}},
            )
        return RetentionResult(cutoff, events, tuple(doomed))

    # --- reads --------------------------------------------------------------------------------------

    def _read(self, what: str, run: Callable[[Elasticsearch, str], _T]) -> _T:
        """``run(client, inference indices)``; after a 400/404 or shard failures the schema is checked (what is
        missing put back, conflicting indices left out) and ``run`` is tried once more."""
        with translated(what, self._url):
            es = self._es()
            self._guard.before_read(es)
            try:
                return run(es, self._guard.read_pattern())
            except (BadRequestError, NotFoundError, es_reads.ShardFailures) as exc:
                log.info("%s hit a schema problem (%s): checking the inference indices", what, exc)
                self._guard.after_read_problem(es)
            try:
                return run(es, self._guard.read_pattern())
            except es_reads.ShardFailures as exc:
                raise StoreUnavailable(f"{what} failed on {redact(self._url)}: {exc}") from None

    def count(self, window: TimeWindow, model_version: str | None = None) -> int:
        query = es_reads.window_query(window, model_version)

        def run(es: Elasticsearch, indices: str) -> int:
            resp = es.count(index=indices, query=query, ignore_unavailable=True, allow_no_indices=True)
            return int(es_reads.checked(resp)["count"])

        return self._read("count", run)

    def _aggregate(
        self, window: TimeWindow, aggs: dict[str, Any], what: str, model_version: str | None
    ) -> tuple[int, dict[str, Any]]:
        query = es_reads.window_query(window, model_version)

        def run(es: Elasticsearch, indices: str) -> tuple[int, dict[str, Any]]:
            resp = es.search(
                index=indices,
                size=0,
                track_total_hits=True,
                query=query,
                aggs=aggs or None,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            es_reads.checked(resp)
            return int(resp["hits"]["total"]["value"]), resp.body.get("aggregations") or {}

        return self._read(what, run)

    def _window_rows(
        self, window: TimeWindow, refs: Sequence[FieldRef], limit: int | None, model_version: str | None
    ) -> list[list[Any]]:
        source = [*es_reads.WINDOW_SOURCE, *(r.es_path for r in refs)]
        query = es_reads.window_query(window, model_version)

        def run(es: Elasticsearch, indices: str) -> list[list[Any]]:
            docs = es_reads.scan(es_reads.checked_search(es), indices, query, source, limit)
            return [es_reads.window_row(doc, refs) for doc in docs]

        return self._read("reading a window", run)

    def read_window(
        self,
        window: TimeWindow,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        refs = frame_refs(self._spec, fields)
        rows = self._window_rows(window, refs, limit, model_version)
        return typed_frame(pd.DataFrame(rows, columns=[*WINDOW_COLUMNS, *(r.name for r in refs)]), refs)

    def labelled_predictions(
        self, window: TimeWindow, extra_fields: Sequence[str] = (), model_version: str | None = None
    ) -> pd.DataFrame:
        refs = frame_refs(self._spec, extra_fields)
        rows = self._window_rows(window, refs, None, model_version)
        try:
            with translated("refreshing labels", self._url):
                self._es().indices.refresh(index=self._labels_index, ignore_unavailable=True)
        except StoreUnavailable as exc:  # e.g. no refresh privilege: labels of the last second may be missed
            log.debug("labels refresh skipped: %s", exc)
        source = ["prediction_id", "label", "observed_at"]
        query = es_reads.window_query(window)
        with translated("reading labels", self._url):
            docs = es_reads.scan(es_reads.checked_search(self._es()), self._labels_index, query, source, None)
            labels = {
                doc["prediction_id"]: (doc.get("label"), to_ms(datetime.fromisoformat(doc["observed_at"])))
                for doc in docs
            }
        at = len(WINDOW_COLUMNS)  # label columns between the window columns and the features
        joined = [[*row[:at], *labels.get(row[0], (None, None)), *row[at:]] for row in rows]
        columns = [*WINDOW_COLUMNS, *LABEL_COLUMNS, *(r.name for r in refs)]
        return typed_frame(pd.DataFrame(joined, columns=columns), refs)

    def binned_counts(
        self, window: TimeWindow, bins: Sequence[BinSpec], model_version: str | None = None
    ) -> dict[str, BinnedCounts]:
        aggs, plans = es_reads.binned_aggs(self._spec, bins)
        total, result = self._aggregate(window, aggs, "binned counts", model_version)
        return es_reads.binned_result(bins, plans, total, result)

    def numeric_summaries(
        self,
        window: TimeWindow,
        features: Sequence[str],
        percentiles: Sequence[float],
        model_version: str | None = None,
    ) -> dict[str, NumericSummary]:
        aggs = es_reads.summary_aggs(self._spec, features, percentiles)
        total, result = self._aggregate(window, aggs, "numeric summaries", model_version)
        return es_reads.summary_result(features, percentiles, total, result)

    def response_counts(self, window: TimeWindow, model_version: str | None = None) -> dict[str, int]:
        aggs = {"kinds": {"terms": {"field": DocField.RESPONSE_KIND.value, "size": 20}}}
        _total, result = self._aggregate(window, aggs, "response counts", model_version)
        return response_counts((b["key"], b["doc_count"]) for b in result.get("kinds", {}).get("buckets", []))

    def latest_reports(self, kind: ReportKind, limit: int = 10) -> list[dict[str, Any]]:
        with translated("reading reports", self._url):
            resp = self._es().search(
                index=es_mapping.reports_index(self._spec.model, kind),
                size=int(limit),
                query={"term": {"kind": kind}},
                sort=[{"@timestamp": "desc"}, {"written_ns": "desc"}],
                ignore_unavailable=True,
            )
        return [hit["_source"]["report"] for hit in resp["hits"]["hits"]]
