"""Real client addresses behind HAProxy: a real node process, a real HAProxy, real clients.

HAProxy (Debian's ``haproxy``) listens on 127.0.0.1 and forwards to the
node, which trusts only 127.0.0.1 (``trustedProxies``):

* ``send-proxy`` (v1) and ``send-proxy-v2`` to the node's IRC port, which has
  ``proxyProtocol: true``, and ``send-proxy-v2`` to an IRC-over-TLS port (the
  header comes before the TLS handshake);
* HTTP mode with ``option forwardfor`` to the node's WebSocket port.

Clients reach HAProxy from distinct loopback sources (127.0.0.2, 127.0.0.3,
127.0.0.4): the node must see each one's own address (an oper's WHOIS shows
it in 338), count ``maxPerAddress`` per real client, and refuse a PROXY
header or an ``X-Forwarded-For`` that comes straight from an untrusted peer.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.certs import make_certificate
from tests.irc.client import IrcClient
from tests.nodeproc import NodeProcess, free_port, make_node, stop_process
from tests.waiting import wait_until

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)
pytestmark = pytest.mark.skipif(
    HAPROXY is None,
    reason="haproxy is not installed (Debian package haproxy; scripts/install-system-deps.sh)",
)

ALICE, BOB, OPER = "127.0.0.2", "127.0.0.3", "127.0.0.4"


@dataclass
class Front:
    """HAProxy's ports, one per mode, and the node behind them."""

    node: NodeProcess
    v1: int
    v2: int
    tls_v2: int
    http: int
    #: HAProxy in TCP mode (send-proxy-v2) to the node's PROXY WebSocket port.
    ws_v2: int
    #: The node's WebSocket port that takes PROXY headers.
    node_ws_proxy: int


def _haproxy_config(
    node: NodeProcess, tls_port: int, ws_proxy_port: int, front: dict[str, int]
) -> str:
    return f"""
global
    maxconn 256
defaults
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout tunnel 30s
frontend irc_v1
    mode tcp
    bind 127.0.0.1:{front["v1"]}
    default_backend node_v1
backend node_v1
    mode tcp
    server node 127.0.0.1:{node.irc_port} send-proxy
frontend irc_v2
    mode tcp
    bind 127.0.0.1:{front["v2"]}
    default_backend node_v2
backend node_v2
    mode tcp
    server node 127.0.0.1:{node.irc_port} send-proxy-v2
frontend irc_tls_v2
    mode tcp
    bind 127.0.0.1:{front["tls_v2"]}
    default_backend node_tls_v2
backend node_tls_v2
    mode tcp
    server node 127.0.0.1:{tls_port} send-proxy-v2
frontend ws_v2
    mode tcp
    bind 127.0.0.1:{front["ws_v2"]}
    default_backend node_ws_v2
backend node_ws_v2
    mode tcp
    server node 127.0.0.1:{ws_proxy_port} send-proxy-v2
frontend web
    mode http
    bind 127.0.0.1:{front["http"]}
    option forwardfor
    default_backend node_web
backend node_web
    mode http
    server node 127.0.0.1:{node.ws_port}
"""


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    tmp = tmp_path_factory.mktemp("haproxy")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    if not make_certificate(cert, key):
        pytest.skip("no way to make a certificate: neither 'cryptography' nor 'openssl'")
    tls_port, ws_proxy_port = free_port(), free_port()
    node = make_node(
        tmp,
        name="proxied",
        trustedProxies=["127.0.0.1/32"],
        limits={"maxPerAddress": 1},
        operators=[{"name": "boss", "password": "secret"}],
    )
    # The listeners need the ports make_node picked: PROXY headers on IRC and IRC over TLS.
    config_data = yaml.safe_load(node.config_path.read_text())
    config_data["listeners"] = {
        "admin": config_data["listeners"]["admin"],
        "irc": [{"host": "127.0.0.1", "port": node.irc_port, "proxyProtocol": True}],
        "ircTls": [
            {
                "host": "127.0.0.1",
                "port": tls_port,
                "certFile": str(cert),
                "keyFile": str(key),
                "proxyProtocol": True,
            }
        ],
        "websocket": [
            {"host": "127.0.0.1", "port": node.ws_port},
            {"host": "127.0.0.1", "port": ws_proxy_port, "proxyProtocol": True},
        ],
    }
    node.config_path.write_text(yaml.safe_dump(config_data))
    ports = {name: free_port() for name in ("v1", "v2", "tls_v2", "http", "ws_v2")}
    config = tmp / "haproxy.cfg"
    config.write_text(_haproxy_config(node, tls_port, ws_proxy_port, ports))
    node.start()
    assert HAPROXY is not None
    log = (tmp / "haproxy.log").open("wb")
    proxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=log)
    try:

        def listening() -> bool:
            if proxy.poll() is not None:
                raise RuntimeError(f"haproxy exited: {(tmp / 'haproxy.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", ports["http"]), timeout=1).close()
            except OSError:
                return False
            return True

        wait_until(listening, 10.0, "haproxy listening", 0.05)
        yield Front(
            node,
            ports["v1"],
            ports["v2"],
            ports["tls_v2"],
            ports["http"],
            ports["ws_v2"],
            ws_proxy_port,
        )
    finally:
        stop_process(proxy, timeout=5)
        log.close()
        node.stop()


async def _whois_address(oper: IrcClient, nick: str) -> str:
    await oper.send(f"WHOIS {nick}")
    actually = await oper.expect("338")
    await oper.expect("318")
    return actually.params[2]


