"""The inference log: one event per prediction, written in bulk off the request path, spooled on outage."""

from __future__ import annotations

from mlmon.inference_log.pii import PiiProtector
from mlmon.inference_log.spool import Spool
from mlmon.inference_log.writer import InferenceLogWriter, backend_of

__all__ = ["InferenceLogWriter", "PiiProtector", "Spool", "backend_of"]
