"""Fuzz targets: each takes arbitrary bytes and fails (raises) only on a real bug.

Shared by the bounded run in the test suite (``tests/fuzz/test_fuzz.py``) and
the long run (``scripts/fuzz.sh``), both through ``python -m tests.fuzz.run``.
A target raises ``AssertionError`` when an invariant breaks; any other
exception escaping the code under test is a crash too.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from chatnet_node.config import ConfigError, load_config, parse_config
from chatnet_node.irc.message import ParseError, parse_line
from chatnet_node.links import protocol as lp
from chatnet_node.metrics import make_registry
from chatnet_node.transport import forwarded, proxyproto
from chatnet_node.transport.admin import AdminProtocol
from chatnet_node.transport.http import HttpRoutes
from chatnet_node.transport.websocket import WebSocketProtocol
from chatnet_operator.api.loader import UnreadableInputError, parse_text
from chatnet_operator.api.validate import validate_documents
from tests.corekit import CoreServer

MAX_LINE = 512  # RFC 1459: a line after its tags, CR LF included


def irc_parser(data: bytes) -> None:
    """The IRC line parser: a message or ParseError, nothing else."""
    text = data.decode("utf-8", "replace")
    with contextlib.suppress(ParseError):
        parse_line(text)


class _Core:
    """One server, built once per process (a fresh one costs milliseconds)."""

    server: CoreServer | None = None
    count = 0
    admin: HttpRoutes | None = None


def _check_output(raw: bytes) -> None:
    assert raw == b"" or raw.endswith(b"\r\n"), raw[-80:]
    for line in raw.split(b"\r\n")[:-1]:
        body = line.split(b" ", 1)[1] if line.startswith(b"@") else line
        assert len(body) + 2 <= MAX_LINE, (len(body), body[:120])


def irc_core(data: bytes) -> None:
    """A whole ChatCore fed arbitrary lines from a registered client and a fresh one.

    No exception escapes ``receive_line``; every line written is at most 512
    bytes after its tags and ends with CR LF; the client is still answered
    (PING) unless the server closed it.
    """
    if _Core.server is None or _Core.count >= 200:
        _Core.server = CoreServer()
        _Core.count = 0
    server = _Core.server
    _Core.count += 1
    watcher = server.user(f"w{_Core.count}", caps="message-tags echo-message")
    watcher.send("JOIN #fuzz")
    fresh = server.connection()
    user = server.user(f"u{_Core.count}", caps="message-tags echo-message server-time")
    user.send("JOIN #fuzz")
    lines = data.split(b"\n")
    half = len(lines) // 2
    for conn, chunk in ((fresh, lines[:half]), (user, lines[half:])):
        for raw in chunk:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if line and not conn.closed:
                conn.send(line)
    server.tick(1.0)
    for conn in (watcher, fresh, user):
        server.core.flush()
        _check_output(b"".join(conn.sink.data))
        conn.sink.data.clear()
        if not conn.closed:
            conn.send(b"PING fuzz-alive")
            server.core.flush()
            out = b"".join(conn.sink.data)
            conn.sink.data.clear()
            assert b"fuzz-alive" in out or conn.closed, out[-200:]
    for conn in (watcher, fresh, user):
        if not conn.closed:
            conn.send(b"QUIT :done")
    server.core.flush()


class FakeTransport(asyncio.Transport):
    """A transport that keeps what is written; never blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("203.0.113.9", 40000) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


def _http(request: Request) -> Response:
    return Response(200, "OK", Headers([("Content-Length", "2")]), b"ok")


HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: text.ircv3.net\r\n\r\n"
)


