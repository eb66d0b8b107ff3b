"""The inference log: every prediction's event is appended to a local log before the response, then shipped
to the store by a background thread (decoded and written by a child process: ``ship_process``); events the
store refuses go to a dead-letter file.

    InferenceLog   the facade a model server uses (start, append, status, close)
    LogConfig      its settings (``LogConfig.from_settings``)
    PiiProtector   PII features hashed or dropped before they are logged
"""

from __future__ import annotations

from mlmon.inference_log.log import InferenceLog, LogConfig, LogStatus
from mlmon.inference_log.pii import PiiProtector
from mlmon.store.protocols import EventSink


def backend_of(store_url: str) -> str:
    """The ``backend`` label of a store URL."""
    return "sqlite" if store_url.startswith("sqlite:") else "elasticsearch"


__all__ = ["EventSink", "InferenceLog", "LogConfig", "LogStatus", "PiiProtector", "backend_of"]
