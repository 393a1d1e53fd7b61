"""The front door: one TCP listener per client port, handing each client to a server.

It plays the network Service locally: each new connection (IRC, or HTTP and
WebSocket, which are TCP once the server is chosen) goes to the server that
``choose`` returns, the least-loaded ready one. When none has room, an IRC
client gets an IRC error and an HTTP client a 503, instead of a silent hang.

Handoff first: the accepted socket itself is passed to the chosen node over
its handoff socket (``SCM_RIGHTS``, see ``chatnet_node.transport.handoff``)
and closed here, so the front door holds no socket and copies no byte per
client (with a relay, 10,000 clients need 20,000 descriptors here, more than
a usual hard limit allows). When a node cannot take a handoff (no handoff
socket, or its queue is full) the connection is relayed instead. On the
IRC-over-TLS port (``endpoint.tls``) the door never reads a byte either: the
raw socket is handed off (or relayed) before the handshake, and the node does
TLS with its own certificate, so it sees the client's address and certificate.

The relay is two asyncio protocols wired back to back, not streams: bytes
read on one side are handed to the other side's transport as they are, and
when that transport's buffer passes ``HIGH_WATER`` the reading side pauses
until it drains. So a connection costs two sockets and two small objects,
never more than ``HIGH_WATER`` of buffered bytes per direction; with streams
(a 64 KiB reader buffer and a task per direction) 5,000 clients cost 157 MiB.

Each handoff is counted in ``live`` (by server address) until the connection
ends, so the balancer sees a burst the servers have not reported yet.

A relayed connection lasts as long as its server keeps it: when the server
closes (a QUIT, or a drain's final ``ERROR``), what it sent last is passed on
and the client's side is closed too. So ``chatnet up`` stops in this order:
``stop_accepting``, stop the servers (each says goodbye to its clients through
here), then ``close``, which cuts whatever is left after a short linger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("chatnet.up")

Address = tuple[str, int]
#: The (host, port) to send a new connection to, skipping ``exclude``; None when all are full.
Chooser = Callable[[set[Address]], Address | None]
#: The handoff socket name of the server at an address, if it takes handoffs.
HandoffOf = Callable[[Address], str | None]
#: Servers tried for one connection before giving up (one may have just died).
ATTEMPTS = 3
#: Seconds ``close`` lets relayed connections finish on their own before cutting them.
LINGER = 0.5
#: Seconds a closing socket may take to flush before it is aborted.
CLOSE_LIMIT = 0.5
#: Seconds to reach a chosen server before trying the next one.
CONNECT_LIMIT = 5.0
#: Bytes buffered towards one side before the other side stops being read.
HIGH_WATER = 64 * 1024
#: Connections accepted per wake-up of the listening socket.
ACCEPT_BATCH = 128
#: Pending connections the kernel queues for a burst of registrations.
BACKLOG = 4096

#: The message naming a handed-off socket's listener kind (``chatnet_node.transport.handoff``).
HANDOFF_KIND = {"irc": b"i", "ws": b"w", "irc-tls": b"t"}

_FULL_IRC = b"ERROR :Closing link: every server of this network is full, try again later\r\n"
_FULL_HTTP = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 32\r\nConnection: close\r\n\r\nevery server is full, try later\n"
)


def _close_soon(transport: asyncio.Transport) -> None:
    """Close after flushing what is buffered; abort a peer that reads nothing."""
    if transport.is_closing():
        return
    transport.close()
    asyncio.get_running_loop().call_later(CLOSE_LIMIT, transport.abort)


class _Side(asyncio.Protocol):
    """One socket of a relayed connection; what it reads goes to ``peer``."""

    def __init__(self, relay: _Relay) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    # The peer's buffer is full: stop reading this side until it drains.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.peer is not None and self.peer.transport is not None:
            _close_soon(self.peer.transport)
        self.relay.side_lost()


class _ClientSide(_Side):
    def __init__(self, listener: Listener) -> None:
        super().__init__(_Relay(listener))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # Nothing to relay to yet: keep what the client sends in the kernel meanwhile.
        assert self.transport is not None
        self.transport.pause_reading()
        self.relay.start(self)

    def eof_received(self) -> bool:
        # The client is done sending; the server ends the conversation (half-close).
        peer = self.peer.transport if self.peer is not None else None
        if peer is not None and peer.can_write_eof() and not peer.is_closing():
            peer.write_eof()
        return True


class _ServerSide(_Side):
    def eof_received(self) -> bool:
        # The server has said its last words: pass them on, then close both sides.
        return False


class _Relay:
    """One client connection and, once chosen and reached, its server connection."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.client: _ClientSide | None = None
        self.server: _ServerSide | None = None
        self.target: Address | None = None
        self.done = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.connecting = True

    def start(self, client: _ClientSide) -> None:
        self.client = client
        self.listener.relays.add(self)
        self.task = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            await self._choose_and_connect()
        finally:
            self.connecting = False
            self.side_lost()

    async def _choose_and_connect(self) -> None:
        assert self.client is not None and self.client.transport is not None
        loop = asyncio.get_running_loop()
        tried: set[Address] = set()
        while len(tried) < ATTEMPTS and not self.client.closed:
            target = self.listener.choose(tried)
            if target is None:
                break
            tried.add(target)
            self.listener.live[target] += 1  # reserved before the connect, like a ticket
            try:
                async with asyncio.timeout(CONNECT_LIMIT):
                    _, server = await loop.create_connection(lambda: _ServerSide(self), *target)
            except (OSError, TimeoutError) as exc:
                self.listener.live[target] -= 1
                # Its last probe said ready, but it has just gone: try the next best.
                log.warning("front door: server %s:%d refused a connection: %s", *target, exc)
                continue
            self.target = target
            self.server = server
            if self.client.closed:
                assert server.transport is not None
                _close_soon(server.transport)
                return
            server.peer, self.client.peer = self.client, server
            self.client.transport.resume_reading()
            return
        if not self.client.closed:
            # A TLS client cannot read a plain refusal: it is only closed.
            full = {"irc": _FULL_IRC, "ws": _FULL_HTTP}.get(self.listener.kind, b"")
            self.client.transport.write(full)
            _close_soon(self.client.transport)

    def side_lost(self) -> None:
        """Called when a socket closes: the relay is over once both are (or the
        client is and no server was reached); while connecting, ``_connect`` decides."""
        if self.connecting:
            return
        client_gone = self.client is None or self.client.closed
        server_gone = self.server is None or self.server.closed
        if client_gone and server_gone:
            self._finish()

    def _finish(self) -> None:
        if self.done.done():
            return
        if self.target is not None:
            self.listener.live[self.target] -= 1
            if self.listener.live[self.target] <= 0:
                del self.listener.live[self.target]
        self.listener.relays.discard(self)
        self.done.set_result(None)

    def cut(self) -> None:
        for side in (self.client, self.server):
            if side is not None and side.transport is not None:
                side.transport.abort()
        if self.task is not None:
            self.task.cancel()


