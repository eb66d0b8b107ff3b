"""What the model server holds while it runs: model, store, inference-log writer, instrumentation.

Started by the app's lifespan and stopped by it. A model that cannot be loaded leaves the server alive but not
ready (``/readyz`` says why, ``/predict`` answers 503). A store that cannot be reached at start does not stop
the server either: events are spooled and the store connects on a later re-check.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry

from mlmon.errors import MlmonError, ModelNotLoaded, StoreUnavailable
from mlmon.inference_log import InferenceLogWriter, PiiProtector, Spool, backend_of
from mlmon.instrument import Instrumentation
from mlmon.instrument.metrics import InferenceLogMetrics, inference_log_metrics
from mlmon.settings import ModelServerSettings
from mlmon.spec import ModelSpec
from model_server.predictor import Predictor, ServingModel

log = logging.getLogger(__name__)


def _same_features(a: ModelSpec, b: ModelSpec) -> bool:
    return [(f.name, f.type) for f in a.features] == [(f.name, f.type) for f in b.features]


class ServerState:
    def __init__(
        self,
        settings: ModelServerSettings,
        spec: ModelSpec,
        registry: CollectorRegistry,
        instrumentation: Instrumentation,
        *,
        model: ServingModel | None = None,
        store: Any | None = None,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.registry = registry
        self.instrumentation = instrumentation
        self.model: ServingModel | None = model
        self.model_error: str | None = None
        self.store: Any | None = store
        self._owns_store = store is None
        self.writer: InferenceLogWriter | None = None
        self.predictor: Predictor | None = None
        self.pii = PiiProtector(spec, settings.pii_mode, settings.pii_hash_key)
        self._log_metrics: InferenceLogMetrics | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._load_model()
        if self.store is None:
            self.store = self._open_store()
        if self.model is not None:
            self._start_writer(self.model)

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.close(timeout=10.0)
            self.writer = None
        if self._owns_store and self.store is not None:
            try:
                self.store.close()
            except Exception:
                log.exception("closing the inference store failed")
            self.store = None

    def _load_model(self) -> None:
        if self.model is None:
            from mlmon.registry.serving import load_model

            try:
                self.model = load_model(self.settings.model_dir(self.spec.model))
            except MlmonError as exc:
                self.model_error = str(exc)
                log.error("model not loaded: %s", exc)
                return
        model = self.model
        if not _same_features(model.spec, self.spec):
            self.model_error = (
                f"model {model.name} {model.version} was trained with other features than "
                f"{self.settings.model_spec}; retrain or point MLMON_MODEL_SPEC at its spec"
            )
            log.error(self.model_error)
            self.model = None
            return
        self.instrumentation.bind(model.version, model.profile, model.spec.prediction.classes or [])
        self.predictor = Predictor(model, self.instrumentation, self.pii)
        log.info("serving model %s version %s", model.name, model.version)

    def _open_store(self) -> Any:
        from mlmon.store.factory import open_store

        try:
            return open_store(self.settings, self.spec)
        except StoreUnavailable as exc:
            # Not reachable now: serve anyway, spool events; the store connects on a later re-check.
            log.warning("inference store not reachable at start (%s); spooling until it is", exc)
            return open_store(self.settings, self.spec, check=False)

    def _start_writer(self, model: ServingModel) -> None:
        settings = self.settings
        if self._log_metrics is None:
            self._log_metrics = inference_log_metrics(self.registry)
        assert self.store is not None
        spool = Spool(settings.spool_path / model.name, settings.spool_max_bytes)
        self.writer = InferenceLogWriter(
            self.store,
            spool,
            self._log_metrics,
            model=model.name,
            model_version=model.version,
            backend=backend_of(settings.store),
            queue_size=settings.queue_size,
            bulk_size=settings.bulk_size,
            flush_interval_s=settings.flush_interval_s,
            replay_interval_s=settings.replay_interval_s,
        )
        self.writer.start()

    # -- for handlers ----------------------------------------------------------------------------------
    def require_predictor(self) -> Predictor:
        if self.predictor is None:
            raise ModelNotLoaded(self.model_error or "the model is not loaded yet")
        return self.predictor

    def require_store(self) -> Any:
        if self.store is None:
            raise StoreUnavailable("the inference store is not open")
        return self.store

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        model: Any = (
            {"name": self.model.name, "version": self.model.version}
            if self.model is not None
            else f"not loaded: {self.model_error or 'starting'}"
        )
        if self.writer is None:
            store = "ok" if self.store is not None else "unavailable"
            body: dict[str, Any] = {"model": model, "store": store}
        else:
            if not self.writer.spooling:
                store = "ok"
            elif self.writer.spool.healthy:
                store = "spooling"
            else:
                store = "unavailable"  # store down and the spool cannot be written either
            body = {
                "model": model,
                "store": store,
                "queue_depth": self.writer.queue_depth,
                "spool_bytes": self.writer.spool.size_bytes,
            }
        ready = self.model is not None and store in ("ok", "spooling")
        body["status"] = "ready" if ready else "not_ready"
        return ready, body
