"""`mlmon serve` and `python -m model_server`: the reference model server under uvicorn."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mlmon.settings import ModelServerSettings

DESCRIPTION = "the reference model server (FastAPI) for the registered model: /predict, /feedback, /metrics"


def serve(settings: ModelServerSettings) -> None:
    """Run the model server until SIGINT/SIGTERM."""
    # One request's rows are scored on one core: OpenMP threads per prediction (gradient boosting) cost far
    # more than they save on small batches. Set for this process before the model is loaded.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import uvicorn

    from model_server.app import create_app

    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=15,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the serve command (settings come from MLMON_* variables)."""


def handler(args: argparse.Namespace) -> int:
    from mlmon.logs import configure_logging
    from mlmon.settings import load_settings

    settings = load_settings(ModelServerSettings)
    configure_logging(settings.log_level)
    serve(settings)
    return 0


def add(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("serve", help=DESCRIPTION, description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=handler)
