"""What a PROXY protocol header costs a connection: accept, read the header, hand over.

In one process and one run: N connections (connect, one echoed line, close)
to a plain asyncio server, then to a ``ProxiedListener`` with a PROXY v1
line and with a v2 block before the line. Prints microseconds per
connection and each PROXY variant's ratio to the plain server.

    .venv/bin/python bench/proxy_accept.py [--connections 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import time

from chatnet_node.transport.forwarded import trusted_networks
from chatnet_node.transport.proxylisten import ProxiedListener, irc_refusal
from chatnet_node.transport.proxyproto import V2_SIGNATURE

V1 = b"PROXY TCP4 198.51.100.4 127.0.0.1 40000 6667\r\n"
V2 = (
    V2_SIGNATURE
    + b"\x21\x11"
    + struct.pack("!H", 12)
    + bytes([198, 51, 100, 4, 127, 0, 0, 1])
    + struct.pack("!HH", 40000, 6667)
)


class Echo(asyncio.Protocol):
    """Sends back what it gets: the connection is usable once the line returns."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def per_connection(port: int, header: bytes, count: int) -> float:
    """Microseconds per connect + header + one echoed line + close."""
    started = time.perf_counter()
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(header + b"x\n")
        await reader.readexactly(2)
        writer.close()
        await writer.wait_closed()
    return (time.perf_counter() - started) / count * 1e6


async def main(count: int) -> None:
    loop = asyncio.get_running_loop()
    plain = await loop.create_server(Echo, "127.0.0.1", 0)
    networks = trusted_networks(("127.0.0.1/32",))
    proxied = await ProxiedListener.open(
        "127.0.0.1", 0, "irc", lambda peer: Echo(), lambda: networks, irc_refusal
    )
    plain_port = plain.sockets[0].getsockname()[1]
    proxied_port = proxied.sockets[0].getsockname()[1]
    await per_connection(plain_port, b"", min(count, 200))  # warm up
    base = await per_connection(plain_port, b"", count)
    v1 = await per_connection(proxied_port, V1, count)
    v2 = await per_connection(proxied_port, V2, count)
    print(f"{count} connections each (connect, one echoed line, close):")
    print(f"  plain asyncio server  {base:7.0f} us/connection")
    print(f"  PROXY v1              {v1:7.0f} us/connection  ({v1 / base:.2f}x plain)")
    print(f"  PROXY v2              {v2:7.0f} us/connection  ({v2 / base:.2f}x plain)")
    proxied.close()
    await proxied.wait_closed()
    plain.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    asyncio.run(main(parser.parse_args().connections))
