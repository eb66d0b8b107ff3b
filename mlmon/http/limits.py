"""The request body, read once and bounded in size and time before the app runs.

- 413 for a body over ``MLMON_MAX_BODY_BYTES``, checked on Content-Length and on the streamed size (a client
  that lies in Content-Length, or streams chunked, is cut at the limit too).
- 408 when the whole body has not arrived within ``MLMON_BODY_TIMEOUT_S`` of the request's start (a client
  that sends its headers and then trickles or stalls the body holds a connection for that long at most).

Both answers use the shared error shape (``mlmon.http.errors.error_body``) and close the connection, since
the rest of the body is never read. No handler sees a byte of a refused body.
"""

from __future__ import annotations

import json

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlmon.errors import FieldError, PayloadTooLarge, RequestTimeout
from mlmon.http.errors import error_body

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def send_error(send: Send, exc: FieldError) -> None:
    """Answer with ``exc`` in the shared error shape and ask the server to close the connection."""
    body = json.dumps(error_body(exc)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.http_status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Disconnected(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge("body", f"request body exceeds max_body_bytes ({self.max_bytes} bytes)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await send_error(send, self._too_large())
                    return
        body: bytes | None = None
        try:
            with anyio.move_on_after(self.timeout_s):
                body = await self._read(receive)
        except _Disconnected:
            return  # the client went away: nothing to answer
        if body is None:
            reason = f"the request body did not arrive within {self.timeout_s:g} s (body_timeout_s)"
            await send_error(send, RequestTimeout("body", reason))
            return
        if len(body) > self.max_bytes:
            await send_error(send, self._too_large())
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes:
        """The whole body, or as much as shows it is too large (one byte over the limit)."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.max_bytes:
                break
            more = message.get("more_body", False)
        return b"".join(chunks)
