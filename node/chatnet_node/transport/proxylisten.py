"""Listeners whose connections start with a PROXY protocol header (``proxyProtocol: true``).

asyncio's servers hand a connection to its protocol (and, on a TLS
listener, start the TLS handshake) at once, and what they read is gone; a
PROXY header comes before everything, the TLS handshake included. So these
listeners accept sockets themselves: check that the TCP peer is a trusted
proxy (``trustedProxies``), read exactly the header's bytes (``proxyproto``
says how many may be read without passing its end), then give the socket
to asyncio (``connect_accepted_socket``, with TLS where the listener has it)
with the protocol told the real client's address.

A peer that is not a trusted proxy, a malformed header, or none within
``HEADER_TIMEOUT`` seconds: the connection is refused with a reason (an IRC
``ERROR`` line, or an HTTP 403 on a WebSocket port), logged with the peer.
A header that names no client (``UNKNOWN``, v2 ``LOCAL``: a balancer's
health check) leaves the proxy's own address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Sequence

from .forwarded import Network, is_trusted, normal_address
from .proxyproto import V1_MAX, V1_PREFIX, ProxyHeader, ProxyHeaderError, next_read, parse_header

log = logging.getLogger("chatnet.proxy")

#: Seconds a connection has to send its PROXY header (balancers send it at once).
HEADER_TIMEOUT = 10.0
#: Seconds a refused connection gets to read its refusal before it is closed.
REFUSAL_LINGER = 1.0

#: (TCP peer, reason) -> the bytes that tell the peer it is refused.
Refusal = Callable[[str, str], bytes]
#: The real client's address -> the connection's protocol.
ProtocolFactory = Callable[[str], asyncio.Protocol]


def irc_refusal(peer: str, reason: str) -> bytes:
    """An IRC goodbye, as the core words its own (``ERROR :Closing Link: ...``)."""
    return f"ERROR :Closing Link: {peer} ({reason})\r\n".encode()


def http_refusal(peer: str, reason: str) -> bytes:
    """HTTP 403 with the reason as the body (a WebSocket/HTTP port)."""
    body = f"{reason}\n".encode()
    head = (
        "HTTP/1.1 403 Forbidden\r\nConnection: close\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_header(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> ProxyHeader:
    """Read one PROXY header from ``sock``, not a byte more.

    Raises:
        ProxyHeaderError: malformed, or the peer closed before its end.
    """
    data = b""
    while (wanted := next_read(data)) > 0:
        if wanted == 1 and data.startswith(V1_PREFIX):
            # A v1 line: look at what has arrived (without taking it) and
            # take exactly up to its CR LF, instead of a byte at a time.
            try:
                ahead = sock.recv(V1_MAX - len(data), socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                ahead = b""
            end = ahead.find(b"\n")
            if end >= 0:
                wanted = end + 1
        chunk = await loop.sock_recv(sock, wanted)
        if not chunk:
            raise ProxyHeaderError("the connection closed before the PROXY header ended")
        data += chunk
    return parse_header(data)


class ProxiedListener:
    """A listening socket for PROXY-headed connections (the ``asyncio.Server`` of such ports)."""

    def __init__(
        self,
        sock: socket.socket,
        kind: str,
        factory: ProtocolFactory,
        trusted: Callable[[], Sequence[Network]],
        refusal: Refusal,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.sockets = [sock]
        self.kind = kind
        self.factory = factory
        self.trusted = trusted
        self.refusal = refusal
        self.ssl_context = ssl_context
        self._pending: set[asyncio.Task[None]] = set()
        self._accepting: asyncio.Task[None] | None = None
        #: Connections refused (for tests and logs).
        self.refused = 0

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        kind: str,
        factory: ProtocolFactory,
        trusted: Callable[[], Sequence[Network]],
        refusal: Refusal,
        ssl_context: ssl.SSLContext | None = None,
    ) -> ProxiedListener:
        """Bind ``host:port`` and start accepting. Raises OSError if the address is taken."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = socket.create_server(address[:2], family=family, backlog=1024)
        sock.setblocking(False)
        listener = cls(sock, kind, factory, trusted, refusal, ssl_context)
        listener._accepting = asyncio.create_task(listener._accept_loop())
        return listener

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        sock = self.sockets[0]
        while True:
            try:
                conn, address = await loop.sock_accept(sock)
            except OSError as exc:  # EMFILE and the like: wait, do not spin
                log.warning("%s listener: accept failed: %s", self.kind, exc)
                await asyncio.sleep(0.1)
                continue
            conn.setblocking(False)
            task = asyncio.create_task(self._handshake(conn, normal_address(str(address[0]))))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _handshake(self, conn: socket.socket, peer: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            if not is_trusted(peer, self.trusted()):
                raise ProxyHeaderError(
                    f"{peer} is not a trusted proxy: this port takes connections "
                    "only through the load balancer (PROXY protocol)"
                )
            async with asyncio.timeout(HEADER_TIMEOUT):
                header = await read_header(loop, conn)
        except ProxyHeaderError as exc:
            await self._refuse(conn, peer, str(exc))
            return
        except TimeoutError:
            await self._refuse(conn, peer, f"no PROXY header within {HEADER_TIMEOUT:g} seconds")
            return
        except OSError:
            conn.close()
            return
        except asyncio.CancelledError:
            conn.close()  # the listener is closing
            raise
        client = normal_address(header.source[0]) if header.source is not None else peer
        try:
            await loop.connect_accepted_socket(
                lambda: self.factory(client), conn, ssl=self.ssl_context
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.info("%s: connection from %s (via %s) failed: %s", self.kind, client, peer, exc)
            conn.close()

    async def _refuse(self, conn: socket.socket, peer: str, reason: str) -> None:
        self.refused += 1
        log.warning("refused a connection on the %s listener from %s: %s", self.kind, peer, reason)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(REFUSAL_LINGER):
                await loop.sock_sendall(conn, self.refusal(peer, reason))
                conn.shutdown(socket.SHUT_WR)
                # Read what the peer sent until it closes: closing with unread
                # bytes would reset the connection and could lose the refusal.
                while await loop.sock_recv(conn, 4096):
                    pass
        except (OSError, TimeoutError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        """Stop accepting; connections still reading their header are dropped."""
        if self._accepting is not None:
            self._accepting.cancel()
        for task in list(self._pending):
            task.cancel()
        for sock in self.sockets:
            sock.close()

    async def wait_closed(self) -> None:
        tasks = [t for t in (self._accepting, *self._pending) if t is not None]
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
