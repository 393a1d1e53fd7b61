"""What asking TLS clients for a certificate costs: handshakes per second, with and without.

A client TLS listener asks every client for a certificate and accepts any
(``transport.tls.accept_any_client_certificate``, for SASL EXTERNAL). This
runs the same asyncio TLS server twice on loopback, once with a plain
context and once asking, and connects ``--count`` clients (without a
certificate, as most are) one after the other to each, for ``--rounds``
rounds. Prints handshakes per second and the ratio.

    .venv/bin/python bench/tls_handshakes.py [--count 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import time

from chatnet_node.transport.tls import accept_any_client_certificate, self_signed_context


async def handshakes_per_second(context: ssl.SSLContext, count: int) -> float:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"x")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    started = time.perf_counter()
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        await reader.read()
        writer.close()
    took = time.perf_counter() - started
    server.close()
    await server.wait_closed()
    return count / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        plain = self_signed_context("bench")
        asking = self_signed_context("bench")
        if not accept_any_client_certificate(asking):
            raise SystemExit("this OpenSSL cannot accept any client certificate")
        before = asyncio.run(handshakes_per_second(plain, args.count))
        after = asyncio.run(handshakes_per_second(asking, args.count))
        print(
            f"round {round_}: plain {before:.0f}/s, asking for a client certificate "
            f"{after:.0f}/s, ratio {after / before:.2f}"
        )


if __name__ == "__main__":
    main()
