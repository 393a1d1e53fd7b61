"""Thin asyncio adapters between sockets and the core: IRC over TCP and TLS.

Output is coalesced: ``write`` only appends to the connection's pending list
and marks it dirty; one ``Flusher`` callback per event-loop turn hands each
dirty connection's bytes to its transport in a single ``transport.write``.
A client whose unsent bytes pass ``sendqBytes`` is dropped ("SendQ
exceeded"): a slow reader never slows the server or the other clients.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from . import wire
from .message import MAX_LINE_BODY, MAX_TAGS_FROM_CLIENT

if TYPE_CHECKING:
    from .client import Client
    from .core import ChatCore

log = logging.getLogger("chatnet.transport")

# Longest raw line kept in memory; anything longer is discarded as it arrives.
MAX_RAW_LINE = MAX_TAGS_FROM_CLIENT + MAX_LINE_BODY


class Flusher:
    """Writes every dirty connection once per event-loop turn."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Connection] = []
        self._scheduled = False

    def mark(self, connection: Connection) -> None:
        """Queue ``connection`` for the next flush."""
        self._dirty.append(connection)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write out everything pending (connections marked meanwhile wait a turn)."""
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection.flush()


class Connection(asyncio.Protocol):
    """The ``Sink`` side shared by every client transport."""

    kind = wire.STREAM

    def __init__(self, core: ChatCore, flusher: Flusher) -> None:
        self.core = core
        self.flusher = flusher
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.pending: list[bytes] = []
        self.marked = False
        self.close_requested = False
        self.closed = False

    # Sink.

    def write(self, data: bytes) -> None:
        """Queue bytes; they leave in this loop turn's flush. Never blocks."""
        if self.closed:
            return
        self.pending.append(data)
        if not self.marked:
            self.marked = True
            self.flusher.mark(self)

    def close(self) -> None:
        """Close once the queued bytes are written."""
        if self.closed:
            return
        self.close_requested = True
        if not self.marked:
            self.marked = True
            self.flusher.mark(self)

    # Flushing.

    def flush(self) -> None:
        """Hand everything pending to the transport in one write."""
        self.marked = False
        transport = self.transport
        if transport is None or self.closed:
            self.pending.clear()
            return
        if self.pending:
            pending = self.pending
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            transport.write(data)
            if transport.get_write_buffer_size() > self.core.config.limits.sendq_bytes:
                self.sendq_exceeded()
                return
        if self.close_requested:
            self.finish_close()

    def finish_close(self) -> None:
        """Close the transport after what is buffered (subclasses add a goodbye)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def sendq_exceeded(self) -> None:
        """Drop a client that does not read fast enough."""
        self.core.stats.sendq_exceeded += 1
        client = self.client
        log.info("dropping %s: SendQ exceeded", client.nick if client else "connection")
        self.closed = True
        if client is not None:
            self.core.disconnect(client, "SendQ exceeded")
        if self.transport is not None:
            self.transport.abort()

    def peer_address(self) -> str:
        """The remote IP address, as the core's per-address limit counts it."""
        assert self.transport is not None
        peer = self.transport.get_extra_info("peername")
        return str(peer[0]) if peer else "unknown"

    def lost(self, reason: str) -> None:
        """Tell the core the connection is gone (unless it closed it itself)."""
        self.closed = True
        self.transport = None
        client = self.client
        if client is not None and not client.closed:
            self.core.disconnect(client, reason)


class IrcStreamProtocol(Connection):
    """IRC over TCP or TLS: CR LF (or LF) terminated lines."""

    def __init__(self, core: ChatCore, flusher: Flusher, secure: bool = False) -> None:
        super().__init__(core, flusher)
        self.secure = secure
        self.buffer = b""
        self.discarding = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.client = self.core.connect(self, self.peer_address(), self.secure)

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None or client.closed:
            return
        buffer = self.buffer + data if self.buffer else data
        if b"\n" not in data:
            self._keep_partial(client, buffer)
            return
        lines = buffer.split(b"\n")
        self._keep_partial(client, lines.pop())
        core = self.core
        for raw in lines:
            if self.discarding:
                self.discarding = False  # the end of a line that was too long
                continue
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                continue
            if len(line) > MAX_RAW_LINE:
                core.input_too_long(client)
                continue
            core.receive_line(client, line)
            if client.closed:
                return

    def _keep_partial(self, client: Client, partial: bytes) -> None:
        if len(partial) > MAX_RAW_LINE:
            # Never hold a huge line in memory: answer once, drop the rest.
            if not self.discarding:
                self.core.input_too_long(client)
            self.discarding = True
            self.buffer = b""
        else:
            self.buffer = partial

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"Read error: {exc}" if exc else "Connection closed"
        self.lost(reason)
