"""IRC over TLS: a node with an ``ircTls`` listener and a self-signed certificate.

The certificate comes from the ``cryptography`` package when the test
environment has it, else from the ``openssl`` command; with neither the tests
are skipped with a message saying so.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ircclient import IrcClient
from tests.nodeproc import NodeProcess, free_port, make_node


def _with_cryptography(cert: Path, key: Path) -> bool:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return False
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return True


def _with_openssl(cert: Path, key: Path) -> bool:
    openssl = shutil.which("openssl")
    if openssl is None:
        return False
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return True


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    if not (_with_cryptography(cert, key) or _with_openssl(cert, key)):
        pytest.skip("no way to make a certificate: neither 'cryptography' nor 'openssl'")
    return cert, key


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
