"""Portals between real chatnet-node processes on loopback.

The seeds' networks: Exchange's three servers (IDs 10, 11, 12) that make one
network of 3,000 users, and ConferenceRoom's geographic network of two hubs
with three leaves each, where a leaf whose hub dies moves to the next.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.irc.blocking import LineClient
from tests.irc.lines import contains, from_user
from tests.nodeproc import NodeProcess, make_node
from tests.waiting import wait_until

SECRET = "portal-test-secret"


def Client(node: NodeProcess, nick: str) -> LineClient:  # noqa: N802 - reads like a class
    """A registered IRC client on ``node``."""
    return LineClient.tcp(node.irc_port).register(nick)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Any]:
    nodes: list[NodeProcess] = []
    clients: list[LineClient] = []

    class Network:
        def node(
            self, name: str, sid: int, operators: list[Any] | None = None, **links: Any
        ) -> NodeProcess:
            node = make_node(
                tmp_path,
                name,
                serverId=sid,
                links={"secret": SECRET, **links},
                operators=operators or [],
            )
            nodes.append(node)
            return node

        def client(self, node: NodeProcess, nick: str) -> LineClient:
            client = Client(node, nick)
            clients.append(client)
            return client

    yield Network()
    for client in clients:
        client.close()
    for node in nodes:
        node.stop()


def peer(node: NodeProcess, sid: int) -> dict[str, Any]:
    return {"name": node.name, "serverId": sid, "host": "127.0.0.1", "port": node.ws_port}


def test_exchange_three_servers_are_one_network(network: Any) -> None:
    chat1 = network.node("chat1", 10, accept=["chat2", "chat3"])
    chat2 = network.node("chat2", 11, dial=[peer(chat1, 10)], accept=["chat3"])
    chat3 = network.node("chat3", 12, dial=[peer(chat1, 10), peer(chat2, 11)])
    for node in (chat1, chat2, chat3):
        node.start()
    users = [network.client(n, f"user{i}") for i, n in enumerate((chat1, chat2, chat3), 1)]
    for user in users:
        user.wait_linked(3)
    for user in users:
        user.send("JOIN #lobby")
        user.expect("366")
    time.sleep(0.5)
    for user in users:
        user.drain()
    users[0].send("PRIVMSG #lobby :hello from chat1")
    for other in users[1:]:
        assert other.expect(contains("PRIVMSG #lobby")).raw.endswith(":hello from chat1")
    # Exactly once: nothing more arrives.
    for other in users[1:]:
        assert not [line for line in other.drain() if line.command == "PRIVMSG"]
    users[2].send("NAMES #lobby")
    names = users[2].expect("353")
    assert {"user1", "user2", "user3"} <= set(names.last.replace("@", "").split())
    users[0].send("WHOIS user3")
    assert " 312 user1 user3 chat3 " in users[0].expect("312").raw
    users[1].send("LINKS")
    linked = []
    for line in users[1].incoming(5):
        if line.command == "364":
            linked.append(line.params[1])
        if line.command == "365":
            break
    assert sorted(linked) == ["chat1", "chat2", "chat3"]
    users[2].send("PRIVMSG user1 :a private word")
    assert users[0].expect(contains("PRIVMSG user1")).raw.endswith(":a private word")
    with urllib.request.urlopen(chat1.admin_url + "/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    assert 'chatnet_link_messages_out_total{peer="chat2",server="chat1"}' in metrics
    assert 'chatnet_links_up{server="chat1"} 2.0' in metrics
    with urllib.request.urlopen(chat1.admin_url + "/status", timeout=5) as resp:
        links = json.load(resp)["links"]
    assert sorted(link["peer"] for link in links) == ["chat2", "chat3"]
    assert all(link["up"] and link["rttMs"] is not None for link in links)


def test_geographic_leaves_move_to_the_next_hub(network: Any) -> None:
    hub_us = network.node("hub-us", 1, accept=["us-1", "us-2", "eu-1", "eu-2", "hub-eu"])
    hub_eu = network.node(
        "hub-eu", 2, dial=[peer(hub_us, 1)], accept=["us-1", "us-2", "eu-1", "eu-2"]
    )
    leaves = []
    for name, sid, order in (
        ("us-1", 11, (hub_us, hub_eu)),
        ("us-2", 12, (hub_us, hub_eu)),
        ("eu-1", 13, (hub_eu, hub_us)),
        ("eu-2", 14, (hub_eu, hub_us)),
    ):
        dial = [
            peer(order[0], 1 if order[0] is hub_us else 2),
            peer(order[1], 1 if order[1] is hub_us else 2),
        ]
        leaves.append(network.node(name, sid, role="leaf", dial=dial))
    for node in (hub_us, hub_eu, *leaves):
        node.start()
    alice = network.client(leaves[0], "alice")  # on us-1
    bruno = network.client(leaves[3], "bruno")  # on eu-2
    alice.wait_linked(6)
    for user in (alice, bruno):
        user.send("JOIN #geo")
        user.expect("366")
    alice.expect(from_user("bruno", "JOIN", "#geo"))
    alice.drain()
    bruno.send("PRIVMSG #geo :across the ocean")
    assert alice.expect(contains("PRIVMSG #geo")).raw.endswith(":across the ocean")
    bruno.drain()
    # The US hub dies: us-1 re-homes to hub-eu, alice stays connected.
    assert hub_us.proc is not None
    hub_us.proc.send_signal(signal.SIGKILL)
    hub_us.proc.wait()
    split = alice.expect("QUIT")
    assert split.nick == "bruno" and split.last == "us-1 hub-us", split
    alice.expect(from_user("bruno", "JOIN", "#geo"), timeout=20)
    # Both sides of the netjoin know each other before the next message.
    assert "hub-eu hub-us" in bruno.expect(from_user("alice", "QUIT")).raw
    bruno.expect(from_user("alice", "JOIN", "#geo"), timeout=20)
    bruno.send("PRIVMSG #geo :still here after the split")
    assert alice.expect(contains("PRIVMSG #geo")).raw.endswith(":still here after the split")
    assert "us-1 -- hub-eu" in leaves[0].log()


def test_a_leaf_started_with_its_network_waits_for_its_first_uplink(network: Any) -> None:
    """A whole network started at once: the leaf's own region's hub comes up a
    second after it. The leaf waits for it (``START_GRACE``) instead of settling
    on the other region's hub for good (there is no fail-back)."""
    hub_us = network.node("hub-us", 1, accept=["eu-1", "hub-eu"])
    hub_eu = network.node("hub-eu", 2, dial=[peer(hub_us, 1)], accept=["eu-1"])
    eu_1 = network.node("eu-1", 13, role="leaf", dial=[peer(hub_eu, 2), peer(hub_us, 1)])
    hub_us.start()
    eu_1.start()
    time.sleep(1.5)  # eu-1 is dialing; hub-eu is not up yet
    hub_eu.start()
    bruno = network.client(eu_1, "bruno")
    bruno.wait_linked(3)
    assert "link up: eu-1 -- hub-eu" in eu_1.log()
    assert "eu-1 -- hub-us" not in eu_1.log()


