"""The front door: one TCP listener per client port, proxying to a chosen server.

It plays the network Service locally: each new connection (IRC, or HTTP and
WebSocket, which are TCP once the server is chosen) goes to the server that
``choose`` returns, the least-loaded ready one. When none has room, an IRC
client gets an IRC error and an HTTP client a 503, instead of a silent hang.

A proxied connection lasts as long as its server keeps it: when the server
closes (a QUIT, or a drain's final ``ERROR``), what it sent last is passed on
and the client's side is closed too. So ``chatnet up`` stops in this order:
``stop_accepting``, stop the servers (each says goodbye to its clients through
here), then ``close``, which cuts whatever is left after a short linger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger("chatnet.up")

Address = tuple[str, int]
#: The (host, port) to send a new connection to, skipping ``exclude``; None when all are full.
Chooser = Callable[[set[Address]], Address | None]
#: Servers tried for one connection before giving up (one may have just died).
ATTEMPTS = 3
#: Seconds ``close`` lets proxied connections finish on their own before cutting them.
LINGER = 0.5
#: Seconds a closing socket may take to flush before it is aborted.
CLOSE_LIMIT = 0.5

_FULL_IRC = b"ERROR :Closing link: every server of this network is full, try again later\r\n"
_FULL_HTTP = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 32\r\nConnection: close\r\n\r\nevery server is full, try later\n"
)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        pass


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close after flushing what is buffered; abort a peer that reads nothing."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_LIMIT):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        writer.transport.abort()


class Listener:
    """One listening port of a front door."""

    def __init__(self, host: str, port: int, choose: Chooser, kind: str) -> None:
        self.host = host
        self.port = port
        self.choose = choose
        self.kind = kind
        self.server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen; returns the port (useful when asked for port 0)."""
        self.server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            await self._proxy(reader, writer)
        except asyncio.CancelledError:
            # Cut by close() (or by the event loop shutting down). This task is the
            # streams' connection callback: ending it cancelled makes Python 3.11 log
            # "Exception in callback ... CancelledError", so end it normally.
            pass
        finally:
            writer.close()  # when cut midway; a no-op after a clean finish
            if task is not None:
                self._conns.discard(task)

    async def _proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tried: set[Address] = set()
        upstream = None
        while upstream is None and len(tried) < ATTEMPTS:
            target = self.choose(tried)
            if target is None:
                break
            tried.add(target)
            try:
                upstream = await asyncio.open_connection(*target)
            except OSError as exc:
                # Its last probe said ready, but it has just gone: try the next best.
                log.warning("front door: server %s:%d refused a connection: %s", *target, exc)
        if upstream is None:
            writer.write(_FULL_IRC if self.kind == "irc" else _FULL_HTTP)
            with contextlib.suppress(OSError):
                await writer.drain()
            await _close(writer)
            return
        up_reader, up_writer = upstream
        to_server = asyncio.create_task(_pipe(reader, up_writer))
        try:
            # The server ends the conversation: once it has closed its side (after its
            # last words, passed on here), the connection is over.
            await _pipe(up_reader, writer)
        finally:
            to_server.cancel()
            await asyncio.gather(to_server, return_exceptions=True)
            up_writer.close()
            await _close(writer)

    def stop_accepting(self) -> None:
        """Take no new connections; the proxied ones carry on."""
        if self.server is not None:
            self.server.close()

    async def close(self, linger: float = LINGER) -> None:
        """Stop listening, give proxied connections ``linger`` seconds to end, cut the rest.

        Stop their servers first: a server that closes a connection ends it here too,
        its goodbye delivered.
        """
        self.stop_accepting()
        if self._conns and linger > 0:
            await asyncio.wait(set(self._conns), timeout=linger)
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(set(self._conns), timeout=CLOSE_LIMIT + 0.5)
