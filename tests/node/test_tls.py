"""IRC over TLS: a node with an ``ircTls`` listener and a self-signed certificate.

The certificate comes from the ``cryptography`` package when the test
environment has it, else from the ``openssl`` command; with neither the tests
are skipped with a message saying so.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.irc.client import IrcClient
from tests.nodeproc import NodeProcess, free_port, make_node


@pytest.fixture
def tls_node(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[NodeProcess]:
    cert, key = certificate
    port = free_port()
    node = make_node(
        tmp_path,
        name="tlsnode",
        listeners={
            "ircTls": [
                {"host": "127.0.0.1", "port": port, "certFile": str(cert), "keyFile": str(key)}
            ]
        },
    )
    node.tls_port = port
    node.start()
    try:
        yield node
    finally:
        node.stop()


def client_context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = True
    return context


async def test_tls_client_chats_with_plain_tcp_client(
    tls_node: NodeProcess, certificate: tuple[Path, Path]
) -> None:
    assert tls_node.tls_port is not None
    secure = await IrcClient.tcp(tls_node.tls_port, ssl=client_context(certificate[0]))
    plain = await IrcClient.tcp(tls_node.irc_port)
    try:
        await secure.register("secure")
        await plain.register("plain")
        await secure.join("#tls")
        await plain.join("#tls")
        await secure.send("PRIVMSG #tls :over TLS")
        got = await plain.expect("PRIVMSG")
        assert got.nick == "secure" and got.params == ["#tls", "over TLS"]
        await plain.send("PRIVMSG secure :over plain TCP")
        got = await secure.expect("PRIVMSG")
        assert got.nick == "plain" and got.params == ["secure", "over plain TCP"]
        await plain.send("WHOIS secure")
        assert (await plain.expect("671")).params[-1] == "is using a secure connection"
        await secure.send("WHOIS plain")
        whois = await secure.collect_until("318")
        assert "671" not in [m.command for m in whois], "a plain client is not shown as secure"
        await secure.send("QUIT :done")
        assert (await secure.wait_closed())[-1].command == "ERROR"
        assert (await plain.expect("QUIT")).nick == "secure"
    finally:
        await secure.close()
        await plain.close()


async def test_tls_rejects_plaintext_and_keeps_serving(
    tls_node: NodeProcess, certificate: tuple[Path, Path]
) -> None:
    """A client speaking plain IRC to the TLS port is dropped; TLS still works."""
    assert tls_node.tls_port is not None
    wrong = await IrcClient.tcp(tls_node.tls_port)
    try:
        await wrong.send_bytes(b"NICK oops\r\nUSER oops 0 * :x\r\n")
        with pytest.raises((AssertionError, ConnectionError, UnicodeDecodeError)):
            await wrong.expect("001", timeout=3)
    finally:
        await wrong.close()
    secure = await IrcClient.tcp(tls_node.tls_port, ssl=client_context(certificate[0]))
    try:
        await secure.register("afterwards")
    finally:
        await secure.close()