def websocket(data: bytes) -> None:
    """The WebSocket port: arbitrary bytes, alone or after a valid handshake.

    Nothing escapes ``data_received``; a refused handshake is answered with
    an HTTP 4xx; a connection the server gives up on is closed.
    """
    if _Core.server is None:
        _Core.server = CoreServer()
    core = _Core.server.core
    handshake_first = bool(data) and data[0] & 1
    for prefix in (HANDSHAKE,) if handshake_first else (b"",):
        proto = WebSocketProtocol(core, _http)
        transport = FakeTransport()
        proto.connection_made(transport)
        if prefix:
            proto.data_received(prefix)
            assert transport.data.startswith(b"HTTP/1.1 101"), bytes(transport.data[:80])
        payload = data[1:]
        step = max(1, (data[0] >> 1) % 64) if data else 1
        for start in range(0, len(payload), step * 37):
            if transport.closed:
                break
            proto.data_received(payload[start : start + step * 37])
        core.flush()
        out = bytes(transport.data)
        if not prefix and out and not out.startswith(b"HTTP/1.1 200"):
            assert out.startswith((b"HTTP/1.1 4", b"HTTP/1.1 5", b"HTTP/1.1 101")), out[:80]
        proto.connection_lost(None)
        core.flush()


def admin_http(data: bytes) -> None:
    """The admin port: arbitrary bytes get one HTTP answer (200, 4xx or 503) and a close,
    or nothing yet (an incomplete request); nothing escapes ``data_received``."""
    if _Core.server is None:
        _Core.server = CoreServer()
    core = _Core.server.core
    if _Core.admin is None:
        _Core.admin = HttpRoutes(core, make_registry(core), page=False)
    proto = AdminProtocol(_Core.admin)
    transport = FakeTransport()
    proto.connection_made(transport)
    step = max(1, data[0] % 64) if data else 1
    for start in range(0, len(data), step):
        proto.data_received(data[start : start + step])
    out = bytes(transport.data)
    if out:
        assert out.startswith((b"HTTP/1.1 200", b"HTTP/1.1 4", b"HTTP/1.1 503")), out[:80]
        assert transport.closed and out.count(b"HTTP/1.1 ") >= 1
    proto.eof_received()


def link_protocol(data: bytes) -> None:
    """A link line from a peer: a message or LinkProtocolError, nothing else."""
    for raw in (data, data.decode("utf-8", "replace")):
        try:
            message = lp.decode(raw)
        except lp.LinkProtocolError:
            continue
        lp.decode(lp.encode(message))  # what was accepted goes back and forth


def node_config(data: bytes) -> None:
    """The node's configuration file: a NodeConfig or ConfigError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "node.yaml"
        path.write_bytes(data)
        with contextlib.suppress(ConfigError):
            load_config(path)
    with contextlib.suppress(ConfigError):
        parse_config({"name": data.decode("utf-8", "replace"), "network": "N"})


def manifests(data: bytes) -> None:
    """Manifest files (``chatnet validate``): documents and a report, or UnreadableInputError."""
    text = data.decode("utf-8", "replace")
    try:
        docs = parse_text(text, "fuzz.yaml")
    except UnreadableInputError:
        return
    validate_documents(docs)
    validate_documents(docs, local=True)


def proxy_header(data: bytes) -> None:
    """A PROXY header read as the listener reads it: a header or ProxyHeaderError.

    The reader never takes a byte past the header's end, and whatever the
    bytes, the forwarded-header walk answers an address or ForwardedError.
    """
    read = b""
    try:
        while (wanted := proxyproto.next_read(read)) > 0:
            assert wanted > 0
            chunk = data[len(read) : len(read) + wanted]
            if len(chunk) < wanted:
                break
            read += chunk
        else:
            header = proxyproto.parse_header(read)
            assert header.source is None or forwarded.ip(header.source[0]) is not None
    except proxyproto.ProxyHeaderError:
        pass
    text = data.decode("utf-8", "replace")
    networks = forwarded.trusted_networks(("10.0.0.0/8", "::1/128"))
    for hops in (forwarded.forwarded_for([text]), forwarded.x_forwarded_for([text])):
        with contextlib.suppress(forwarded.ForwardedError):
            forwarded.client_address("10.0.0.1", hops, networks, "Forwarded")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "irc_parser": irc_parser,
    "irc_core": irc_core,
    "websocket": websocket,
    "admin_http": admin_http,
    "link_protocol": link_protocol,
    "node_config": node_config,
    "manifests": manifests,
    "proxy_header": proxy_header,
}
