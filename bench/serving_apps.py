"""The servers `bench/serving.py` compares, and the models they serve.

Models (registered artifacts, like `mlmon register` writes them, neutral feature names):
- ``fast``: a scikit-learn logistic regression on 4 numeric features (``FunctionTransformer(np.asarray)`` first,
  so that the model is fed a float matrix: a few hundred µs per call here, the kind of model the overhead
  matters for);
- ``cpu``: gradient boosting with many trees on the same features (a few ms of CPU per call, holding the GIL),
  for 1 vs 2 workers.

Apps (``python -m bench.serving_apps KIND MODEL_DIR PORT``, one uvicorn process each):
- ``bare``: what a team would write: a plain ``def`` endpoint, a pydantic request model, a one-row DataFrame,
  ``predict_proba``;
- ``instrumentator``: the same + prometheus-fastapi-instrumentator (``Instrumentator().instrument(app).expose(app)``);
- ``mlmon-metrics``: the same + ``mlmon.instrument.instrument(app)`` and its input/output recorders in the handler
  (golden signals, prediction histogram, missing/out-of-range counters; no inference log).
The servers with the inference log are the reference model server itself (``python -m model_server``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

FEATURES = ("x", "temperature", "humidity", "wind")
SPEC: dict[str, Any] = {
    "model": "fast",
    "description": "A small classifier for the serving benchmark",
    "prediction": {"kind": "classification", "classes": ["no", "yes"], "positive_class": "yes", "threshold": 0.5},
    "features": [
        {"name": "x", "type": "numeric", "range": [-10, 10], "required": True},
        {"name": "temperature", "type": "numeric", "range": [-30, 50]},
        {"name": "humidity", "type": "numeric", "range": [0, 100]},
        {"name": "wind", "type": "numeric", "range": [0, 60]},
    ],
}


@dataclass(frozen=True)
class BenchModel:
    kind: str
    model_dir: Path  # MLMON_MODEL_PATH
    spec_path: Path  # MLMON_MODEL_SPEC
    version: str


def rows(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(0, 2, n),
            "temperature": rng.normal(15, 8, n),
            "humidity": rng.uniform(0, 100, n),
            "wind": rng.gamma(2, 4, n),
        }
    )


def instance(frame: pd.DataFrame, i: int) -> dict[str, float]:
    return {name: float(frame[name].iat[i]) for name in FEATURES}


def _estimator(kind: str) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    to_matrix = FunctionTransformer(np.asarray, kw_args={"dtype": float})
    if kind == "fast":
        return make_pipeline(to_matrix, LogisticRegression(max_iter=300))
    return make_pipeline(to_matrix, GradientBoostingClassifier(n_estimators=2000, max_depth=3, random_state=0))


def write_model(root: Path, kind: str) -> BenchModel:
    """Fit and register the ``fast`` or ``cpu`` model under ``root/kind``."""
    import joblib
    import yaml

    from mlmon.baseline.profile import build_profile
    from mlmon.registry import artifact
    from mlmon.spec import parse_spec

    spec = parse_spec({**SPEC, "model": kind}, "bench spec")
    frame = rows(2000, seed=7)
    labels = np.where(
        frame["x"] + 0.1 * frame["temperature"] + np.random.default_rng(3).normal(0, 1, 2000) > 1.5, "yes", "no"
    )
    model = _estimator(kind).fit(frame[list(FEATURES)], labels)
    scores = model.predict_proba(frame[list(FEATURES)])[:, list(model.classes_).index("yes")]
    version = f"{kind}0001"
    profile = build_profile(spec, version, frame, scores, source="serving benchmark")
    model_dir = root / kind
    version_dir = model_dir / version
    version_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, version_dir / artifact.MODEL_FILE)
    artifact.write_metadata(version_dir, {"model": kind, "version": version, "features": list(FEATURES)})
    profile.save(version_dir / artifact.PROFILE_FILE)
    spec_path = version_dir / artifact.SPEC_FILE
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False))
    artifact.set_current(model_dir, version)
    return BenchModel(kind, model_dir, spec_path, version)


class Instance(BaseModel):
    """The request body of the bench apps (module level: FastAPI resolves the handler's annotation by name)."""

    x: float
    temperature: float | None = None
    humidity: float | None = None
    wind: float | None = None


def build_app(kind: str, model_dir: Path) -> Any:
    from fastapi import FastAPI

    from mlmon.registry.artifact import read_registered

    registered = read_registered(model_dir)
    model = registered.load_model()
    positive = list(model.classes_).index("yes")

    app = FastAPI()
    record = None
    if kind == "instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator().instrument(app).expose(app)
    elif kind == "mlmon-metrics":
        from prometheus_client import CollectorRegistry

        from mlmon.instrument import instrument

        inst = instrument(
            app,
            registry=CollectorRegistry(),
            spec=registered.spec,
            profile=registered.profile,
            model_version=registered.version,
        )

        def record(row: dict[str, Any], score: float, label: str) -> None:
            inst.inputs.record([row])
            inst.outputs.record(score, label)

    elif kind != "bare":
        raise SystemExit(f"unknown app {kind}")

    @app.post("/predict")
    def predict(request: Instance) -> dict[str, Any]:
        row = request.model_dump()
        score = float(model.predict_proba(pd.DataFrame([row]))[0, positive])
        label = "yes" if score >= 0.5 else "no"
        if record is not None:
            record(row, score, label)
        return {"prediction": label, "score": score}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    return app


def main(argv: list[str]) -> None:
    import uvicorn

    kind, model_dir, port = argv[0], Path(argv[1]), int(argv[2])
    uvicorn.run(build_app(kind, model_dir), host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
