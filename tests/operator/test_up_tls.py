"""IRC over TLS through ``chatnet up``'s front door (``endpoint.tls``).

The door hands the raw socket to a node before any byte of the handshake
(``SCM_RIGHTS``, message ``t``), and the node does TLS with the certificate
of the ``kind: Secret`` in the files: so the client registers, chats with a
plain-TCP client, is marked secure, and the node sees the client's own
address (127.0.0.2; a relay would show the door's 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatnet_node.transport.tls import self_signed
from chatnet_operator.api.loader import parse_text
from chatnet_operator.api.validate import validate_documents
from chatnet_operator.local.frontdoor import Listener
from chatnet_operator.local.manifests import InputError, check_local_secrets, secret_values
from tests.irc.blocking import LineClient
from tests.operator.test_up import irc_client, up_factory  # noqa: F401 (the fixture)

NETWORK = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: secure}
spec:
  endpoint: {tls: {secretName: secure-tls}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: hub}
spec: {network: secure, role: hub, serverId: 1, replicas: 2}
"""


def secret(cert: bytes, key: bytes) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "secure-tls"},
        "stringData": {"tls.crt": cert.decode(), "tls.key": key.decode()},
    }
    return "---\n" + yaml.safe_dump(doc)


def tls_client(address: str, cafile: Path, nick: str, source: str) -> LineClient:
    """A registered IRC-over-TLS client connecting from loopback address ``source``."""
    host, port = address.rsplit(":", 1)
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect((host, int(port)))
    context = ssl.create_default_context(cafile=str(cafile))
    return LineClient(context.wrap_socket(sock, server_hostname="localhost"), "tls").register(
        nick, caps=["echo-message"]
    )


def test_a_tls_client_through_the_front_door_is_handed_to_a_node_that_does_tls(
    tmp_path: Path,
    up_factory: Any,  # noqa: F811
) -> None:
    cert, key = self_signed("localhost", days=1, addresses=["127.0.0.1"])
    (tmp_path / "ca.pem").write_bytes(cert)
    manifest = tmp_path / "net.yaml"
    manifest.write_text(NETWORK + secret(cert, key))
    up = up_factory(manifest)
    doc = up.endpoints()
    assert set(doc["network"]) >= {"irc", "ircs", "ws"}, doc["network"]
    assert all("ircs" in server for server in doc["servers"].values()), doc["servers"]

    secure = tls_client(doc["network"]["ircs"], tmp_path / "ca.pem", "sec", "127.0.0.2")
    up.clients.append(secure)
    plain = up.client(doc["network"]["irc"], "plain")
    for client in (secure, plain):
        client.join("#tls")
    secure.privmsg("#tls", "over tls")
    plain.saw(lambda m: m.command == "PRIVMSG" and m.params[-1] == "over tls")
    plain.send("PRIVMSG #tls :over tcp")
    secure.saw(lambda m: m.command == "PRIVMSG" and m.params[-1] == "over tcp")

    secure.send("WHOIS sec")
    secure.saw(lambda m: m.command == "318")  # end of WHOIS
    numerics = {m.command: m.params[-1] for m in secure.seen}
    assert numerics.get("671") == "is using a secure connection", numerics
    # The node accepted the client's own socket: its address, not the door's.
    assert numerics.get("378", "").endswith(" 127.0.0.2"), numerics
    assert "127.0.0.1" not in numerics["378"]
    plain.send("WHOIS sec")
    plain.saw(lambda m: m.command == "671" and m.params[1] == "sec")


def test_without_the_secret_in_the_files_chatnet_up_says_which_one() -> None:
    docs = parse_text(NETWORK, "net.yaml")
    networks = validate_documents(docs).networks
    with pytest.raises(InputError) as caught:
        check_local_secrets(networks, secret_values(docs))
    assert str(caught.value) == (
        "ChatNetwork/secure: spec.endpoint.tls: Secret secure-tls (keys tls.crt, tls.key) "
        "is not in the files: missing tls.crt, tls.key; locally there is no cert-manager "
        "and chatnet up reads Secrets only from its input: add a kind: Secret of type "
        "kubernetes.io/tls with that name (PEM in stringData or base64 data)"
    )
    only_cert = parse_text(NETWORK + secret(b"x", b"y").replace("  tls.key: y\n", ""), "x")
    with pytest.raises(InputError, match=r"missing tls\.key;"):
        check_local_secrets(networks, secret_values(only_cert))


def test_a_full_network_closes_a_tls_client_without_plain_text() -> None:
    """No server has room: an IRC-over-TLS client is closed, not sent a plain ERROR line
    (which its TLS library would take for a broken handshake)."""

    async def scenario() -> tuple[bytes, bytes]:
        answers = []
        for kind in ("irc-tls", "irc"):
            door = Listener("127.0.0.1", 0, lambda _: None, kind)
            port = await door.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            async with asyncio.timeout(5):
                answers.append(await reader.read())
            writer.close()
            await door.close()
        return answers[0], answers[1]

    tls, plain = asyncio.run(scenario())
    assert tls == b""
    assert plain.startswith(b"ERROR :Closing link: every server of this network is full")


def test_a_node_without_a_handoff_socket_gets_the_tls_bytes_relayed(tmp_path: Path) -> None:
    """The fallback: the door relays the TLS stream untouched; the server does the handshake."""
    cert, key = self_signed("localhost", days=1, addresses=["127.0.0.1"])
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client_side = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"secure echo: " + await reader.readline())
        await writer.drain()
        writer.close()

    async def scenario() -> tuple[bytes, int, int]:
        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_side)
        target = ("127.0.0.1", int(server.sockets[0].getsockname()[1]))
        door = Listener("127.0.0.1", 0, lambda tried: None if tried else target, "irc-tls")
        port = await door.start()
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_side, server_hostname="localhost"
        )
        writer.write(b"PING :x\r\n")
        async with asyncio.timeout(5):
            line = await reader.readline()
        relayed = len(door.relays)
        writer.close()
        await door.close()
        server.close()
        return line, door.handed_off, relayed

    line, handed_off, relayed = asyncio.run(scenario())
    assert line == b"secure echo: PING :x\r\n"
    assert (handed_off, relayed) == (0, 1)