class Listener:
    """One listening port of a front door."""

    def __init__(
        self,
        host: str,
        port: int,
        choose: Chooser,
        kind: str,
        handoff_of: HandoffOf | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.choose = choose
        self.kind = kind
        self.handoff_of = handoff_of
        self.sock: socket.socket | None = None
        self.relays: set[_Relay] = set()
        #: Connections being relayed (or connecting) to each server address.
        self.live: Counter[Address] = Counter()
        #: Connections handed off so far (the rest were relayed or refused).
        self.handed_off = 0
        self._channels: dict[str, socket.socket] = {}
        self._accepting: set[asyncio.Task[object]] = set()

    async def start(self) -> int:
        """Listen; returns the port (useful when asked for port 0)."""
        sock = socket.create_server((self.host, self.port), backlog=BACKLOG)
        sock.setblocking(False)
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)
        return self.port

    def _accept(self) -> None:
        if self.sock is None:
            return
        for _ in range(ACCEPT_BATCH):
            try:
                client, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: leave it queued, log once a wake-up
                log.warning("front door: cannot accept: %s", exc)
                return
            client.setblocking(False)
            if not self._hand_off(client):
                self._relay(client)

    def _hand_off(self, client: socket.socket) -> bool:
        """Pass ``client`` to the chosen server's handoff socket; False if it cannot be."""
        if self.handoff_of is None:
            return False
        target = self.choose(set())
        name = self.handoff_of(target) if target is not None else None
        if name is None:
            return False
        channel = self._channels.get(name)
        try:
            if channel is None:
                channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                channel.setblocking(False)
                self._channels[name] = channel
                channel.connect("\0" + name)
            socket.send_fds(channel, [HANDOFF_KIND[self.kind]], [client.fileno()])
        except BlockingIOError:
            return False  # its queue is full for now: relay this one
        except OSError as exc:
            log.warning("front door: handoff to %s failed (%s); relaying", name, exc)
            dropped = self._channels.pop(name, None)
            if dropped is not None:
                dropped.close()
            return False
        client.close()  # the server has its own descriptor now
        self.handed_off += 1
        return True

    def _relay(self, client: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.connect_accepted_socket(lambda: _ClientSide(self), client))
        self._accepting.add(task)
        task.add_done_callback(self._accepting.discard)

    def stop_accepting(self) -> None:
        """Take no new connections; the relayed ones carry on."""
        if self.sock is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    async def close(self, linger: float = LINGER) -> None:
        """Stop listening, give relayed connections ``linger`` seconds to end, cut the rest.

        Stop their servers first: a server that closes a connection ends it here too,
        its goodbye delivered.
        """
        self.stop_accepting()
        if self.relays and linger > 0:
            await asyncio.wait([r.done for r in self.relays], timeout=linger)
        for relay in list(self.relays):
            relay.cut()
        if self.relays:
            await asyncio.wait([r.done for r in self.relays], timeout=CLOSE_LIMIT + 0.5)
