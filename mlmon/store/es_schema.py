"""The Elasticsearch store's schema: index templates for the daily inference indices, labels and report indices.

Names and mappings are in ``es_mapping``; this module puts them on the cluster (idempotently: another process
may be doing the same at the same time).
"""

from __future__ import annotations

import logging
from typing import Any

from elasticsearch import BadRequestError, Elasticsearch

from mlmon.spec import ModelSpec
from mlmon.store import es_mapping
from mlmon.store.es_client import describe

log = logging.getLogger(__name__)


def put_schema(es: Elasticsearch, spec: ModelSpec) -> None:
    """Templates, the labels index and both report indices; existing inference indices get new features."""
    model = spec.model
    es.cluster.put_component_template(
        name=es_mapping.component_template_name(model), **es_mapping.component_template(spec)
    )
    es.indices.put_index_template(name=es_mapping.index_template_name(model), **es_mapping.index_template(spec))
    create_index(es, es_mapping.labels_index(model), es_mapping.labels_mappings())
    for kind in ("drift", "stats"):
        create_index(es, es_mapping.reports_index(model, kind), es_mapping.reports_mappings())
    # Indices created before a spec change get the new features mapped too.
    features = es_mapping.inference_mappings(spec)["properties"]["features"]
    try:
        es.indices.put_mapping(
            index=es_mapping.inference_pattern(model),
            properties={"features": features},
            allow_no_indices=True,
            ignore_unavailable=True,
        )
    except BadRequestError as exc:
        log.warning("existing inference indices keep their mapping: %s", describe(exc))


def create_index(es: Elasticsearch, index: str, mappings: dict[str, Any]) -> None:
    if es.indices.exists(index=index):
        return
    try:
        es.indices.create(index=index, mappings=mappings, settings=es_mapping.index_settings())
    except BadRequestError as exc:
        if "already_exists" not in describe(exc):  # another process won the race
            raise
