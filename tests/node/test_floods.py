"""Floods against a real node over real sockets: each refused clearly, nothing else touched.

One node with tight limits serves every test; each attack comes from its own
loopback address (127.0.0.x: the node exempts none), and after each one two
bystanders still chat and the node holds no socket more than before.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

from tests.irc.blocking import LineClient
from tests.nodeproc import NodeProcess, free_port, make_node
from tests.waiting import wait_until

LIMITS = {
    "floodBurst": 1000,
    "floodRate": 1000,
    "registrationTimeout": 2.0,
    "handshakeTimeout": 1.0,
    "maxHandshakesPerAddress": 3,
    "joinPartBurst": 5,
    "joinPartPerMinute": 60,
    "nickChangeBurst": 2,
    "nickChangesPerMinute": 6,
    "historyRowsBurst": 10,
    "historyRowsPerSecond": 0.5,
    "queryLinesBurst": 5,
    "queryLinesPerSecond": 0.5,
    "throttle": {"exempt": [], "maxUnregistered": 3, "maxConnections": 50, "maxAttempts": 500},
}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp: Path = tmp_path_factory.mktemp("floods")
    tls_port = free_port()
    proc = make_node(
        tmp,
        limits=LIMITS,
        listeners={"ircTls": [{"host": "127.0.0.1", "port": tls_port, "selfSigned": True}]},
    )
    proc.tls_port = tls_port
    proc.start()
    yield proc
    proc.stop()
    assert "Traceback" not in proc.log(), proc.log()


def open_fds(node: NodeProcess) -> int:
    assert node.proc is not None
    return len(os.listdir(f"/proc/{node.proc.pid}/fd"))


@pytest.fixture
def clients(node: NodeProcess) -> Iterator[list[LineClient]]:
    """Clients closed at the end; then two bystanders chat and no socket is left over."""
    before = open_fds(node)
    opened: list[LineClient] = []
    yield opened
    for client in opened:
        client.close()
    a = LineClient.tcp(node.irc_port).register("bystander1")
    b = LineClient.tcp(node.irc_port).register("bystander2")
    a.join("#calm")
    b.join("#calm")
    a.send("PRIVMSG #calm :all quiet")
    assert b.expect("PRIVMSG", "#calm").last == "all quiet"
    a.close()
    b.close()
    wait_until(lambda: open_fds(node) <= before, 5.0, f"the node back to {before} fds")


def tcp(opened: list[LineClient], node: NodeProcess, source: str, nick: str = "") -> LineClient:
    client = LineClient.tcp(node.irc_port, source=source)
    opened.append(client)
    return client.register(nick) if nick else client


def raw(source: str, port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return sock


def read_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_registration_flood_is_bounded_per_address_and_timed_out(
    node: NodeProcess, clients: list[LineClient]
) -> None:
    idle = [tcp(clients, node, "127.0.0.10") for _ in range(3)]
    extra = tcp(clients, node, "127.0.0.10")
    lines = extra.wait_closed()
    assert [m.last for m in lines if m.command == "ERROR"] == [
        "Closing Link: 127.0.0.10 (Throttled: too many unregistered connections from "
        "127.0.0.10 (limit 3), finish registering first)"
    ]
    tcp(clients, node, "127.0.0.11", "neighbour")  # another address registers meanwhile
    started = time.monotonic()
    for conn in idle:
        closing = [m.last for m in conn.wait_closed(timeout=5) if m.command == "ERROR"]
        assert closing and closing[0].endswith("(Registration timed out)"), closing
    assert time.monotonic() - started < 4.0
    tcp(clients, node, "127.0.0.10", "latecomer")  # room again


def test_join_part_flood_costs_per_channel(node: NodeProcess, clients: list[LineClient]) -> None:
    user = tcp(clients, node, "127.0.0.12", "joiner")
    user.send("JOIN #a,#b,#c,#d,#e")
    user.expect("366", "joiner", "#e")
    user.send("JOIN #f")
    refused = user.expect("263")
    assert refused.params[1:] == [
        "JOIN",
        "Too many channel joins and parts (joinPartBurst, joinPartPerMinute): try again in 1s",
    ]
    user.send("NAMES #f")
    assert not [m for m in user.sync() if m.command == "353"]  # not a member: nobody there
    time.sleep(1.1)  # one a second comes back
    user.send("JOIN #f")
    user.expect("366", "joiner", "#f")


def test_nick_change_flood(node: NodeProcess, clients: list[LineClient]) -> None:
    user = tcp(clients, node, "127.0.0.13", "fickle")
    watcher = tcp(clients, node, "127.0.0.14", "watcher")
    for nick in ("fickle1", "fickle2"):
        user.send(f"NICK {nick}")
        user.expect("NICK", nick)
    user.send("NICK fickle3")
    refused = user.expect("438")
    assert refused.params[1:] == [
        "fickle3",
        "Too many nick changes (nickChangeBurst, nickChangesPerMinute): try again in 10s",
    ]
    watcher.send("WHOIS fickle2")
    watcher.expect("311", "watcher", "fickle2")


def test_chathistory_flood_is_charged_by_rows(node: NodeProcess, clients: list[LineClient]) -> None:
    talker = tcp(clients, node, "127.0.0.15", "historian")
    talker.join("#past")
    for i in range(20):
        talker.send(f"PRIVMSG #past :line {i}")
    talker.sync()
    reader = LineClient.tcp(node.irc_port, source="127.0.0.16")
    clients.append(reader)
    reader.register("reader", caps=["batch", "draft/chathistory", "server-time", "message-tags"])
    reader.join("#past")
    reader.send("CHATHISTORY LATEST #past * 100")
    served = reader.sync()
    assert sum(1 for m in served if m.command == "PRIVMSG") == 20  # in debt now: 21 of 10
    reader.send("CHATHISTORY LATEST #past * 100")
    refused = reader.expect("FAIL")
    assert refused.params[:3] == ["CHATHISTORY", "RATE_LIMITED", "LATEST"]
    assert refused.last.startswith(
        "Too many history rows (historyRowsBurst, historyRowsPerSecond): try again in "
    )


def test_who_and_monitor_floods_are_charged_by_reply_lines(
    node: NodeProcess, clients: list[LineClient]
) -> None:
    user = tcp(clients, node, "127.0.0.17", "asker")
    user.send("MONITOR + " + ",".join(f"nobody{i}" for i in range(10)))
    user.expect("731")  # answered: 11 lines of budget, 5 allowed, in debt
    user.send("WHO asker")
    refused = user.expect("263")
    assert refused.params[1:] == [
        "WHO",
        "Too many WHO/MONITOR reply lines (queryLinesBurst, queryLinesPerSecond): try again in 14s",
    ]
    user.send("MONITOR L")
    assert user.expect("263").params[1] == "MONITOR"


def test_oversized_websocket_message_is_closed_with_1009(
    node: NodeProcess, clients: list[LineClient]
) -> None:
    with ws_connect(node.ws_url, subprotocols=["text.ircv3.net"], max_size=None) as ws:  # type: ignore[list-item]
        ws.send("NICK big\r\nUSER big 0 * :big\r\n")
        ws.send("PRIVMSG #x :" + "A" * 20000)
        with pytest.raises(Exception):  # noqa: B017 - the close is what is checked
            while True:
                ws.recv(timeout=5)
        assert ws.close_code == 1009  # Message Too Big
        assert ws.protocol.close_rcvd is not None


def test_no_compression_is_offered_and_a_compressed_frame_is_refused(
    node: NodeProcess, clients: list[LineClient]
) -> None:
    with ws_connect(node.ws_url, subprotocols=["text.ircv3.net"]) as ws:  # type: ignore[list-item]
        # The client offered permessage-deflate (its default); the server declined it.
        assert "permessage-deflate" in str(ws.request.headers.get("Sec-WebSocket-Extensions"))
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        # A "compressed" frame (RSV1 set, a tiny deflate bomb) fails the connection (1002).
        bomb = bytes(1000)
        mask = b"\x01\x02\x03\x04"
        header = struct.pack("!BBH", 0xC1, 0x80 | 126, len(bomb)) + mask
        ws.socket.sendall(header + bytes(b ^ mask[i % 4] for i, b in enumerate(bomb)))
        with pytest.raises(Exception):  # noqa: B017 - the close is what is checked
            while True:
                ws.recv(timeout=5)
        assert ws.close_code == 1002  # Protocol Error


def test_slowloris_on_the_http_handshake(node: NodeProcess, clients: list[LineClient]) -> None:
    slow = [raw("127.0.0.18", node.ws_port) for _ in range(3)]
    for sock in slow:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the end
    with raw("127.0.0.18", node.ws_port) as extra:
        refused = read_all(extra)
    assert refused.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert refused.endswith(b"Throttled: too many unfinished requests from 127.0.0.18 (limit 3)\n")
    started = time.monotonic()
    for sock in slow:
        answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
        assert answer.endswith(b"Request not complete within 1s (handshakeTimeout)\n")
        sock.close()
    assert time.monotonic() - started < 3.0
    with ws_connect(  # the address may connect again
        node.ws_url,
        subprotocols=["text.ircv3.net"],
        source_address=("127.0.0.18", 0),  # type: ignore[list-item]
    ) as ws:
        ws.send("PING :back")
        assert "PONG" in str(ws.recv(timeout=5))


def test_slowloris_on_the_tls_handshake(node: NodeProcess, clients: list[LineClient]) -> None:
    assert node.tls_port is not None
    slow = [raw("127.0.0.19", node.tls_port) for _ in range(3)]
    time.sleep(0.2)
    started = time.monotonic()
    with raw("127.0.0.19", node.tls_port) as extra:
        assert read_all(extra) == b""  # closed at once
    assert time.monotonic() - started < 1.0
    for sock in slow:
        assert read_all(sock) == b""  # closed by the handshake timeout
        sock.close()
    assert time.monotonic() - started < 3.0
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock = raw("127.0.0.19", node.tls_port)
    with context.wrap_socket(sock) as tls:
        tls.sendall(b"NICK secure\r\nUSER secure 0 * :secure\r\n")
        tls.settimeout(5)
        data = b""
        while b" 001 " not in data:
            data += tls.recv(4096)
