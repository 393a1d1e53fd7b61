"""One link over WebSocket, the asyncio side of a portal.

``LinkSession`` is one link, inbound (a peer dialed our WebSocket port with
subprotocol ``chatnet-link.v1``, see ``transport.websocket``) or outbound
(``dialer`` dialed it with the websockets client). It runs the handshake,
answers pings, measures the round trip, drops a silent peer after
``pingTimeout`` and hands every other message to the manager. The
transport is given as two callables, so the session never owns a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from . import protocol as lp
from .handshake import Handshake
from .manager import LinkManager

log = logging.getLogger("chatnet.links")


class SessionOwner(Protocol):
    """What a session needs of the runtime that made it (``dialer.LinkRuntime``)."""

    manager: LinkManager
    refusals: int

    @property
    def ping_interval(self) -> float:
        """Seconds of silence before a ping."""

    @property
    def ping_timeout(self) -> float:
        """Seconds of silence before the link is dropped."""

    def new_handshake(self) -> Handshake:
        """A handshake for a new link, with what this side knows now."""


class LinkSession:
    """One link to one peer; the transport is given as ``send_text``/``hang_up``."""

    def __init__(
        self,
        runtime: SessionOwner,
        direction: str,
        send_text: Callable[[str], None],
        hang_up: Callable[[], None],
        queued: Callable[[], int] = lambda: 0,
        secure: bool = False,
    ) -> None:
        self.runtime = runtime
        self.direction = direction
        self.secure = secure  # over TLS (wss://)
        self._send_text = send_text
        self._hang_up = hang_up
        self._queued = queued
        self.handshake = runtime.new_handshake()
        self.peer = "?"
        self.peer_sid = 0
        self.peer_role = "hub"
        self.peer_description = ""
        self.established = False
        self.closed = False
        self.rtt: float | None = None
        self.since = time.time()
        self.last_heard = time.monotonic()
        self._pinged = 0.0  # when the last ping left (monotonic)
        self._keepalive: asyncio.Task[None] | None = None
        self.done = asyncio.Event()

    # The manager's side.

    def send(self, text: str) -> None:
        if not self.closed:
            self._send_text(text)

    def close(self, reason: str) -> None:
        """Tell the peer why, then close."""
        if self.closed:
            return
        with contextlib.suppress(Exception):
            self._send_text(lp.encode(lp.Error(reason=reason)))
        self.lost(reason)
        self._hang_up()

    def info(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "tls": self.secure,
            "rttMs": round(self.rtt * 1000, 2) if self.rtt is not None else None,
            "queuedBytes": self._queued(),
            "upSince": round(self.since, 3),
        }

    # The transport's side.

    def opened(self) -> None:
        for message in self.handshake.start():
            self._send_text(lp.encode(message))

    def silent_for(self) -> float:
        """Seconds since anything last came over this link (a frozen server's are many)."""
        return time.monotonic() - self.last_heard

    def received(self, raw: str) -> None:
        self.last_heard = time.monotonic()
        if self.established:
            if raw.startswith('{"t":"ping"'):
                token = lp.decode(raw)
                assert isinstance(token, lp.Ping)
                self._send_text(lp.encode(lp.Pong(token=token.token)))
                return
            if raw.startswith('{"t":"pong"'):
                pong = lp.decode(raw)
                assert isinstance(pong, lp.Pong)
                with contextlib.suppress(ValueError):
                    self.rtt = time.monotonic() - float(pong.token)
                return
            if raw.startswith('{"t":"error"'):
                message = lp.decode(raw)
                assert isinstance(message, lp.Error)
                log.warning("link %s: peer closed the link: %s", self.peer, message.reason)
                self.lost(f"peer: {message.reason}")
                self._hang_up()
                return
            self.runtime.manager.received(self, raw)
            return
        try:
            message = lp.decode(raw)
        except lp.LinkProtocolError as exc:
            self._refuse(str(exc))
            return
        for reply in self.handshake.receive(message):
            self._send_text(lp.encode(reply))
        if self.handshake.failed is not None:
            self._refuse(self.handshake.failed, told=True)
            return
        if self.handshake.done:
            self._establish()

    def _refuse(self, reason: str, told: bool = False) -> None:
        peer = self.handshake.theirs.server if self.handshake.theirs else "unknown peer"
        log.warning("link %s (%s) refused: %s", peer, self.direction, reason)
        self.runtime.refusals += 1
        if not told:
            with contextlib.suppress(Exception):
                self._send_text(lp.encode(lp.Error(reason=reason)))
        self.closed = True
        self.done.set()
        self._hang_up()

    def _establish(self) -> None:
        theirs = self.handshake.theirs
        assert theirs is not None
        manager = self.runtime.manager
        if theirs.server in manager.sessions:
            self._refuse(f"already linked to {theirs.server}")
            return
        self.peer, self.peer_sid = theirs.server, theirs.sid
        self.peer_role, self.peer_description = theirs.role, theirs.description
        self.established = True
        self.since = time.time()
        manager.link_up(self)
        self._keepalive = asyncio.create_task(self._keep_alive())

    async def _keep_alive(self) -> None:
        runtime = self.runtime
        while not self.closed:
            await asyncio.sleep(min(runtime.ping_interval, 1.0))
            silent = time.monotonic() - self.last_heard
            if silent > runtime.ping_timeout:
                log.warning("link %s: no answer for %.0fs; dropping it", self.peer, silent)
                self.close(f"Ping timeout: {int(silent)} seconds")
                return
            now = time.monotonic()
            # A busy link is never silent, yet its round trip is a metric
            # (chatnet_link_rtt_seconds): measure it every ping interval too.
            if (
                silent >= runtime.ping_interval
                or self.rtt is None
                or now - self._pinged >= runtime.ping_interval
            ):
                self._pinged = now
                self._send_text(lp.encode(lp.Ping(token=repr(now))))

    def lost(self, reason: str) -> None:
        """The transport is gone (or going): tell the manager once."""
        if self.closed:
            return
        self.closed = True
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        if self.established:
            self.runtime.manager.link_down(self, reason)
        self.done.set()
