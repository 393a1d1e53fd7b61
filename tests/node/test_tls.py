"""IRC over TLS: a node with an ``ircTls`` listener and a self-signed certificate.

The certificate comes from the ``cryptography`` package when the test
environment has it, else from the ``openssl`` command; with neither the tests
are skipped with a message saying so.
"""

from __future__ import annotations

import datetime
import hashlib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from chatnet_node.transport.tls import self_signed
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


def client_certificate(tmp_path: Path, name: str, expired: bool = False) -> tuple[Path, str]:
    """A self-signed client certificate (PEM with its key) and its SHA-256 fingerprint."""
    cert_pem, key_pem = self_signed(name)
    if expired:
        key = serialization.load_pem_private_key(key_pem, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert_pem = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=10))
            .not_valid_after(now - datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
            .public_bytes(Encoding.PEM)
        )
    path = tmp_path / f"{name}.pem"
    path.write_bytes(cert_pem + key_pem)
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    return path, hashlib.sha256(der).hexdigest()


async def test_a_client_certificate_is_fingerprinted_and_logs_in_with_sasl_external(
    tls_node: NodeProcess, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """Any self-signed certificate (even an expired one) is fingerprinted, never trusted."""
    assert tls_node.tls_port is not None
    pem, fingerprint = client_certificate(tmp_path, "alice-laptop")
    with_cert = client_context(certificate[0])
    with_cert.load_cert_chain(str(pem))
    alice = await IrcClient.tcp(tls_node.tls_port, ssl=with_cert)
    plain = await IrcClient.tcp(tls_node.tls_port, ssl=client_context(certificate[0]))
    try:
        await alice.register("alice")
        await plain.register("plain")
        await alice.send("WHOIS alice")
        shown = await alice.expect("276")
        assert shown.params[-1] == f"has client certificate fingerprint {fingerprint}"
        await plain.send("WHOIS alice")
        assert "276" not in [m.command for m in await plain.collect_until("318")]
        await plain.send("WHOIS plain")
        assert "276" not in [m.command for m in await plain.collect_until("318")]
        await alice.send("PRIVMSG NickServ :REGISTER correct-horse-battery")
        await alice.expect("900")
        await alice.send("PRIVMSG NickServ :CERT ADD")
        assert (await alice.expect("NOTICE")).last == "Certificate added"
        await alice.quit()
    finally:
        await alice.close()
        await plain.close()

    again = client_context(certificate[0])
    again.load_cert_chain(str(pem))
    back = await IrcClient.tcp(tls_node.tls_port, ssl=again)
    try:
        await back.send("CAP REQ :sasl")
        await back.send("NICK back")
        await back.send("USER back 0 * :B")
        await back.send("AUTHENTICATE EXTERNAL")
        assert (await back.expect("AUTHENTICATE")).params == ["+"]
        await back.send("AUTHENTICATE +")
        assert (await back.expect("903")).last == "SASL authentication successful"
        await back.send("CAP END")
        await back.expect("001")
        await back.send("WHOIS back")
        assert (await back.expect("330")).params[2] == "alice"
    finally:
        await back.close()

    expired_pem, _ = client_certificate(tmp_path, "old", expired=True)
    old = client_context(certificate[0])
    old.load_cert_chain(str(expired_pem))
    stranger = await IrcClient.tcp(tls_node.tls_port, ssl=old)
    try:
        await stranger.send("CAP REQ :sasl")
        await stranger.send("NICK stranger")
        await stranger.send("AUTHENTICATE EXTERNAL")
        await stranger.expect("AUTHENTICATE")
        await stranger.send("AUTHENTICATE +")
        await stranger.expect("904")  # connected, fingerprinted, but no account lists it
    finally:
        await stranger.close()
