"""A client certificate renewed on disk (as cert-manager does) reaches new connections only.

A real node with an ``ircTls`` listener from files: the files are replaced,
a new connection is shown the new certificate while a connection opened
before keeps chatting; a broken replacement keeps the running certificate.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatnet_node.transport.tls import self_signed
from tests.irc.client import IrcClient
from tests.nodeproc import NodeProcess, free_port, make_node
from tests.waiting import wait_until


def write_pair(cert: Path, key: Path, name: str, bump: int) -> bytes:
    """A fresh certificate for ``name`` on disk; mtimes moved so a poll sees the change."""
    cert_pem, key_pem = self_signed(name, addresses=["127.0.0.1"])
    # Like a Secret volume update: the new files appear whole (rename), never half written.
    for path, data in ((key, key_pem), (cert, cert_pem)):
        tmp = path.with_suffix(".new")
        tmp.write_bytes(data)
        tmp.replace(path)
        os.utime(path, (1_000_000 + bump, 1_000_000 + bump))
    return cert_pem


def served_fingerprint(port: int) -> str:
    der = ssl.get_server_certificate(("127.0.0.1", port), timeout=5)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(der)).hexdigest()


def pem_fingerprint(pem: bytes) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode())).hexdigest()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    first = write_pair(cert, key, "chat.example", 0)
    port = free_port()
    node = make_node(
        tmp_path,
        name="reloader",
        listeners={
            "ircTls": [
                {"host": "127.0.0.1", "port": port, "certFile": str(cert), "keyFile": str(key)}
            ]
        },
    )
    node.tls_port = port
    node.extra["first"] = first
    node.start()
    try:
        yield node
    finally:
        node.stop()


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def test_renewed_certificate_reaches_new_connections_and_keeps_old_ones(
    node: NodeProcess, tmp_path: Path
) -> None:
    assert node.tls_port is not None
    port = node.tls_port
    assert served_fingerprint(port) == pem_fingerprint(node.extra["first"])
    old = await IrcClient.tcp(port, ssl=unverified())
    other = await IrcClient.tcp(node.irc_port)
    try:
        await old.register("before")
        await other.register("plain")
        await old.join("#rotate")
        await other.join("#rotate")

        second = write_pair(tmp_path / "tls.crt", tmp_path / "tls.key", "chat.example", 10)
        wanted = pem_fingerprint(second)
        wait_until(lambda: served_fingerprint(port) == wanted, 10, "the renewed certificate served")

        # The connection opened before the renewal is still there and chats both ways.
        await old.send("PRIVMSG #rotate :still here")
        got = await other.expect("PRIVMSG")
        assert got.nick == "before" and got.params == ["#rotate", "still here"]
        await other.send("PRIVMSG #rotate :hello old one")
        assert (await old.expect("PRIVMSG")).params == ["#rotate", "hello old one"]
        # A new client is served the new certificate and verifies it against it.
        trusting = ssl.create_default_context(cadata=second.decode())
        trusting.check_hostname = False
        new = await IrcClient.tcp(port, ssl=trusting)
        try:
            await new.register("after")
            await new.join("#rotate")
            await new.send("PRIVMSG #rotate :new certificate")
            assert (await old.expect("PRIVMSG")).params == ["#rotate", "new certificate"]
        finally:
            await new.close()
    finally:
        await old.close()
        await other.close()


async def test_broken_renewal_keeps_the_running_certificate(
    node: NodeProcess, tmp_path: Path
) -> None:
    assert node.tls_port is not None
    port = node.tls_port
    before = served_fingerprint(port)
    # A key that does not belong to the certificate.
    other_cert, _ = self_signed("chat.example")
    _, wrong_key = self_signed("elsewhere")
    (tmp_path / "tls.key").write_bytes(wrong_key)
    (tmp_path / "tls.crt").write_bytes(other_cert)
    os.utime(tmp_path / "tls.crt", (2_000_000, 2_000_000))
    wait_until(
        lambda: "cannot be used, keeping the running one" in node.log(),
        10,
        "the refusal logged",
        0.1,
        node.log,
    )
    assert served_fingerprint(port) == before
    client = await IrcClient.tcp(port, ssl=unverified())
    try:
        await client.register("stillworks")
    finally:
        await client.close()
