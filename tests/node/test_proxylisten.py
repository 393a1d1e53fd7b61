"""The PROXY listener: its header reader on a socket pair, and a node process reloading trust.

What follows the header (a TLS ClientHello, IRC lines with their line feeds)
belongs to the next layer; a reader that looked for a v1 line end in a v2
header would take it. ``trustedProxies`` changes on SIGHUP, for the next
connection, without a restart.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
from pathlib import Path

import pytest
import yaml

from chatnet_node.transport.proxylisten import read_header
from chatnet_node.transport.proxyproto import V2_SIGNATURE, ProxyHeaderError
from tests.irc.client import IrcClient
from tests.nodeproc import make_node
from tests.waiting import wait_until

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


async def test_trusted_proxies_reload_without_a_restart(tmp_path: Path) -> None:
    node = make_node(tmp_path, name="reloader", trustedProxies=["192.0.2.1/32"])
    config = yaml.safe_load(node.config_path.read_text())
    config["listeners"]["irc"][0]["proxyProtocol"] = True
    node.config_path.write_text(yaml.safe_dump(config))
    node.start()
    try:
        async with await IrcClient.tcp(node.irc_port) as refused:
            await refused.send_raw(b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 6667")
            error = await refused.expect("ERROR")
            assert "127.0.0.1 is not a trusted proxy" in error.params[0]
        config["trustedProxies"] = ["127.0.0.0/8"]
        node.config_path.write_text(yaml.safe_dump(config))
        node.signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in node.log(), 5, "the reload", 0.05)
        async with await IrcClient.tcp(node.irc_port) as client:
            await client.send_raw(b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 6667")
            await client.register("behind")
            await client.send("WHOIS behind")
            host = await client.expect("378")
            assert host.params[-1].endswith("@198.51.100.7 198.51.100.7"), host
        assert "listeners change only on restart" not in node.log()
    finally:
        node.stop()