def test_wrong_secret_is_refused_with_a_reason_on_both_sides(network: Any, tmp_path: Path) -> None:
    hub = network.node("hub", 1, accept=["intruder"])
    hub.start()
    intruder = make_node(
        tmp_path, "intruder", serverId=2, links={"secret": "not-the-secret", "dial": [peer(hub, 1)]}
    )
    intruder.start()
    try:
        wait_until(lambda: "authentication failed" in hub.log(), 15, "the refusal logged", 0.2)
        assert "authentication failed: wrong link secret" in hub.log()
        # The intruder logs the refusal when the hub's answer reaches it, a moment later.
        wait_until(lambda: "wrong link secret" in intruder.log(), 15, "the intruder told", 0.1)
        alone = network.client(hub, "lonely")
        alone.send("LUSERS")
        assert "on 1 servers" in alone.expect("251").raw
    finally:
        intruder.stop()


def test_squit_splits_and_connect_rejoins(network: Any) -> None:
    ops = [{"name": "admin", "password": "pw"}]
    left = network.node("left", 1, accept=["right"])
    right = network.node("right", 2, operators=ops, dial=[peer(left, 1)])
    for node in (left, right):
        node.start()
    admin = network.client(right, "admin")
    lefty = network.client(left, "lefty")
    admin.wait_linked(2)
    for user in (admin, lefty):
        user.send("JOIN #ops")
        user.expect("366")
    admin.send("OPER admin pw")
    admin.expect("381")
    admin.send("SQUIT left :maintenance")
    assert admin.expect("QUIT").nick == "lefty"
    time.sleep(2)  # SQUIT keeps it down: no automatic reconnect
    admin.send("LUSERS")
    assert "on 1 servers" in admin.expect("251").raw
    admin.send("CONNECT left")
    admin.expect(from_user("lefty", "JOIN", "#ops"), timeout=20)
    lefty.send("SQUIT right :not an operator")
    assert " 481 " in lefty.expect("481").raw
