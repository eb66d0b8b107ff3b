"""What the serve-time bin counts (``mlmon_feature_bin_total`` + per-bin offsets) add to the input recorder.

``InputRecorder.record`` of the serving benchmark's model (4 numeric features, 19 interior edges each from a
profile of 5,000 rows), with and without the bin counters (the same recorder with its ``bins`` removed), for
requests of 1 row (2,000 of them) and of 256 rows (50 of them); best of 5 repeats. In-process, one thread: the
per-request cost the model server pays, without HTTP.

Run: ``python -m bench recorder_bins``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from bench.common import record
from bench.serving_apps import SPEC, instance, rows
from mlmon.baseline.profile import build_profile
from mlmon.instrument import instrument
from mlmon.spec import parse_spec


def _per_request(recorder: Any, requests: list[list[dict[str, float]]], repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for request in requests:
            recorder.record(request)
        best = min(best, time.perf_counter() - started)
    return best / len(requests)


def main() -> None:
    spec = parse_spec(SPEC, "serving bench spec")
    frame = rows(5000)
    scores = np.random.default_rng(1).random(5000)
    profile = build_profile(spec, "v1", frame, scores, ["yes"] * 5000, source="bench")
    singles = [[instance(frame, i)] for i in range(2000)]
    batch = [instance(frame, i) for i in range(256)]
    timings: dict[bool, tuple[float, float]] = {}
    for with_bins in (True, False):
        inst = instrument(FastAPI(), registry=CollectorRegistry(), spec=spec, profile=profile, model_version="v1")
        if not with_bins:
            for rule in inst.inputs._rules:  # the same recorder without the bin counters
                rule.bins = None
        timings[with_bins] = (_per_request(inst.inputs, singles), _per_request(inst.inputs, [batch] * 50))
    out = []
    for size, index in ((1, 0), (256, 1)):
        with_bins, without = timings[True][index] * 1e6, timings[False][index] * 1e6
        out.append(
            {
                "request_rows": size,
                "numeric_features": len(spec.features),
                "record_us": with_bins,
                "without_bins_us": without,
                "added_us_per_request": with_bins - without,
                "added_us_per_row": (with_bins - without) / size,
                "ratio": with_bins / without,
            }
        )
    record(
        "recorder_bins",
        {
            "description": "InputRecorder.record with vs without the serve-time bin counters, per request",
            "reference": "the same recorder without bin counters (missing, out-of-range, category counts only)",
            "rows": out,
            "notes": [
                "in-process, one thread, best of 5; 1-row requests place values with bisect, larger ones "
                "with one searchsorted + two bincount per feature; one counter increment per changed bin "
                "and one per its offset"
            ],
        },
    )


if __name__ == "__main__":
    main()
