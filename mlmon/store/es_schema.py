"""The Elasticsearch store's schema, kept in place while the store runs.

Names and mappings are in ``es_mapping``. ``SchemaGuard`` puts them on the cluster and repairs what goes
missing under a running store (an index or a template deleted, a cluster wiped):

- before a write, the target daily index is checked (one ``HEAD`` per batch); a missing one is created from
  the index template, and the template (with the labels and report indices) is re-created first if it is
  gone. The labels and report indices are checked the same way before their writes. So new documents never
  get dynamic mappings (``prediction_id`` or a category as ``text``).
- an inference index whose existing mapping conflicts with mlmon's (a field aggregations need mapped as
  ``text``, a date or number mapped otherwise) cannot be fixed in place: it is logged once with the exact
  fix and left out of every read (``mlmon-inference-m-*,-mlmon-inference-m-2026.11.28``) instead of failing
  or skewing every run. Writes still go to it, so the fix (a reindex) recovers its events.
- the mappings are checked at the first read of a process, at each new daily index, and whenever a read fails
  with a 400/404 or with shard failures (the caller then retries once with the conflicting indices left out).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from elasticsearch import BadRequestError, Elasticsearch

from mlmon.spec import ModelSpec
from mlmon.store import es_mapping
from mlmon.store.es_client import describe

log = logging.getLogger(__name__)

_NUMERIC = {"double", "float", "half_float", "scaled_float", "long", "integer", "short", "byte", "unsigned_long"}
_COMPATIBLE = {"double": _NUMERIC, "keyword": {"keyword", "constant_keyword"}, "date": {"date", "date_nanos"}}


def put_schema(es: Elasticsearch, spec: ModelSpec, inference_indices: str | None = None) -> None:
    """Templates, the labels index, both report indices and the incidents index; existing inference indices
    (``inference_indices``, default all) get the spec's new features mapped."""
    model = spec.model
    es.cluster.put_component_template(
        name=es_mapping.component_template_name(model), **es_mapping.component_template(spec)
    )
    es.indices.put_index_template(name=es_mapping.index_template_name(model), **es_mapping.index_template(spec))
    create_index(es, es_mapping.labels_index(model), es_mapping.labels_mappings())
    for kind in ("drift", "stats"):
        create_index(es, es_mapping.reports_index(model, kind), es_mapping.reports_mappings())
    create_index(es, es_mapping.incidents_index(model), es_mapping.incidents_mappings())
    features = es_mapping.inference_mappings(spec)["properties"]["features"]
    try:
        es.indices.put_mapping(
            index=inference_indices or es_mapping.inference_pattern(model),
            properties={"features": features},
            allow_no_indices=True,
            ignore_unavailable=True,
        )
    except BadRequestError as exc:
        log.warning("existing inference indices keep their mapping: %s", describe(exc))


def create_index(es: Elasticsearch, index: str, mappings: dict[str, Any] | None = None) -> None:
    """Create ``index`` unless it exists (no mappings: the index template's); another process may win."""
    if es.indices.exists(index=index):
        return
    try:
        if mappings is None:
            es.indices.create(index=index)
        else:
            es.indices.create(index=index, mappings=mappings, settings=es_mapping.index_settings())
    except BadRequestError as exc:
        if "already_exists" not in describe(exc):
            raise


