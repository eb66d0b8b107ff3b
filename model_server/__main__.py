"""``python -m model_server``: serve the model with uvicorn on ``MLMON_HOST``:``MLMON_PORT``."""

from __future__ import annotations

import os
import sys

from mlmon.errors import ConfigError
from mlmon.logs import configure_logging
from mlmon.settings import ModelServerSettings, load_settings


def serve(settings: ModelServerSettings) -> None:
    """Run the model server until SIGINT/SIGTERM (used by ``mlmon serve``)."""
    # One request's rows are scored on one core: OpenMP threads per prediction (scikit-learn's gradient
    # boosting) cost far more than they save on small batches. Must be set before the model is loaded.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import uvicorn

    from model_server.app import create_app

    configure_logging(settings.log_level)
    app = create_app(settings)
    # One process here; with several workers each has its own local inference log (mlmon.inference_log).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=15,
    )


def main() -> int:
    try:
        settings = load_settings(ModelServerSettings)
        serve(settings)
    except ConfigError as exc:
        print(f"mlmon model server: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
