"""Logging is configured here and nowhere else."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send mlmon's logs to stderr in one format; quiet the chattiest libraries."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("elastic_transport", "urllib3", "httpx", "feast", "mail.log", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The client logs a full traceback per retry during a store outage; the outage is already counted and
    # logged once by mlmon.
    for retries in ("elastic_transport.transport", "elastic_transport.node_pool"):
        logging.getLogger(retries).setLevel(logging.ERROR)
