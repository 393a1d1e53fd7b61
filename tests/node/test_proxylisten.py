"""The PROXY header reader on a real socket pair: exactly the header is taken, nothing after.

What follows the header (a TLS ClientHello, IRC lines with their line feeds)
belongs to the next layer; a reader that looked for a v1 line end in a v2
header would take it.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from chatnet_node.transport.proxylisten import read_header
from chatnet_node.transport.proxyproto import V2_SIGNATURE, ProxyHeaderError

V2 = (
    V2_SIGNATURE
    + b"\x21\x11"
    + struct.pack("!H", 12 + 5)
    + bytes([198, 51, 100, 4, 192, 0, 2, 5])
    + struct.pack("!HH", 40000, 6667)
    + b"\x04\x00\x02xy"  # a NOOP TLV
)
V1 = b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 6667\r\n"
AFTER = b"\x16\x03\x01 the TLS handshake\r\nNICK a\r\n"


async def _read(chunks: list[bytes]) -> tuple[object, bytes]:
    loop = asyncio.get_running_loop()
    server, client = socket.socketpair()
    with server, client:
        server.setblocking(False)
        for i, chunk in enumerate(chunks):
            client.sendall(chunk)
            if i == 0:
                await asyncio.sleep(0.01)  # the reader waits for the rest
        task = asyncio.create_task(read_header(loop, server))
        header = await asyncio.wait_for(task, 5)
        client.shutdown(socket.SHUT_WR)
        rest = b""
        while chunk := await asyncio.wait_for(loop.sock_recv(server, 4096), 5):
            rest += chunk
        return header, rest


@pytest.mark.parametrize("stream", [V1 + AFTER, V2 + AFTER], ids=["v1", "v2"])
@pytest.mark.parametrize("split", [0, 5, 15, 16, 20])
async def test_the_reader_leaves_every_byte_after_the_header(stream: bytes, split: int) -> None:
    chunks = [stream[:split], stream[split:]] if split else [stream]
    header, rest = await _read(chunks)
    assert getattr(header, "source", None) is not None
    assert rest == AFTER


async def test_a_peer_that_closes_mid_header_is_an_error() -> None:
    loop = asyncio.get_running_loop()
    server, client = socket.socketpair()
    with server, client:
        server.setblocking(False)
        client.sendall(V1[:20])
        client.shutdown(socket.SHUT_WR)
        with pytest.raises(ProxyHeaderError, match="closed before the PROXY header ended"):
            await asyncio.wait_for(read_header(loop, server), 5)
