"""Every serving metric, built on an injected ``CollectorRegistry`` (names from the architecture contract).

Each family carries ``model`` and ``model_version``. Children are resolved once and cached, because
``.labels(...)`` costs a lock and a dict build per call and these sit on the request path. Every gauge states
how it combines across the worker processes of a multi-process server (``mlmon.instrument.multiprocess``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets in seconds; 0.2 matches the demo's "p95 latency <= 200ms" SLO.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)
# Used only when no baseline profile gives the training score edges.
DEFAULT_SCORE_EDGES = tuple(round(0.05 * i, 2) for i in range(1, 20))

RESPONSE_KINDS = ("ok", "empty", "fallback")
# stored: in the store · spooled: waited in the local log during a store outage (then stored) · dropped: a
# prediction was served but its event not logged (log full, MLMON_LOG_FULL=drop) · refused: a prediction was
# refused with 503 because its event could not be logged · dead_lettered: the store refused the event itself
EVENT_OUTCOMES = ("stored", "spooled", "dropped", "refused", "dead_lettered")


def score_buckets(edges: Iterable[float] | None) -> tuple[float, ...]:
    """Baseline score edges as histogram buckets: finite, strictly increasing, ``+Inf`` last."""
    clean = sorted({float(e) for e in (edges or ()) if math.isfinite(float(e))})
    return (*(clean or DEFAULT_SCORE_EDGES), math.inf)


@dataclass
class GoldenSignalMetrics:
    requests: Counter
    duration: Histogram
    in_flight: Gauge


@dataclass
class OutputMetrics:
    prediction: Histogram
    predicted_class: Counter
    nonfinite: Counter
    responses: Counter


@dataclass
class InputMetrics:
    missing: Counter
    out_of_range: Counter
    category: Counter
    bins: Counter
    bin_offsets: Counter


@dataclass
class InferenceLogMetrics:
    events: Counter
    lag: Gauge
    log_bytes: Gauge
    fill_ratio: Gauge
    oldest_age: Gauge
    backend_errors: Counter


_BASE = ("model", "model_version")


def golden_signal_metrics(registry: CollectorRegistry) -> GoldenSignalMetrics:
    return GoldenSignalMetrics(
        requests=Counter(
            "mlmon_requests",
            "HTTP requests by route template and status code",
            [*_BASE, "endpoint", "status"],
            registry=registry,
        ),
        duration=Histogram(
            "mlmon_request_duration_seconds",
            "HTTP request duration by route template",
            [*_BASE, "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        in_flight=Gauge(
            "mlmon_requests_in_flight",
            "HTTP requests being served",
            list(_BASE),
            registry=registry,
            multiprocess_mode="livesum",  # several workers: the sum over the running ones
        ),
    )


def output_metrics(registry: CollectorRegistry, score_edges: Sequence[float] | None) -> OutputMetrics:
    return OutputMetrics(
        prediction=Histogram(
            "mlmon_prediction",
            "Predicted scores; buckets are the baseline's training-score edges",
            list(_BASE),
            buckets=score_buckets(score_edges),
            registry=registry,
        ),
        predicted_class=Counter(
            "mlmon_predicted_class",
            "Predictions by predicted class",
            [*_BASE, "class"],
            registry=registry,
        ),
        nonfinite=Counter(
            "mlmon_nonfinite_predictions",
            "Predictions that were NaN or infinite",
            list(_BASE),
            registry=registry,
        ),
        responses=Counter(
            "mlmon_responses",
            "Responses by kind (ok, empty, fallback)",
            [*_BASE, "kind"],
            registry=registry,
        ),
    )


def input_metrics(registry: CollectorRegistry) -> InputMetrics:
    return InputMetrics(
        missing=Counter(
            "mlmon_feature_missing",
            "Inputs with no value, per feature",
            [*_BASE, "feature"],
            registry=registry,
        ),
        out_of_range=Counter(
            "mlmon_feature_out_of_range",
            "Numeric inputs outside the spec range (or the baseline min/max)",
            [*_BASE, "feature"],
            registry=registry,
        ),
        category=Counter(
            "mlmon_feature_category",
            "Categorical inputs per category; unseen values count as __other__",
            [*_BASE, "feature", "category"],
            registry=registry,
        ),
        bins=Counter(
            "mlmon_feature_bin",
            "Numeric inputs per bin of the baseline's fixed edges (not cumulative): `bin` is the bin's upper "
            "edge, formatted like `le` (+Inf last); a bin holds the values from the previous edge (included) to "
            "its own (excluded), as the store's binned counts",
            [*_BASE, "feature", "bin"],
            registry=registry,
        ),
        bin_offsets=Counter(
            "mlmon_feature_bin_offset",
            "Per bin of mlmon_feature_bin, the sum of (value - the bin's lower edge); in the first, open bin the "
            "sum of (its upper edge - value). Never negative, so the sum of a bin's values is count x lower edge "
            "+ offset (first bin: count x upper edge - offset); +-Inf values count at the edge",
            [*_BASE, "feature", "bin"],
            registry=registry,
        ),
    )


def inference_log_metrics(registry: CollectorRegistry) -> InferenceLogMetrics:
    """Gauges state how they combine across the processes of a multi-process server (Prometheus client
    multiprocess mode): sizes add up, the fill ratio and the age take the worst process."""
    return InferenceLogMetrics(
        events=Counter(
            "mlmon_inference_events",
            "Inference events by outcome: stored in the store, spooled (waited in the local log during a store "
            "outage), dropped (served but not logged: log full), refused (503: could not be logged), "
            "dead_lettered (refused by the store; in the dead-letter file)",
            [*_BASE, "outcome"],
            registry=registry,
        ),
        lag=Gauge(
            "mlmon_inference_queue_depth",
            "Inference events in the local log not shipped to the store yet (log lag)",
            list(_BASE),
            registry=registry,
            multiprocess_mode="livesum",
        ),
        log_bytes=Gauge(
            "mlmon_inference_log_bytes",
            "Bytes of the local inference log on disk (this process's log and the ones it adopted)",
            list(_BASE),
            registry=registry,
            multiprocess_mode="livesum",
        ),
        fill_ratio=Gauge(
            "mlmon_inference_log_fill_ratio",
            "Share of MLMON_LOG_MAX_BYTES the local inference log uses (1: full, predictions are refused)",
            list(_BASE),
            registry=registry,
            multiprocess_mode="livemax",
        ),
        oldest_age=Gauge(
            "mlmon_inference_log_oldest_unshipped_age_seconds",
            "Age of the oldest inference event not shipped to the store yet (0 when none)",
            list(_BASE),
            registry=registry,
            multiprocess_mode="livemax",
        ),
        backend_errors=Counter(
            "mlmon_backend_errors",
            "Failed calls to a backend",
            [*_BASE, "backend"],
            registry=registry,
        ),
    )
