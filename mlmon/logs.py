"""Logging is configured here and nowhere else."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record, not the stream of when it was made (a
    command run in-process, by a test or an embedding program, may replace and close stderr afterwards)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(level: str = "INFO") -> None:
    """Send mlmon's logs to stderr in one format; quiet the chattiest libraries. Calling it again replaces
    the handler it installed before, and only that one."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("elastic_transport", "urllib3", "httpx", "feast", "mail.log", "aiosmtpd"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The client logs a full traceback per retry during a store outage; the outage is already counted and
    # logged once by mlmon.
    for retries in ("elastic_transport.transport", "elastic_transport.node_pool"):
        logging.getLogger(retries).setLevel(logging.ERROR)