def _flatten(properties: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for name, node in properties.items():
        path = f"{prefix}{name}"
        if "properties" in node:
            out.update(_flatten(node["properties"], f"{path}."))
        else:
            out[path] = str(node.get("type", "object"))
    return out


def mapping_conflicts(actual: Mapping[str, Any], spec: ModelSpec) -> list[str]:
    """Fields of an index mapping that contradict mlmon's (absent fields are fine: not seen yet)."""
    expected = _flatten(es_mapping.inference_mappings(spec)["properties"])
    have = _flatten(actual.get("properties") or {})
    problems = []
    for path, want in expected.items():
        got = have.get(path)
        if got is not None and got not in _COMPATIBLE.get(want, {want}):
            problems.append(f"{path} is {got} (expected {want})")
    return problems


def repair_commands(index: str) -> str:
    """The exact fix for a conflicting daily index: copy it through a correctly mapped index and back."""
    body = '{{"source":{{"index":"{src}"}},"dest":{{"index":"{dst}","op_type":"create"}}}}'
    return (
        f"POST _reindex {body.format(src=index, dst=index + '.repair')} ; DELETE /{index} ; "
        f"POST _reindex {body.format(src=index + '.repair', dst=index)} ; DELETE /{index}.repair "
        f"(or, if its events are not needed: DELETE /{index})"
    )


class SchemaGuard:
    """The schema state of one store object: what was checked, which indices reads leave out."""

    def __init__(self, spec: ModelSpec) -> None:
        self._spec = spec
        self._model = spec.model
        self._pattern = es_mapping.inference_pattern(spec.model)
        self._conflicts: dict[str, str] = {}  # index -> what is wrong (logged once)
        self._checked: set[str] = set()  # daily indices whose mapping was checked
        self._read_once = False
        self._lock = threading.Lock()

    def read_pattern(self) -> str:
        """The inference indices reads search: every daily index except the conflicting ones."""
        with self._lock:
            return ",".join([self._pattern, *(f"-{index}" for index in sorted(self._conflicts))])

    @property
    def conflicts(self) -> dict[str, str]:
        with self._lock:
            return dict(self._conflicts)

    def ensure(self, es: Elasticsearch) -> None:
        """Everything in place now, and the existing inference indices checked."""
        put_schema(es, self._spec, self.read_pattern())
        self.check_mappings(es)

    def before_events(self, es: Elasticsearch, indices: Iterable[str]) -> None:
        """Before a bulk write into these daily indices: create the missing ones from the template (re-created
        first if it is gone); check the mapping of each index once per process."""
        for index in sorted(set(indices)):
            if not es.indices.exists(index=index):
                self._template(es)
                create_index(es, index)
            if index not in self._checked:
                self.check_mappings(es, index)

    def before_labels(self, es: Elasticsearch) -> None:
        if not es.indices.exists(index=es_mapping.labels_index(self._model)):
            self._template(es, force=True)

    def before_report(self, es: Elasticsearch, kind: str) -> None:
        if not es.indices.exists(index=es_mapping.reports_index(self._model, kind)):
            self._template(es, force=True)

    def before_incidents(self, es: Elasticsearch) -> None:
        if not es.indices.exists(index=es_mapping.incidents_index(self._model)):
            self._template(es, force=True)

    def before_read(self, es: Elasticsearch) -> None:
        if not self._read_once:
            self.check_mappings(es)
            self._read_once = True

    def after_read_problem(self, es: Elasticsearch) -> None:
        """A read failed with a 400/404 or shard failures: put back what is missing, recheck every index."""
        self._template(es)
        self.check_mappings(es)

    def _template(self, es: Elasticsearch, force: bool = False) -> None:
        name = es_mapping.index_template_name(self._model)
        if force or not es.indices.exists_index_template(name=name):
            log.warning("mlmon schema for %s incomplete (index template or an index missing): re-creating", self._model)
            put_schema(es, self._spec, self.read_pattern())

    def check_mappings(self, es: Elasticsearch, index: str | None = None) -> None:
        """Compare the mappings of ``index`` (default: every inference index) with mlmon's."""
        target = index or self._pattern
        found = es.indices.get_mapping(index=target, allow_no_indices=True, ignore_unavailable=True).body
        with self._lock:
            if index is None:  # a full check also forgets indices that were fixed or deleted
                self._conflicts = {i: p for i, p in self._conflicts.items() if i in found}
            for name, body in found.items():
                self._checked.add(name)
                problems = mapping_conflicts(body.get("mappings") or {}, self._spec)
                if not problems:
                    self._conflicts.pop(name, None)
                    continue
                if name not in self._conflicts:
                    log.error(
                        "inference index %s conflicts with the mlmon mapping (%s): reads leave it out until it "
                        "is fixed. Fix: %s",
                        name,
                        "; ".join(problems),
                        repair_commands(name),
                    )
                self._conflicts[name] = "; ".join(problems)
