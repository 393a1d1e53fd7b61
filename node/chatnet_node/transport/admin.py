"""The admin listener: plain HTTP for ``/healthz``, ``/readyz``, ``/status``, ``/metrics``.

A port of its own, so a cluster can keep it private (the client Service does
not expose it, a NetworkPolicy admits only the operator and the metrics
scraper) while the WebSocket port faces the public. One request per
connection, answered and closed: probes and scrapers open a connection each
time anyway. No WebSocket, no page, no chat: nothing here touches the core
beyond reading it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import cast

from websockets.exceptions import SecurityError
from websockets.http11 import Request
from websockets.streams import StreamReader

from .http import HttpRoutes, response

#: Bytes of request head accepted before the connection is answered 400 and closed.
MAX_HEAD = 8192


class AdminProtocol(asyncio.Protocol):
    """One HTTP connection on the admin port."""

    def __init__(self, routes: HttpRoutes) -> None:
        self.routes = routes
        self.transport: asyncio.Transport | None = None
        self.reader = StreamReader()
        self.parser: Generator[None, None, Request] = Request.parse(self.reader.read_line)
        self.received = 0
        self.start = b""
        self.done = False
        next(self.parser)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not isinstance: uvloop's transports implement asyncio.Transport
        # without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self.received += len(data)
        if len(self.start) < len(b"GET "):
            # The parser takes any method; the admin paths are read-only.
            self.start += data[: len(b"GET ") - len(self.start)]
            if not b"GET ".startswith(self.start):
                body = b"only GET is served here\n"
                self._answer(response(405, body, "text/plain; charset=utf-8").serialize())
                return
        self.reader.feed_data(data)
        try:
            next(self.parser)
        except StopIteration as finished:
            request: Request = finished.value
            path = request.path.split("?", 1)[0]
            self._answer(self.routes.get(path).serialize())
            return
        except (
            ValueError,
            EOFError,
            NotImplementedError,
            UnicodeDecodeError,
            SecurityError,  # a header line too long, too many headers
        ) as exc:
            body = f"bad request: {exc}\n".encode()
            self._answer(response(400, body, "text/plain; charset=utf-8").serialize())
            return
        if self.received > MAX_HEAD:
            body = b"request head too long\n"
            self._answer(response(400, body, "text/plain; charset=utf-8").serialize())

    def _answer(self, data: bytes) -> None:
        self.done = True
        if self.transport is not None:
            self.transport.write(data)
            self.transport.close()

    def eof_received(self) -> bool | None:
        return None  # close our side too
