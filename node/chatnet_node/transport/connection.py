"""IRC over TCP and TLS, and the connection side every client transport shares.

Output is coalesced by the core: it appends to each client's outbox, and one
``core.flush`` per event-loop turn (scheduled by ``flush_soon``) hands each
dirty connection its bytes in a single ``transport.write``.
A client whose unsent bytes pass ``sendqBytes`` is dropped ("SendQ
exceeded"): a slow reader never slows the server or the other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Callable
from typing import cast

from ..irc import wire
from ..irc.core import ChatCore
from ..irc.message import MAX_LINE_BODY, MAX_TAGS_FROM_CLIENT
from ..irc.model import Client
from ..irc.output import TURN_BUDGET
from .drops import drop_soon
from .forwarded import normal_address
from .tls import certificate_fingerprint

log = logging.getLogger("chatnet.transport")

# Longest raw line kept in memory; anything longer is discarded as it arrives.
MAX_RAW_LINE = MAX_TAGS_FROM_CLIENT + MAX_LINE_BODY
#: A read at least this big ends the connection's reading for this event-loop
#: turn (see ``Connection.read_turn_done``).
READ_TURN_BYTES = 65536


def flush_soon(core: ChatCore, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """The core's ``wake``: flush once, at the end of this event-loop turn.

    Big fan-outs and drops get ``TURN_BUDGET`` of it; what is left asks for
    the next turn, after the sockets have been read (see ``Output.flush``).
    However often it is asked, one flush is pending at a time: two would
    each take a budget, and each ask for another turn.
    """
    flush = core.output.flush
    pending = False

    def run() -> None:
        nonlocal pending
        pending = False
        flush(TURN_BUDGET)

    def wake() -> None:
        nonlocal pending
        if not pending:
            pending = True
            loop.call_soon(run)

    return wake


def raw_fd(transport: asyncio.BaseTransport) -> int:
    """The socket's file descriptor of a plain (non-TLS) transport, or -1."""
    if transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    return int(sock.fileno()) if sock is not None else -1


