"""The connection throttle counts across the network: two real linked servers.

Clients connect from their own loopback addresses (127.0.0.2, ...), which
the test nodes do not exempt, so each address is an attacker or a household
of its own; the servers share their counts over their link every 0.2 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.irc.blocking import LineClient
from tests.nodeproc import NodeProcess, make_node

SECRET = "throttle-test-secret"
SHARE = 0.2
#: Long enough for each server to have heard the other's counts.
SETTLE = SHARE * 5


def throttle(**overrides: Any) -> dict[str, Any]:
    return {"exempt": [], "shareInterval": SHARE, **overrides}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess, list[LineClient]]]:
    limits = {
        "throttle": throttle(maxConnections=4, maxAttempts=8, windowSeconds=30),
    }
    a = make_node(tmp_path, "a", serverId=10, links={"secret": SECRET}, limits=limits)
    b = make_node(
        tmp_path,
        "b",
        serverId=11,
        links={
            "secret": SECRET,
            "dial": [{"name": "a", "serverId": 10, "host": "127.0.0.1", "port": a.ws_port}],
        },
        limits=limits,
    )
    clients: list[LineClient] = []
    a.start()
    b.start()
    yield a, b, clients
    for client in clients:
        client.close()
    for node in (b, a):
        node.stop()
    for node in (a, b):
        assert "Traceback" not in node.log(), node.log()


def connect(
    clients: list[LineClient], node: NodeProcess, source: str, nick: str | None = None
) -> LineClient:
    client = LineClient.tcp(node.irc_port, source=source)
    clients.append(client)
    if nick is not None:
        client.register(nick)
    return client


def refusal(client: LineClient) -> str:
    lines = client.wait_closed()
    errors = [m.last for m in lines if m.command == "ERROR"]
    assert errors, lines
    return errors[0]


def test_connections_from_one_address_are_counted_on_every_server(
    pair: tuple[NodeProcess, NodeProcess, list[LineClient]],
) -> None:
    a, b, clients = pair
    first = connect(clients, a, "127.0.0.2", "one")
    first.wait_linked(2)
    connect(clients, a, "127.0.0.2", "two")
    three = connect(clients, b, "127.0.0.2", "three")
    connect(clients, b, "127.0.0.2", "four")
    time.sleep(SETTLE)
    # Two open here, two on the other server: the fifth is refused on both.
    for node in (a, b):
        reason = refusal(connect(clients, node, "127.0.0.2"))
        assert reason == (
            "Closing Link: 127.0.0.2 (Throttled: too many connections from 127.0.0.2 "
            "(4 open across the network, limit 4))"
        )
    # Another address is not affected, and the admitted clients keep chatting.
    other = connect(clients, a, "127.0.0.3", "other")
    for client in (first, three, other):
        client.join("#room")
    first.send("PRIVMSG #room :still here")
    assert three.expect("PRIVMSG", "#room").last == "still here"
    assert other.expect("PRIVMSG", "#room").last == "still here"
    # One leaves on b: a hears of it and admits one more from the address.
    three.send("QUIT :making room")
    three.wait_closed()
    time.sleep(SETTLE)
    connect(clients, a, "127.0.0.2", "five")


def test_connection_attempts_are_counted_on_every_server(
    pair: tuple[NodeProcess, NodeProcess, list[LineClient]],
) -> None:
    a, b, clients = pair
    connect(clients, a, "127.0.0.1", "watcher").wait_linked(2)
    # Eight attempts in the window, half on each server, each closed at once.
    for node in (a, b, a, b, a, b, a, b):
        probe = connect(clients, node, "127.0.0.4", None)
        probe.send("QUIT")
        probe.wait_closed()
    time.sleep(SETTLE)
    reason = refusal(connect(clients, a, "127.0.0.4"))
    assert reason.startswith(
        "Closing Link: 127.0.0.4 (Throttled: too many connection attempts from 127.0.0.4 "
        "(limit 8 per 30s across the network), try again in "
    ), reason
    connect(clients, b, "127.0.0.5", "unaffected")


def test_the_default_throttle_stops_a_connection_flood_from_one_address(tmp_path: Path) -> None:
    """Before the throttle, 1,500 connections from one address all registered."""
    node = make_node(tmp_path, "solo", limits={"throttle": {"exempt": []}})
    node.start()
    clients: list[LineClient] = []
    try:
        reasons = []
        for i in range(45):
            client = connect(clients, node, "127.0.0.6")
            client.send(f"NICK flood{i}", f"USER flood{i} 0 * :flood")
            lines = client.drain(0.05) if i < 20 else client.wait_closed()
            reasons.append(next((m.last for m in lines if m.command == "ERROR"), "admitted"))
        assert reasons[:20] == ["admitted"] * 20
        assert all("(20 open across the network, limit 20)" in r for r in reasons[20:30]), reasons
        assert all("(limit 30 per 60s across the network)" in r for r in reasons[30:]), reasons
        connect(clients, node, "127.0.0.7", "neighbour")
    finally:
        for client in clients:
            client.close()
        node.stop()
    assert "Traceback" not in node.log()
