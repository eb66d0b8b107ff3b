"""`mlmon ingest` into the Elasticsearch-API server (osmem): the same file twice stores each prediction once (the
prediction id is the document id), labels join by prediction id, bad rows are rejected and the good ones load."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlmon.spec import parse_spec
from mlmon.store.elasticsearch import ElasticsearchStore
from mlmon.store.fields import LABEL
from tests.unit.history.test_ingest import REGRESSION, WIDE, history, load

pytestmark = pytest.mark.integration


def test_ingest_into_the_es_api_server_is_idempotent(es_url: str, tmp_path: Path) -> None:
    spec = parse_spec(REGRESSION)
    frame = history(60).astype({"temperature": object})
    frame.loc[7, "temperature"] = "warm"
    path = tmp_path / "history.csv"
    frame.to_csv(path, index=False)
    store = ElasticsearchStore(es_url, spec)
    try:
        first = load(path, spec, store)
        second = load(path, spec, store)
        store.refresh()
        rows = store.labelled_predictions(WIDE)
    finally:
        store.close()
    assert (first.loaded, first.already_present, first.rejected_rows) == (59, 0, 1)
    assert (second.loaded, second.already_present, second.labels_replaced) == (0, 59, 59)
    assert list(first.rejected) == ["features.temperature: expected a number"]
    assert len(rows) == 59 and rows["prediction_id"].is_unique
    assert pd.Series(rows[LABEL]).notna().all()
