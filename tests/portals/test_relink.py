"""A leaf killed and restarted at once re-links to its hub and gets the network back.

Real processes on loopback: a hub with two leaves. Leaf B is SIGKILLed and
started again straight away with the same configuration and ports, well
inside the hub's ping timeout. Its new link must replace the old one and the
burst must go both ways: a user who reconnects to B sees the channel's
members on the other leaf and gets their messages live.
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

SECRET = "relink-test-secret"
# Long enough that only the restart itself can end the old link.
PINGS = {"pingInterval": 30.0, "pingTimeout": 60.0}
# A client may send the load of the busy variant at once.
LIMITS = {"floodBurst": 1000, "floodRate": 1000.0, "floodMaxQueued": 2000}


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, NodeProcess]]:
    hub = make_node(
        tmp_path,
        "hub",
        serverId=1,
        links={"secret": SECRET, "accept": ["a", "b"], **PINGS},
        limits=LIMITS,
    )
    dial = [{"name": "hub", "serverId": 1, "host": "127.0.0.1", "port": hub.ws_port}]
    made = {"hub": hub}
    for name, sid in (("a", 11), ("b", 12)):
        made[name] = make_node(
            tmp_path,
            name,
            serverId=sid,
            links={"secret": SECRET, "role": "leaf", "dial": dial, **PINGS},
            limits=LIMITS,
        )
    try:
        for node in made.values():
            node.start()
        yield made
    finally:
        for node in made.values():
            node.stop()


def names_of(client: LineClient, channel: str) -> set[str]:
    client.send(f"NAMES {channel}")
    found: set[str] = set()
    for line in client.incoming(10):
        if line.command == "353":
            found |= set(line.last.replace("@", "").replace("+", "").split())
        if line.command == "366":
            return found
    raise AssertionError(f"no end of NAMES {channel}")


def servers_listed(client: LineClient, command: str, numeric: str, end: str) -> list[str]:
    client.send(command)
    seen = []
    for line in client.incoming(10):
        if line.command == numeric:
            seen.append(line.raw)
        if line.command == end:
            return seen
    raise AssertionError(f"no end of {command}")


def hear_all(sender: LineClient, receiver: LineClient, channel: str, count: int) -> None:
    texts = [f"line {i} after the restart" for i in range(count)]
    for text in texts:
        sender.send(f"PRIVMSG {channel} :{text}")
    for text in texts:
        got = receiver.expect(contains("after the restart"), timeout=10)
        assert got.last == text, got


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy-hub"])
def test_a_killed_leaf_restarted_at_once_gets_the_network_back(
    nodes: dict[str, NodeProcess], busy: bool
) -> None:
    hub, a, b = nodes["hub"], nodes["a"], nodes["b"]
    alice = LineClient.tcp(a.irc_port).register("alice")
    bob = LineClient.tcp(b.irc_port).register("bob")
    watcher = LineClient.tcp(hub.irc_port).register("watcher")
    clients = [alice, bob, watcher]
    try:
        alice.wait_linked(3)
        bob.wait_linked(3)
        for client in (alice, bob, watcher):
            client.join("#c")
        alice.expect(from_user("bob", "JOIN", "#c"))
        hear_all(alice, bob, "#c", 3)

        assert b.proc is not None
        if busy:  # the hub is busy relaying when b goes and comes back
            for i in range(300):
                alice.send(f"PRIVMSG #c :load {i}")
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(timeout=10)
        b.start()  # same configuration and ports, at once
        killed_at = time.monotonic()
        bob.close()

        bob = LineClient.tcp(b.irc_port).register("bob")
        clients.append(bob)
        bob.wait_linked(3)
        bob.join("#c")
        alice.expect(from_user("bob", "JOIN", "#c"), timeout=10)
        assert "alice" in names_of(bob, "#c"), b.log()[-3000:]
        assert {"alice", "bob", "watcher"} <= names_of(watcher, "#c")
        hear_all(alice, bob, "#c", 5)
        bob.drain(0.5)
        bob.send("PRIVMSG #c :bob is back")
        assert alice.expect(contains("PRIVMSG #c :bob is back"), timeout=10).last == "bob is back"
        assert time.monotonic() - killed_at < PINGS["pingTimeout"], "not the ping timeout's doing"

        links = servers_listed(watcher, "LINKS", "364", "365")
        assert sorted(line.split()[3] for line in links) == ["a", "b", "hub"], links
        bob_links = servers_listed(bob, "LINKS", "364", "365")
        assert sorted(line.split()[3] for line in bob_links) == ["a", "b", "hub"], bob_links
        # One bob only: the one from before the kill is gone everywhere.
        whos = servers_listed(watcher, "WHO bob", "352", "315")
        assert len(whos) == 1, whos
    finally:
        for client in clients:
            client.close()


def hub_node(tmp: Path, name: str, sid: int, accept: list[str], dial: list[Any]) -> NodeProcess:
    links = {"secret": SECRET, "accept": accept, "dial": dial, **PINGS}
    return make_node(tmp, name, serverId=sid, links=links, limits=LIMITS)


def settle(*hubs: NodeProcess) -> None:
    """Wait until every hub has a link to every other, then a moment for the adverts."""
    wait_until(
        lambda: all(len(links_of(hub)) == len(hubs) - 1 for hub in hubs), 20, "the ring up", 0.1
    )
    time.sleep(0.5)


def links_of(node: NodeProcess) -> list[str]:
    with urllib.request.urlopen(node.admin_url + "/status", timeout=5) as resp:
        return [str(link["peer"]) for link in json.load(resp)["links"]]


def test_a_killed_hub_of_a_ring_restarted_at_once_gets_the_network_back(tmp_path: Path) -> None:
    """Three hubs in a ring: when one comes back, the others may still see it through the third."""

    def to(node: NodeProcess, sid: int) -> dict[str, Any]:
        return {"name": node.name, "serverId": sid, "host": "127.0.0.1", "port": node.ws_port}

    h1 = hub_node(tmp_path, "h1", 1, ["h2", "h3"], [])
    h2 = hub_node(tmp_path, "h2", 2, ["h3"], [to(h1, 1)])
    h3 = hub_node(tmp_path, "h3", 3, [], [to(h1, 1), to(h2, 2)])
    started = [h1, h2, h3]
    clients: list[LineClient] = []
    try:
        for node in started:
            node.start()
        # Users arrive once every server has every link in its view: while the
        # three views differ, a ring's routes may miss a server (reported apart).
        settle(h1, h2, h3)
        alice = LineClient.tcp(h1.irc_port).register("alice")
        bob = LineClient.tcp(h2.irc_port).register("bob")
        carol = LineClient.tcp(h3.irc_port).register("carol")
        clients += [alice, bob, carol]
        for client in clients:
            client.wait_linked(3)
            client.join("#c")
        alice.expect(from_user("carol", "JOIN", "#c"))
        hear_all(alice, bob, "#c", 2)

        assert h2.proc is not None
        h2.proc.send_signal(signal.SIGKILL)
        h2.proc.wait(timeout=10)
        h2.start()
        bob.close()
        settle(h1, h2, h3)
        bob = LineClient.tcp(h2.irc_port).register("bob")
        clients.append(bob)
        bob.wait_linked(3)
        bob.join("#c")
        alice.expect(from_user("bob", "JOIN", "#c"), timeout=10)
        assert {"alice", "carol"} <= names_of(bob, "#c"), h2.log()[-3000:]
        hear_all(alice, bob, "#c", 5)
        for client in (alice, carol):
            assert len(servers_listed(client, "WHO bob", "352", "315")) == 1, h1.log()[-3000:]
            assert {"alice", "bob", "carol"} <= names_of(client, "#c")
        links = servers_listed(carol, "LINKS", "364", "365")
        assert sorted(line.split()[3] for line in links) == ["h1", "h2", "h3"], links
    finally:
        for client in clients:
            client.close()
        for node in started:
            node.stop()


def test_a_killed_hub_restarted_at_once_joins_its_leaves_again(
    nodes: dict[str, NodeProcess],
) -> None:
    hub, a, b = nodes["hub"], nodes["a"], nodes["b"]
    alice = LineClient.tcp(a.irc_port).register("alice")
    bob = LineClient.tcp(b.irc_port).register("bob")
    try:
        alice.wait_linked(3)
        bob.wait_linked(3)
        for client in (alice, bob):
            client.join("#c")
        alice.expect(from_user("bob", "JOIN", "#c"))
        assert hub.proc is not None
        hub.proc.send_signal(signal.SIGKILL)
        hub.proc.wait(timeout=10)
        hub.start()
        # The leaves see each other quit, then join again through the new hub.
        assert alice.expect("QUIT", timeout=10).nick == "bob"
        assert bob.expect("QUIT", timeout=10).nick == "alice"
        alice.expect(from_user("bob", "JOIN", "#c"), timeout=20)
        bob.expect(from_user("alice", "JOIN", "#c"), timeout=20)
        assert {"alice", "bob"} <= names_of(bob, "#c"), "\n".join(
            m.raw for m in bob.inbox.seen[-30:]
        )
        hear_all(alice, bob, "#c", 5)
        links = servers_listed(bob, "LINKS", "364", "365")
        assert sorted(line.split()[3] for line in links) == ["a", "b", "hub"], links
    finally:
        alice.close()
        bob.close()


def test_a_leaf_that_started_again_unseen_leaves_no_ghosts(tmp_path: Path) -> None:
    """A leaf whose host vanished without closing its link (here: stopped, not
    killed) starts again elsewhere: its first hub still holds the old link and
    refuses a second, so it links to its other hub. Its users of before must
    not stay on the network, holding their nicks, until the old link's ping
    timeout and beyond (the leaf stays reachable): they quit as soon as its new
    start's clock is heard."""

    def to(node: NodeProcess, sid: int) -> dict[str, Any]:
        return {"name": node.name, "serverId": sid, "host": "127.0.0.1", "port": node.ws_port}

    h = hub_node(tmp_path, "h", 1, ["h2", "b"], [])
    h2 = hub_node(tmp_path, "h2", 2, ["b"], [to(h, 1)])

    def leaf(folder: Path) -> NodeProcess:
        folder.mkdir(exist_ok=True)
        links = {"secret": SECRET, "role": "leaf", "dial": [to(h, 1), to(h2, 2)], **PINGS}
        return make_node(folder, "b", serverId=3, links=links, limits=LIMITS)

    b = leaf(tmp_path)
    started = [h, h2, b]
    clients: list[LineClient] = []
    try:
        for node in started:
            node.start()
        wait_until(lambda: "h2" in links_of(h), 20, "h -- h2 up", 0.1)
        watcher = LineClient.tcp(h.irc_port).register("watcher")
        bob = LineClient.tcp(b.irc_port).register("bob")
        clients += [watcher, bob]
        bob.wait_linked(3)
        for client in (watcher, bob):
            client.join("#c")
        watcher.expect(from_user("bob", "JOIN", "#c"))

        assert b.proc is not None
        b.proc.send_signal(signal.SIGSTOP)  # gone, but its sockets stay open
        again = leaf(tmp_path / "again")
        started.append(again)
        again.start()
        carol = LineClient.tcp(again.irc_port).register("carol")
        clients.append(carol)
        carol.wait_linked(3)
        quit_ = watcher.expect(from_user("bob", "QUIT"), timeout=20)
        assert quit_.last == "b restarted", quit_
        carol.join("#c")
        watcher.expect(from_user("carol", "JOIN", "#c"), timeout=10)
        assert "already linked to b" in again.log(), "the first hub held the old link"
        assert "bob" not in names_of(watcher, "#c")
        assert not servers_listed(carol, "WHO bob", "352", "315"), "no ghost on the new b's side"
        assert "server b started again" in h.log()
    finally:
        for client in clients:
            client.close()
        if b.proc is not None:
            b.proc.send_signal(signal.SIGCONT)
        for node in started:
            node.stop()
