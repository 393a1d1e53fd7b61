"""IRC over WebSocket (the IRCv3 WebSocket spec) and HTTP, on one port.

The websockets library's sans-I/O ``ServerProtocol`` does the handshake and
parses incoming frames; a plain HTTP request (no ``Upgrade``) is answered by
the HTTP routes instead (health, status, metrics, the web chat page).

Outgoing IRC lines skip the library: server-to-client frames are unmasked, so
``wire.encode`` frames a message once and the same bytes go to every client
with the same capabilities (see ``ChatCore.flush`` for the coalescing).

Subprotocols: ``text.ircv3.net`` (UTF-8 text frames) and ``binary.ircv3.net``
(binary frames), the client's first choice wins; a client that offers neither
gets text. One IRC line per WebSocket message; a binary frame on a text
connection closes it with 1003, a text frame that is not UTF-8 with 1007 (a
legacy client with no subprotocol may send either kind).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from websockets.exceptions import InvalidHandshake
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Protocol
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ..irc import wire
from ..irc.core import ChatCore
from ..irc.wire import ws_frame
from ..links import protocol as lp
from ..links.dialer import LinkRuntime
from ..links.protocol import PROTOCOL
from ..links.session import LinkSession
from .connection import MAX_RAW_LINE, Connection, raw_fd
from .forwarded import (
    ForwardedError,
    client_address,
    forwarded_for,
    trusted_networks,
    x_forwarded_for,
)
from .tls import certificate_fingerprint, untrusted_peer

log = logging.getLogger("chatnet.websocket")

LINK = Subprotocol(PROTOCOL)
TEXT = Subprotocol("text.ircv3.net")
BINARY = Subprotocol("binary.ircv3.net")

HttpHandler = Callable[[Request], Response]


def select_subprotocol(
    protocol: ServerProtocol, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """The client's first choice among those this server speaks (IRCv3 WebSocket).

    None (no ``Sec-WebSocket-Protocol`` in the answer) when it offered none of
    them: such a legacy client gets text frames.
    """
    return next((choice for choice in offered if choice in (LINK, BINARY, TEXT)), None)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def is_upgrade(request: Request) -> bool:
    """Does this HTTP request ask for a WebSocket?"""
    # get_all: ``get`` raises MultipleValuesError on a repeated header.
    return any("websocket" in value.lower() for value in request.headers.get_all("Upgrade"))


class WebSocketProtocol(Connection):
    """One HTTP or WebSocket connection on the WebSocket port."""

    __slots__ = (
        "fragment_opcode",
        "fragments",
        "handshake_block",
        "handshake_timer",
        "http",
        "link",
        "links",
        "secure",
        "ws",
    )

    def __init__(
        self,
        core: ChatCore,
        http: HttpHandler,
        links: LinkRuntime | None = None,
        secure: bool = False,
        peer: str | None = None,
    ) -> None:
        super().__init__(core, peer)
        self.secure = secure
        self.http = http
        self.links = links
        self.link: LinkSession | None = None
        self.kind = wire.WS_TEXT
        self.ws = ServerProtocol(
            subprotocols=[LINK, BINARY, TEXT],
            select_subprotocol=select_subprotocol,
            max_size=MAX_RAW_LINE + 16,
        )
        self.fragments: list[bytes] = []
        self.fragment_opcode: Opcode | None = None
        self.handshake_block: str | None = None
        self.handshake_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.fd = raw_fd(self.attach(transport))
        self._begin_handshake()

    # Slowloris: the HTTP request (and so the WebSocket handshake) must come
    # whole within ``handshakeTimeout``, and one address block may have only
    # ``maxHandshakesPerAddress`` requests under way at once.

    def _begin_handshake(self) -> None:
        limits = self.core.config.limits
        throttle = self.core.throttle
        block = throttle.block(self.peer_address())
        if not throttle.handshake_started(block, limits.max_handshakes_per_address):
            self.core.stats.rejected_throttled += 1
            self._http_refusal(
                "429 Too Many Requests",
                f"Throttled: too many unfinished requests from {block} "
                f"(limit {limits.max_handshakes_per_address})",
            )
            return
        self.handshake_block = block
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # bytes fed by hand (the fuzz harness): no clock to time out with
            throttle.handshake_over(block)
            return
        self.handshake_timer = loop.call_later(limits.handshake_timeout, self._handshake_timed_out)

    def _end_handshake(self) -> None:
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
            self.handshake_timer = None
            self.core.throttle.handshake_over(self.handshake_block)

    def _handshake_timed_out(self) -> None:
        self.handshake_timer = None
        self.core.throttle.handshake_over(self.handshake_block)
        if not self.closed:
            seconds = self.core.config.limits.handshake_timeout
            self._http_refusal(
                "408 Request Timeout",
                f"Request not complete within {seconds:g}s (handshakeTimeout)",
            )

    def _http_refusal(self, status: str, text: str) -> None:
        body = (text + "\n").encode()
        self.write(
            f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        self.close()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return  # refused or timed out: whatever else comes is not read
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._handle_request(event)
            elif isinstance(event, Frame):
                self._handle_frame(event)
            if self.closed:
                return
        self._send_protocol_data()
        self.read_turn_done(len(data))

    def _handle_request(self, request: Request) -> None:
        self._end_handshake()
        if self.ws.data_to_send() or self.ws.eof_sent:
            # Bytes after the request (a pipelined request, a frame sent before
            # the 101) were parsed as frames: answered (a pong, dropped here:
            # nothing goes before the response) or failing the connection.
            # Answer this request alone (the library may not send another
            # response), then close.
            if is_upgrade(request):
                response = self.ws.reject(400, "Failed to open a WebSocket connection\n")
            else:
                response = self.http(request)
            self.write(response.serialize())
            self._send_protocol_data()
            self.close()
            return
        if not is_upgrade(request):
            self.ws.send_response(self.http(request))
            self._send_protocol_data()
            return
        refused = self._believe_forwarded(request)
        if refused is not None:
            self.ws.send_response(self.ws.reject(403, f"{refused}\n"))
            self._send_protocol_data()
            return
        try:
            response = self.ws.accept(request)
        except InvalidHandshake as exc:  # pragma: no cover - accept() reports, not raises
            response = self.ws.reject(400, f"Failed to open a WebSocket connection: {exc}\n")
        self.ws.send_response(response)
        if response.status_code != 101:
            self._send_protocol_data()
            return
        if self.ws.subprotocol == LINK:
            # A link message (a burst, a catch-up) is bigger than a client's line.
            self.ws.max_message_size = lp.MAX_LINK_MESSAGE
            self._send_protocol_data()
            self._fresh_parser()
            self._start_link()
            return
        self.kind = wire.WS_BINARY if self.ws.subprotocol == BINARY else wire.WS_TEXT
        self._send_protocol_data()
        # The handshake parser's frame keeps the request (headers: ~2 KiB per
        # idle client) alive; a fresh frame parser holds nothing of it. The
        # library swaps parsers the same way after an HTTP response.
        self._fresh_parser()
        certfp = None
        if self.secure and self.transport is not None:
            certfp = certificate_fingerprint(self.transport.get_extra_info("ssl_object"))
        self.client = self.core.connect(
            self, self.peer_address(), secure=self.secure, certfp=certfp
        )

    def _believe_forwarded(self, request: Request) -> str | None:
        """Take the client's address from ``Forwarded``/``X-Forwarded-For``; a refusal's reason.

        Believed only from a peer inside ``trustedProxies``; from any other
        peer the header is a forgery and the handshake is refused (403). A
        server that declares no trusted proxies ignores the headers.
        """
        networks = trusted_networks(tuple(self.core.config.trusted_proxies))
        forwarded = request.headers.get_all("Forwarded")
        xff = request.headers.get_all("X-Forwarded-For")
        if not networks or not (forwarded or xff):
            return None
        if forwarded:
            hops, header = forwarded_for(forwarded), "Forwarded"
        else:
            hops, header = x_forwarded_for(xff), "X-Forwarded-For"
        try:
            self.peer = client_address(self.peer_address(), hops, networks, header)
        except ForwardedError as exc:
            log.warning("refused a WebSocket from %s: %s", self.peer_address(), exc)
            return str(exc)
        return None

    def _fresh_parser(self) -> None:
        self.ws.parser = Protocol.parse(self.ws)
        next(self.ws.parser)

    def _start_link(self) -> None:
        """A server dialed in: run a link session over this connection."""
        if self.links is None or not self.links.enabled:
            self._refuse_link("links are not configured on this server (no link secret)")
            return
        if self.links.links.tls == "required" and not self.secure:
            self.links.refusals += 1
            self._refuse_link("plaintext link refused: this network requires TLS (dial wss://)")
            return
        transport = self.transport
        assert transport is not None
        links = self.links.links
        if links.require_peer_certificate and self.secure and links.ca_file is not None:
            ssl_object = transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            problem = untrusted_peer(der, links.ca_file)
            if problem is not None:
                self.links.refusals += 1
                self._refuse_link(f"link refused: {problem}")
                return

        # A link's frames go straight to the transport (``send_text``): this
        # connection's own frames (pongs, the close) must too, not wait in a
        # backlog that a busy link's transport would never drain to empty.
        self.fd = -1
        self.release_backlog()

        def send_text(text: str) -> None:
            if self.transport is not None and not self.closed:
                self.transport.write(ws_frame(text.encode()))

        self.link = LinkSession(
            self.links,
            "in",
            send_text,
            lambda: self._close_with(CloseCode.NORMAL_CLOSURE, "link closed"),
            transport.get_write_buffer_size,
            self.secure,
        )
        self.link.opened()

    def _refuse_link(self, reason: str) -> None:
        """Tell a dialing server why it may not link, log it, and close."""
        log.warning("refused a server link from %s: %s", self.peer_address(), reason)
        self.write(ws_frame(lp.encode(lp.Error(reason=reason)).encode()))
        self._close_with(CloseCode.POLICY_VIOLATION, "link refused")

    def _handle_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            return  # ping, pong and close are answered by the protocol itself
        if opcode is not Opcode.CONT:
            self.fragment_opcode = opcode
        if not frame.fin:
            self.fragments.append(bytes(frame.data))
            return
        data = b"".join([*self.fragments, frame.data]) if self.fragments else bytes(frame.data)
        self.fragments.clear()
        if self.link is not None:
            self.link.received(data.decode("utf-8", "replace"))
            return
        if self.fragment_opcode is Opcode.BINARY and self.ws.subprotocol == TEXT:
            self._close_with(CloseCode.UNSUPPORTED_DATA, "text.ircv3.net takes text frames only")
            return
        if self.fragment_opcode is Opcode.TEXT and not _is_utf8(data):
            # RFC 6455 8.1: a text message that is not UTF-8 fails the connection.
            self._close_with(CloseCode.INVALID_DATA, "text frames must be UTF-8")
            return
        client = self.client
        if client is None or client.closed:
            return
        for raw in data.split(b"\n"):
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if line:
                self.core.receive_line(client, line)
                if client.closed:
                    return

    def _close_with(self, code: int, reason: str) -> None:
        client = self.client
        if client is not None and not client.closed:
            self.core.disconnect(client, f"WebSocket closed: {reason}")
        if self.ws.state.name == "OPEN":
            self.ws.send_close(code, reason)
        self._send_protocol_data()
        self.close()

    def _send_protocol_data(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk:
                self.write(chunk)
            else:
                self.close()  # the protocol wants the TCP connection closed

    def finish_close(self) -> None:
        if self.ws.state.name == "OPEN":
            # A server-side goodbye: a close frame after the final ERROR line. A
            # draining server is being restarted or moved: 1012 tells the client
            # to come back (through the network's endpoint) at once.
            if self.core.draining:
                self.ws.send_close(CloseCode.SERVICE_RESTART, "Service Restart")
            else:
                self.ws.send_close(CloseCode.GOING_AWAY, "")
            data = b"".join(chunk for chunk in self.ws.data_to_send() if chunk)
            if data:
                self.goodbye(data)
        super().finish_close()

    def connection_lost(self, exc: Exception | None) -> None:
        close: Close | None = self.ws.close_rcvd
        if exc is not None:
            reason = f"Read error: {exc}"
        elif close is not None:
            reason = "Connection closed"
        else:
            reason = "Connection closed"
        self._end_handshake()
        self.ws.receive_eof()
        if self.link is not None:
            self.link.lost(reason)
        self.lost(reason)
