"""SMTP sink for the embedded demo and the tests: every received message becomes one ``.eml`` file.

Files are named ``<UTC timestamp>-<n>.eml`` and written atomically (temp file + ``os.replace``), so a reader
polling the folder never sees half a message. ``X-Mlmon-Envelope-From``/``-To`` record the SMTP envelope
(Bcc recipients appear nowhere else).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class EmlFolderHandler:
    """aiosmtpd handler: writes each message into ``folder`` and answers 250."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def _clean(self, text: str) -> str:
        return "".join(ch for ch in text if ch.isprintable())

    def store(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> Path:
        with self._lock:
            n = next(self._counter)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        envelope = (
            f"X-Mlmon-Envelope-From: {self._clean(mail_from)}\r\n"
            f"X-Mlmon-Envelope-To: {', '.join(self._clean(r) for r in rcpt_tos)}\r\n"
        ).encode()
        target = self.folder / f"{stamp}-{n:06d}.eml"
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(envelope + content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return target

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", errors="surrogateescape")
        try:
            self.store(envelope.mail_from or "", list(envelope.rcpt_tos), content)
        except OSError as exc:
            return f"451 4.3.0 could not store the message: {type(exc).__name__}"
        return "250 2.0.0 Message accepted for delivery"


def start_smtp_sink(host: str, port: int, folder: Path, handler: Any | None = None, **smtp_kwargs: Any) -> Controller:
    """Start an SMTP server on ``host:port`` in a background thread; stop it with :func:`stop_smtp_sink`.

    ``handler`` defaults to :class:`EmlFolderHandler`; extra keyword arguments go to ``aiosmtpd.smtp.SMTP``
    (e.g. ``authenticator=…, auth_require_tls=False``).
    """
    controller = Controller(handler or EmlFolderHandler(folder), hostname=host, port=port, **smtp_kwargs)
    controller.start()
    return controller


def stop_smtp_sink(controller: Controller) -> None:
    with contextlib.suppress(AssertionError, RuntimeError):
        controller.stop()
