"""`mlmon serve` and `python -m model_server`: the reference model server under uvicorn, one or several workers.

``--workers N`` (or ``MLMON_WORKERS``) > 1 runs N uvicorn worker processes on one listening socket. Each worker
builds the app from the ``MLMON_*`` settings (``worker_app``), has its own local inference log (its own locked
directory, see ``mlmon.inference_log.ownership``) and writes its metrics to files of the Prometheus
multi-process directory, which the master prepares before it starts them: ``PROMETHEUS_MULTIPROC_DIR`` when set,
else ``<var_dir>/metrics-multiproc``; its metric files (``*.db``) are deleted at every start. Any worker answers
``/metrics`` for all of them (``mlmon.instrument.multiprocess``). SIGTERM (or SIGINT) to the master stops each
worker cleanly: it finishes the requests in progress, ships its log within ``MLMON_LOG_CLOSE_TIMEOUT_S`` and
leaves the rest on disk for the next start; uvicorn replaces a worker that dies.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from mlmon.settings import ModelServerSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

DESCRIPTION = "the reference model server (FastAPI) for the registered model: /predict, /feedback, /metrics"
MULTIPROC_DIR_NAME = "metrics-multiproc"
GRACEFUL_SHUTDOWN_S = 15


def serve(settings: ModelServerSettings, workers: int | None = None) -> None:
    """Run the model server until SIGINT/SIGTERM (``workers`` defaults to ``settings.workers``)."""
    # One request's rows are scored on one core: OpenMP threads per prediction (gradient boosting) cost far
    # more than they save on small batches. Set before the model is loaded (inherited by the workers).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import uvicorn

    from mlmon.instrument import multiprocess

    count = workers if workers is not None else settings.workers
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    if count <= 1:
        configured = multiprocess.directory()
        if configured is not None:  # set by the deployment before this process started: same rules
            multiprocess.prepare_directory(configured)
        from model_server.app import create_app

        uvicorn.run(create_app(settings), **options)
        return
    # Set before the workers start (they are new interpreters), never after prometheus_client is in use here.
    multiprocess.prepare_directory(os.environ.get(multiprocess.ENV) or settings.var_dir / MULTIPROC_DIR_NAME)
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=count, **options)


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn calls this in each worker): settings from ``MLMON_*``."""
    from mlmon.logs import configure_logging
    from mlmon.settings import load_settings
    from model_server.app import create_app

    settings = load_settings(ModelServerSettings)
    configure_logging(settings.log_level)
    return create_app(settings)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the serve command (settings come from MLMON_* variables)."""
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: MLMON_WORKERS, 1); each has its own inference log, /metrics merges all",
    )


def handler(args: argparse.Namespace) -> int:
    from mlmon.errors import ConfigError
    from mlmon.logs import configure_logging
    from mlmon.settings import load_settings

    settings = load_settings(ModelServerSettings)
    workers = args.workers if args.workers is not None else settings.workers
    if not 1 <= workers <= 64:
        raise ConfigError(f"--workers {workers}: must be between 1 and 64")
    configure_logging(settings.log_level)
    serve(settings, workers)
    return 0


def add(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("serve", help=DESCRIPTION, description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=handler)
