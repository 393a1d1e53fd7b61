"""Inputs the fuzzers (tests/fuzz/) found that crashed the node, one test each."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatnet_node.config import ConfigError, load_config
from chatnet_node.transport.websocket import WebSocketProtocol
from tests.corekit import CoreServer
from tests.fuzz.targets import FakeTransport, _http

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _feed(data: bytes) -> tuple[WebSocketProtocol, FakeTransport]:
    proto = WebSocketProtocol(CoreServer().core, _http)
    transport = FakeTransport()
    proto.connection_made(transport)
    proto.data_received(data)
    return proto, transport


@pytest.mark.parametrize("after", [b"ersion: 12\r\n\r\n", REQUEST])
def test_http_request_followed_by_garbage_in_the_same_packet(after: bytes) -> None:
    # The library parsed what follows the request as frames and failed the
    # connection first; answering the request then raised AssertionError.
    proto, transport = _feed(REQUEST + after)
    assert transport.data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.data.count(b"HTTP/1.1") == 1
    assert proto.closed and transport.closed


def test_websocket_handshake_followed_by_garbage_in_the_same_packet() -> None:
    proto, transport = _feed(UPGRADE + b"ersion: 12\r\n\r\n")
    assert transport.data.startswith(b"HTTP/1.1 400 ")
    assert proto.client is None
    assert proto.closed and transport.closed


def test_config_file_that_is_not_utf8(tmp_path: Path) -> None:
    # Found as b"\0" * 8 + b"\xfa\xff...name: ...": UnicodeDecodeError escaped.
    path = tmp_path / "node.yaml"
    path.write_bytes(b"\x00" * 8 + b"\xfa\xff\nname: irc.example\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_handshake_with_two_upgrade_headers() -> None:
    # ``headers.get("Upgrade")`` raised MultipleValuesError out of data_received.
    proto, transport = _feed(UPGRADE[:-2] + b"Upgrade: websocket\r\n\r\n")
    assert transport.data.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert proto.client is None


def test_ping_frame_before_the_handshake_completes() -> None:
    # The library answered the early ping: its pong went out before the HTTP response.
    ping = b"\x89\x80abcd"  # a masked, empty ping
    proto, transport = _feed(UPGRADE + ping)
    assert transport.data.startswith(b"HTTP/1.1 400 ")
    assert proto.client is None and proto.closed
