"""TLS handshakes with a deadline and a bound per address block.

asyncio's own TLS server starts the handshake before any protocol can see
the peer's address, so a slowloris on TLS (thousands of connections that
start a handshake and stall) would hold sockets for the default minute. A
``TlsGate`` accepts the plain TCP connection instead, refuses it at once
when its address block already has ``maxHandshakesPerAddress`` handshakes
under way, else runs the handshake (``loop.start_tls``) with
``handshakeTimeout`` and hands the TLS transport to the real protocol
(IRC or WebSocket). A refused or stalled connection is closed without a
word: before the handshake there is no channel to say one on.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import cast

from ..irc.core import ChatCore

log = logging.getLogger("chatnet.transport")


class _Buffer(asyncio.Protocol):
    """Holds what arrives between the handshake and the real protocol taking over."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.lost: tuple[Exception | None] | None = None

    def data_received(self, data: bytes) -> None:
        self.data.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = (exc,)


class TlsGate(asyncio.Protocol):
    """The protocol a TLS listener accepts with; the real one comes after the handshake."""

    def __init__(
        self,
        core: ChatCore,
        context: ssl.SSLContext,
        make: Callable[[], asyncio.Protocol],
        address: str | None = None,
    ) -> None:
        self.core = core
        self.context = context
        self.make = make
        #: The client's address when a PROXY header named it; else the TCP peer's.
        self.address = address
        self.block: str | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not isinstance: uvloop's transports implement asyncio.Transport
        # without subclassing it.
        transport = cast(asyncio.Transport, transport)
        transport.pause_reading()  # start_tls reads from here on
        peer = transport.get_extra_info("peername")
        address = self.address or (str(peer[0]) if peer else "unknown")
        core = self.core
        limits = core.config.limits
        self.block = core.throttle.block(address)
        if not core.throttle.handshake_started(self.block, limits.max_handshakes_per_address):
            core.stats.rejected_throttled += 1
            log.info("refused a TLS handshake from %s: too many under way", address)
            transport.abort()
            return
        self.task = asyncio.ensure_future(self._handshake(transport, limits.handshake_timeout))

    async def _handshake(self, transport: asyncio.Transport, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        buffer = _Buffer()
        try:
            tls = await loop.start_tls(
                transport, buffer, self.context, server_side=True, ssl_handshake_timeout=seconds
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, RuntimeError) as exc:
            log.debug("TLS handshake failed: %s", exc)
            transport.abort()
            return
        finally:
            self.core.throttle.handshake_over(self.block)
        if tls is None:  # pragma: no cover - only for a transport that cannot do TLS
            transport.abort()
            return
        protocol = self.make()
        protocol.connection_made(tls)
        tls.set_protocol(protocol)
        for data in buffer.data:
            protocol.data_received(data)
        if buffer.lost is not None:
            protocol.connection_lost(buffer.lost[0])

    def data_received(self, data: bytes) -> None:  # pragma: no cover - reading is paused
        """Nothing: reading is paused until the handshake owns the socket."""

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed before the handshake began (start_tls owns it after that)."""