async def _oper(front: Front) -> IrcClient:
    oper = await IrcClient.tcp(front.v2, source=OPER)
    await oper.register("boss")
    await oper.send("OPER boss secret")
    await oper.expect("381")
    return oper


async def test_each_client_is_seen_with_its_own_address_v1_and_v2(front: Front) -> None:
    async with (
        await IrcClient.tcp(front.v1, source=ALICE) as alice,
        await IrcClient.tcp(front.v2, source=BOB) as bob,
        await _oper(front) as oper,
    ):
        await alice.register("alice")
        await bob.register("bob")
        assert await _whois_address(oper, "alice") == ALICE  # through send-proxy (v1)
        assert await _whois_address(oper, "bob") == BOB  # through send-proxy-v2
        assert await _whois_address(oper, "boss") == OPER


async def _registered_once_free(port: int, source: str, nick: str) -> IrcClient:
    """``nick`` registered from ``source``, once an earlier test's connection from that
    address is gone: HAProxy closes its side to the node after the client, so the
    node may still count it for a moment (the limit here is 1)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        client = await IrcClient.tcp(port, source=source)
        try:
            await client.register(nick)
        except AssertionError as exc:
            await client.close()
            late = asyncio.get_running_loop().time() > deadline
            if "Too many connections" not in str(exc) or late:
                raise
            await asyncio.sleep(0.1)
        else:
            return client


async def test_the_per_address_limit_counts_each_real_client(front: Front) -> None:
    async with await _registered_once_free(front.v1, ALICE, "alice2"):
        # A second connection from 127.0.0.2 is refused though HAProxy's own
        # address (127.0.0.1) is what the node's socket sees for both...
        async with await IrcClient.tcp(front.v2, source=ALICE) as again:
            error = await again.expect("ERROR")
            assert "Too many connections from your address (1)" in error.params[0]
            assert ALICE in error.params[0]
        # ...while 127.0.0.3 gets in.
        async with await IrcClient.tcp(front.v2, source=BOB) as bob:
            await bob.register("bob2")


async def test_tls_after_a_proxy_header(front: Front) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with (
        await IrcClient.tcp(front.tls_v2, ssl=context, source=BOB) as secure,
        await _oper(front) as oper,
    ):
        await secure.register("secure")
        assert await _whois_address(oper, "secure") == BOB


async def _raw_exchange(port: int, source: str, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


async def test_a_forged_proxy_header_from_an_untrusted_peer_is_refused(front: Front) -> None:
    for header in (
        b"PROXY TCP4 198.51.100.9 127.0.0.1 40000 6667\r\nNICK forger\r\n",
        b"NICK plain\r\nUSER plain 0 * :plain\r\n",
    ):
        answer = await _raw_exchange(front.node.irc_port, ALICE, header)
        assert answer.startswith(b"ERROR :Closing Link: 127.0.0.2 ("), answer
        assert b"127.0.0.2 is not a trusted proxy" in answer
    assert "refused a connection on the irc listener from 127.0.0.2" in front.node.log()


async def test_a_garbled_header_from_the_proxy_is_refused(front: Front) -> None:
    # 127.0.0.1 is trusted, but what it sends must still be a PROXY header.
    answer = await _raw_exchange(front.node.irc_port, "127.0.0.1", b"NICK x\r\nUSER x 0 * :x\r\n")
    assert answer.startswith(b"ERROR :Closing Link: 127.0.0.1 (the connection does not start")


async def test_websocket_through_http_proxy_is_seen_with_its_address(front: Front) -> None:
    async with (
        await IrcClient.websocket(f"ws://127.0.0.1:{front.http}/", source=ALICE) as web,
        await _oper(front) as oper,
    ):
        await web.register("webby")
        assert await _whois_address(oper, "webby") == ALICE


async def test_a_client_written_forwarded_for_through_the_proxy_is_not_believed(
    front: Front,
) -> None:
    # HAProxy appends 127.0.0.3 after what the client wrote: the walk from the
    # right stops there, at the first address that is not a trusted proxy.
    async with (
        await IrcClient.websocket(
            f"ws://127.0.0.1:{front.http}/",
            source=BOB,
            headers={"X-Forwarded-For": "192.0.2.66"},
        ) as web,
        await _oper(front) as oper,
    ):
        await web.register("spoofer")
        assert await _whois_address(oper, "spoofer") == BOB


async def test_a_forged_forwarded_for_from_an_untrusted_peer_is_refused(front: Front) -> None:
    for header in ("X-Forwarded-For: 192.0.2.66", "Forwarded: for=192.0.2.66"):
        request = (
            "GET / HTTP/1.1\r\nHost: chat\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"{header}\r\n\r\n"
        )
        answer = await _raw_exchange(front.node.ws_port, BOB, request.encode())
        assert answer.startswith(b"HTTP/1.1 403"), answer
        assert b"from 127.0.0.3, which is not a trusted proxy (trustedProxies)" in answer


async def test_websocket_through_a_tcp_balancer_with_proxy_v2(front: Front) -> None:
    async with (
        await IrcClient.websocket(f"ws://127.0.0.1:{front.ws_v2}/", source=ALICE) as web,
        await _oper(front) as oper,
    ):
        await web.register("l4web")
        assert await _whois_address(oper, "l4web") == ALICE


async def test_a_websocket_port_with_proxy_protocol_refuses_untrusted_peers(
    front: Front,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: chat\r\n\r\n"
    answer = await _raw_exchange(front.node_ws_proxy, BOB, request)
    assert answer.startswith(b"HTTP/1.1 403 Forbidden"), answer
    assert b"127.0.0.3 is not a trusted proxy" in answer
