"""What the model server holds while it runs: model, store, inference log, instrumentation.

Started by the app's lifespan and stopped by it. A model that cannot be loaded leaves the server alive but not
ready (``/readyz`` says why, ``/predict`` answers 503). A store that cannot be reached at start does not stop
the server either: events wait in the local log and the store connects on a later re-check. A local log that
cannot be created makes the server not ready and ``/predict`` answer 503 (nothing is acknowledged unlogged).
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry

from mlmon.errors import InferenceLogUnavailable, MlmonError, ModelNotLoaded, StoreUnavailable
from mlmon.inference_log import InferenceLog, LogConfig, PiiProtector
from mlmon.instrument import Instrumentation
from mlmon.instrument.metrics import InferenceLogMetrics, inference_log_metrics
from mlmon.settings import ModelServerSettings
from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceEvent
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
        self.log: InferenceLog | None = None
        self.log_error: str | None = None
        self.predictor: Predictor | None = None
        self.pii = PiiProtector(spec, settings.pii_mode, settings.pii_hash_key)
        self._log_metrics: InferenceLogMetrics | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._load_model()
        if self.store is None:
            self.store = self._open_store()
        if self.model is not None:
            self._start_log(self.model)

    def stop(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None
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
            # Not reachable now: serve anyway, events wait in the local log; the store connects on a later re-check.
            log.warning("inference store not reachable at start (%s); events wait in the local log", exc)
            return open_store(self.settings, self.spec, check=False)

    def _start_log(self, model: ServingModel) -> None:
        from mlmon.store.factory import store_factory

        if self._log_metrics is None:
            self._log_metrics = inference_log_metrics(self.registry)
        assert self.store is not None
        inference_log = InferenceLog(
            self.settings.log_path / model.name,
            self.store,
            config=LogConfig.from_settings(self.settings),
            metrics=self._log_metrics,
            sink_factory=store_factory(self.settings, self.spec) if self._owns_store else None,
            model=model.name,
            model_version=model.version,
        )
        try:
            inference_log.start()
        except InferenceLogUnavailable as exc:
            self.log_error = str(exc)
            log.error("%s", exc)
            return
        self.log = inference_log

    # -- for handlers ----------------------------------------------------------------------------------
    def require_predictor(self) -> Predictor:
        if self.predictor is None:
            raise ModelNotLoaded(self.model_error or "the model is not loaded yet")
        return self.predictor

    def require_store(self) -> Any:
        if self.store is None:
            raise StoreUnavailable("the inference store is not open")
        return self.store

    def log_events(self, events: list[InferenceEvent]) -> None:
        """Append a request's events to the local log before it is answered (raises 503 errors)."""
        if self.log is None:
            raise InferenceLogUnavailable(self.log_error or "the inference log is not started")
        self.log.append(events)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        model: Any = (
            {"name": self.model.name, "version": self.model.version}
            if self.model is not None
            else f"not loaded: {self.model_error or 'starting'}"
        )
        body: dict[str, Any] = {"model": model}
        reasons = [] if self.model is not None else ["the model is not loaded"]
        if self.log is None:
            body["store"] = "ok" if self.store is not None else "unavailable"
            if self.model is not None:
                reasons.append(self.log_error or "the inference log is not started")
        else:
            status = self.log.status()
            # ok | spooling (events wait in the log) | unavailable (and the log cannot take them either)
            body["store"] = status.store
            body["store_reason"] = status.store_reason
            body["log"] = {
                "bytes": status.bytes,
                "max_bytes": status.max_bytes,
                "fill": status.fill,
                "full": status.full,
                "lag_events": status.lag_events,
                "oldest_unshipped_age_s": status.oldest_unshipped_age_s,
                "adopted_logs": status.adopted_logs,
                "write_error": status.write_error,
                "directory": status.directory,
                "dead_letter_file": status.dead_letter_file,
            }
            body["events"] = status.events
            if status.reason:
                reasons.append(status.reason)
        ready = not reasons
        body["status"] = "ready" if ready else "not_ready"
        if reasons:
            body["reason"] = "; ".join(reasons)
        return ready, body
