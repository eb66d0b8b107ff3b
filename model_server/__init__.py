"""Reference FastAPI model server built on mlmon's instrumentation (``create_app``, ``serve``)."""

from __future__ import annotations

from model_server.app import create_app

__all__ = ["create_app"]