#: SO_LINGER on, timeout 0: close() resets the connection and frees its
#: unsent bytes at once (a slow reader's kernel buffer is full by definition).
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class Connection(asyncio.Protocol):
    """The ``Sink`` side shared by every client transport."""

    __slots__ = (
        "backlog",
        "buffered",
        "client",
        "closed",
        "core",
        "fd",
        "kind",
        "peer",
        "transport",
    )

    def __init__(self, core: ChatCore, peer: str | None = None) -> None:
        self.core = core
        #: The real client's address when a trusted proxy named it (PROXY
        #: header, forwarded header); None: the TCP peer is the client.
        self.peer = peer
        self.kind = wire.STREAM
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.closed = False
        self.fd = -1  # the raw socket, for plain TCP only (see write)
        self.buffered = False  # the transport holds unsent bytes (pause_writing says so)
        #: Bytes written while the transport held some: sent once it has none.
        self.backlog = bytearray()

    # Sink.

    def write(self, data: bytes) -> None:
        """Hand bytes to the kernel; drop the client if its queue overflows.

        When the transport has nothing buffered, the bytes go straight to the
        socket with one ``os.write`` (what ``transport.write`` would do, minus
        its Python overhead, which matters at a thousand writes per message);
        whatever the kernel does not take is left to the transport. ``fd`` is
        -1 from the moment the connection starts closing, so a socket number
        the kernel hands out again is never written to.

        Once the transport holds bytes, what follows waits in ``backlog``
        until it has sent them all (``resume_writing``). A reader that has
        stopped reading then costs a ``bytearray`` append a line: a
        ``transport.write`` would build an object per line (uvloop's write
        context), and 10,000 such readers made millions of them, whose
        garbage collections stopped the server for up to a second. Plain
        TCP only: asyncio's TLS transport, given a high-water mark of 0,
        can stay paused with nothing buffered, and would never send it.
        """
        fd = self.fd
        if self.buffered and fd >= 0:
            self._queue(data)
            return
        if fd >= 0:
            try:
                sent = os.write(fd, data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # the transport meets the same error and reports it
            if sent == len(data):
                return
            data = data[sent:]
        transport = self.transport
        if transport is None or self.closed:
            return
        transport.write(data)
        if self.buffered:
            self._check_sendq(transport)

    def _queue(self, data: bytes) -> None:
        """Keep ``data`` for when the transport has sent what it holds."""
        transport = self.transport
        if transport is None or self.closed:
            return
        self.backlog += data
        self._check_sendq(transport)

    def goodbye(self, data: bytes) -> None:
        """Bytes that end the connection: after the backlog, never counted against the sendq.

        A client quit near its ``sendqBytes`` still gets its last words
        (a WebSocket close frame) instead of a reset.
        """
        if self.buffered and self.fd >= 0:
            self.backlog += data
        elif self.transport is not None:
            self.transport.write(data)

    def release_backlog(self) -> None:
        """Hand what waits in ``backlog`` to the transport, after what it holds."""
        if self.backlog and self.transport is not None:
            self.transport.write(bytes(self.backlog))
        self.backlog = bytearray()

    def _check_sendq(self, transport: asyncio.Transport) -> None:
        unsent = len(self.backlog) + transport.get_write_buffer_size()
        if unsent > self.core.config.limits.sendq_bytes:
            self.sendq_exceeded()

    def read_turn_done(self, received: int) -> None:
        """After a big read, read no more from this client until the turn's output left.

        asyncio's loop reads a socket once per turn (at most 256 KiB); uvloop
        (libuv) goes on reading while each read fills its buffer, up to 32
        times, before the turn's flush. A client sending megabytes at once
        would then put megabytes in every member's outbox in one turn and
        push fast readers past ``sendqBytes``. Pausing after a read of
        ``READ_TURN_BYTES`` or more, and resuming once the flush (scheduled
        earlier in the turn) has run, keeps uvloop's turns as asyncio's; the
        small reads of ordinary chat never pause.
        """
        transport = self.transport
        if received < READ_TURN_BYTES or transport is None or self.closed:
            return
        transport.pause_reading()
        asyncio.get_running_loop().call_soon(self._resume_reading)

    def _resume_reading(self) -> None:
        transport = self.transport
        if transport is not None and not self.closed and not transport.is_closing():
            transport.resume_reading()

    def attach(self, transport: asyncio.BaseTransport) -> asyncio.Transport:
        """Keep the transport; ask it to report any buffered byte (see ``buffered``)."""
        # A cast, not isinstance: uvloop's transports implement asyncio.Transport
        # without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        size = self.core.config.limits.socket_send_buffer
        sock = transport.get_extra_info("socket")
        if size and sock is not None:
            # A reader that never reads pins the kernel's send buffer too, and
            # Linux autotunes it up to 4 MiB: capped, 10,000 of them cannot
            # take the host's TCP memory (``sendqBytes`` bounds the rest). Off
            # by default: a small buffer drops readers that are merely behind
            # in a burst sooner.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        # High-water mark 0: pause_writing as soon as anything is buffered,
        # resume_writing once it has all gone, so "may I write directly?" is a
        # flag read instead of a method call per write.
        transport.set_write_buffer_limits(high=0)
        return transport

    def pause_writing(self) -> None:
        self.buffered = True

    def resume_writing(self) -> None:
        self.buffered = False
        backlog = self.backlog
        if backlog:
            self.backlog = bytearray()
            if not self.closed:
                self.write(bytes(backlog))

    def close(self) -> None:
        """Close once the written bytes are sent."""
        if not self.closed:
            self.finish_close()

    def finish_close(self) -> None:
        """Close the transport after what is buffered (subclasses add a goodbye)."""
        self.closed = True
        self.fd = -1
        if self.transport is not None:
            self.release_backlog()
            self.transport.close()

    def sendq_exceeded(self) -> None:
        """Drop a client that does not read fast enough.

        The connection takes no more bytes from now on; the client leaves
        (QUIT "SendQ exceeded") and the socket is reset in a coming turn,
        a slice of the turn's overflows at a time (see ``drops``).
        """
        self.closed = True
        self.fd = -1
        self.backlog = bytearray()  # never sent: the connection is reset
        if self.transport is not None:
            self.transport.pause_reading()  # nor is anything it sends read meanwhile
        drop_soon(self.core, self.client, self.reset)

    def reset(self) -> None:
        """Abort the connection with a TCP reset, discarding what is unsent."""
        transport = self.transport
        if transport is None:
            return  # already lost
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Else the kernel keeps trying to deliver what the reader never
            # reads, holding its send buffer for minutes after the close.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        transport.abort()

    def peer_address(self) -> str:
        """The client's IP address, as limits, bans, cloaks and WHOIS use it.

        What a trusted proxy said (``peer``), else the TCP peer's address
        (IPv4-mapped IPv6 written as IPv4, so one client has one address).
        """
        if self.peer is not None:
            return self.peer
        return self.tcp_peer()

    def tcp_peer(self) -> str:
        """The TCP peer's address (the proxy's, behind one)."""
        if self.transport is None:
            return "unknown"
        peer = self.transport.get_extra_info("peername")
        return normal_address(str(peer[0])) if peer else "unknown"

    def lost(self, reason: str) -> None:
        """Tell the core the connection is gone (unless it closed it itself)."""
        self.closed = True
        self.fd = -1
        self.transport = None
        self.backlog = bytearray()
        client = self.client
        # The client and this connection point at each other: unlinked, both
        # are freed now, not by a full collection, which would free every
        # client gone since (10,000 dropped readers) in one pause.
        self.client = None
        if client is not None and not client.closed:
            self.core.disconnect(client, reason)


class IrcStreamProtocol(Connection):
    """IRC over TCP or TLS: CR LF (or LF) terminated lines."""

    __slots__ = ("buffer", "discarding", "secure")

    def __init__(self, core: ChatCore, secure: bool = False, peer: str | None = None) -> None:
        super().__init__(core, peer)
        self.secure = secure
        self.buffer = b""
        self.discarding = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = self.attach(transport)
        if not self.secure:
            self.fd = raw_fd(transport)
        certfp = (
            certificate_fingerprint(transport.get_extra_info("ssl_object")) if self.secure else None
        )
        self.client = self.core.connect(self, self.peer_address(), self.secure, certfp=certfp)

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
        self.read_turn_done(len(data))

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
