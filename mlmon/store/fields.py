"""One vocabulary for the fields of an inference document, used by every store backend and every caller.

``DocField`` values are the document paths of the Elasticsearch mapping (``prediction.score``, …). The same
names are

- what ``binned_counts`` / ``numeric_summaries`` accept besides spec feature names (output drift and latency
  go through the same code path as features), and
- the column names of the frames ``read_window`` and ``labelled_predictions`` return.

So a caller never translates between a store field, a query name and a frame column::

    frame = store.read_window(window, fields=["temperature"])
    scores = frame[DocField.SCORE]
    bins = store.binned_counts(window, [NumericBins(DocField.SCORE, edges)])

Spec feature names cannot contain a dot, so they never collide with the dotted fields; a feature named like
one of the plain columns (``latency_ms``, ``timestamp``, …) is refused when read into a frame.
"""

from __future__ import annotations

from enum import StrEnum


class DocField(StrEnum):
    SCORE = "prediction.score"
    PREDICTED_LABEL = "prediction.label"
    RESPONSE_KIND = "response.kind"
    MODEL_VERSION = "model.version"
    LATENCY_MS = "latency_ms"
    RECEIVED_AT = "received_at"  # server time of arrival (a datetime column; not binned or summarised)


PREDICTION_ID = "prediction_id"
TIMESTAMP = "timestamp"  # the event time, a UTC datetime column
LABEL = "label"
LABEL_OBSERVED_AT = "label_observed_at"

# The columns every window frame starts with, in this order; the requested features follow.
WINDOW_COLUMNS: tuple[str, ...] = (
    PREDICTION_ID,
    TIMESTAMP,
    DocField.MODEL_VERSION,
    DocField.PREDICTED_LABEL,
    DocField.SCORE,
    DocField.RESPONSE_KIND,
    DocField.LATENCY_MS,
    DocField.RECEIVED_AT,
)
# ``labelled_predictions``: the window columns, then these, then the extra features.
LABEL_COLUMNS: tuple[str, ...] = (LABEL, LABEL_OBSERVED_AT)
RESERVED_COLUMNS = frozenset(WINDOW_COLUMNS) | frozenset(LABEL_COLUMNS)
