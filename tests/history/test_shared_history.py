"""Real chatnet-node processes sharing one PostgreSQL history.

Two servers that are not even linked answer CHATHISTORY alike, for a channel
nobody on the second one ever joined, and still after the first one is
killed; a node whose database restarts keeps chatting and stores what comes
after (and what was said during the outage, once the database is back).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.irc.client import Clients, IrcClient
from tests.irc.lines import Msg, contains
from tests.node.test_clock_skew import FAKETIME
from tests.node.test_sockets import records_outlive_a_kill
from tests.nodeproc import NodeProcess, make_node, node_pids
from tests.operator.test_up import Up
from tests.pgserver import PgServer
from tests.waiting import eventually

CAPS = ["batch", "server-time", "message-tags", "echo-message", "draft/chathistory"]


def pg_node(tmp: Path, name: str, server_id: int, dsn: str | None) -> NodeProcess:
    """A node on the shared store: the DSN in its file, or (None) from the environment."""
    history: dict[str, object] = {"store": "postgres", "path": None}
    if dsn is not None:
        history["dsn"] = dsn
    return make_node(tmp, name=name, serverId=server_id, history=history)


@pytest.fixture
def nodes() -> Iterator[list[NodeProcess]]:
    """Nodes started by a test, stopped after it; none may log a traceback."""
    started: list[NodeProcess] = []
    yield started
    for node in started:
        node.stop()
    for node in started:
        assert "Traceback" not in node.log(), node.log()


async def say(client: IrcClient, target: str, texts: list[str]) -> list[Msg]:
    """Send each text and wait for its echo (the acknowledgement)."""
    echoes = []
    for text in texts:
        await asyncio.sleep(0.002)  # distinct server-time values
        echoes.append(await client.privmsg(target, text))
    return echoes


async def history(client: IrcClient, line: str) -> list[Msg]:
    """The messages of one CHATHISTORY batch."""
    await client.send(line)
    start = await client.expect(lambda m: m.command in ("BATCH", "FAIL"))
    if start.command == "FAIL":
        raise LookupError(start.raw)
    return (await client.collect_until("BATCH", f"-{start.params[0][1:]}"))[:-1]


async def history_texts(client: IrcClient, line: str, want: int, within: float = 10) -> list[str]:
    """The texts of a CHATHISTORY answer, asked until it has ``want`` messages."""
    last: list[str] = []

    async def answered() -> list[str] | None:
        nonlocal last
        try:
            last = [m.last for m in await history(client, line)]
        except LookupError as fail:  # FAIL: the database is not back yet
            last = [str(fail)]
            return None
        return last if len(last) >= want else None

    return await eventually(
        answered, within, f"{want} messages for {line}", 0.1, lambda: f"last answer: {last}"
    )


async def test_history_is_shared_by_servers_and_outlives_them(
    tmp_path: Path, pg_dsn: str, nodes: list[NodeProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    east = pg_node(tmp_path, "east", 10, pg_dsn)  # DSN in the configuration file
    monkeypatch.setenv("CHATNET_HISTORY_DSN", pg_dsn)
    west = pg_node(tmp_path, "west", 11, None)  # DSN from the environment
    for node in (east, west):
        node.start()
        nodes.append(node)
    on_east, on_west = Clients(east.irc_port), Clients(west.irc_port)
    try:
        alice = await on_east.tcp("alice", caps=CAPS)
        await alice.join("#shared")
        echoes = await say(alice, "#shared", ["one", "two", "three"])

        # Nobody on west ever joined #shared, and west is not linked to east.
        bob = await on_west.tcp("bob", caps=CAPS)
        line = "CHATHISTORY LATEST #shared * 10"
        assert await history_texts(bob, line, 3) == ["one", "two", "three"]
        body = await history(bob, line)
        assert [m.tags["msgid"] for m in body] == [m.tags["msgid"] for m in echoes]
        assert [m.tags["time"] for m in body] == [m.tags["time"] for m in echoes]
        assert body[0].nick == "alice"

        assert east.proc is not None
        east.signal(signal.SIGKILL)
        east.proc.wait(timeout=10)
        assert await history_texts(bob, line, 3) == ["one", "two", "three"]
        # A client of the dead server comes back on west and catches up by msgid.
        carol = await on_west.tcp("carol", caps=CAPS)
        first = echoes[0].tags["msgid"]
        after = await history(carol, f"CHATHISTORY AFTER #shared msgid={first} 10")
        assert [m.last for m in after] == ["two", "three"]
    finally:
        await on_east.aclose()
        await on_west.aclose()


async def test_a_node_keeps_chatting_while_its_database_restarts(
    tmp_path: Path, pg_server: PgServer, pg_dsn: str, nodes: list[NodeProcess]
) -> None:
    node = pg_node(tmp_path, "steady", 12, pg_dsn)
    node.start()
    nodes.append(node)
    pool = Clients(node.irc_port)
    try:
        alice = await pool.tcp("alice", caps=CAPS)
        bob = await pool.tcp("bob", caps=CAPS)
        await alice.join("#steady")
        await bob.join("#steady")
        await say(alice, "#steady", ["before"])
        await bob.expect("PRIVMSG", "#steady", "before")

        pg_server.stop("immediate")
        try:
            # Chat goes on: bob gets what alice says while the database is down.
            await alice.send("PRIVMSG #steady :during")
            await bob.expect("PRIVMSG", "#steady", "during")
            await bob.send("CHATHISTORY LATEST #steady * 10")
            fail = await bob.expect("FAIL")
            assert fail.params[:2] == ["CHATHISTORY", "MESSAGE_ERROR"]
            # Not stored yet, so not acknowledged yet: alice's echo waits.
            assert "during" not in [m.last for m in await alice.sync()]
        finally:
            pg_server.start()
        await alice.expect("PRIVMSG", "#steady", "during", timeout=15)  # stored: acknowledged

        await alice.send("PRIVMSG #steady :after")
        await bob.expect("PRIVMSG", "#steady", "after")
        line = "CHATHISTORY LATEST #steady * 10"
        assert await history_texts(bob, line, 3, within=15) == ["before", "during", "after"]
    finally:
        await pool.aclose()
    assert "lost PostgreSQL" in node.log() or "cannot reach PostgreSQL" in node.log()


async def test_a_node_starts_without_its_database_and_stores_once_it_is_up(
    tmp_path: Path, pg_server: PgServer, pg_dsn: str, nodes: list[NodeProcess]
) -> None:
    """An unreachable shared store delays a start by a few seconds, never prevents it."""
    node = pg_node(tmp_path, "early", 13, pg_dsn)
    pool = Clients(node.irc_port)
    pg_server.stop("fast")
    try:
        try:
            node.start()  # waits for the database for a few seconds, then serves anyway
            nodes.append(node)
            alice = await pool.tcp("alice", caps=CAPS)
            await alice.join("#early")
            await alice.send("PRIVMSG #early :said before the database was up")
            await alice.send("CHATHISTORY LATEST #early * 10")
            assert (await alice.expect("FAIL")).params[:2] == ["CHATHISTORY", "MESSAGE_ERROR"]
        finally:
            pg_server.start()
        line = "CHATHISTORY LATEST #early * 10"
        assert await history_texts(alice, line, 1, within=15) == ["said before the database was up"]
    finally:
        await pool.aclose()
    assert "PostgreSQL at 127.0.0.1" in node.log() and "not reachable" in node.log()


UP_MANIFEST = """\
apiVersion: chatnet.io/v1alpha1
kind: ChatNetwork
metadata: {name: pgnet}
spec: {history: {store: postgres, retention: 1h, postgres: {secretName: pgnet-history}}}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: a}
spec: {network: pgnet, role: hub, serverId: 1, peers: [b]}
---
apiVersion: chatnet.io/v1alpha1
kind: ChatServer
metadata: {name: b}
spec: {network: pgnet, role: hub, serverId: 2}
"""


async def test_chatnet_up_runs_a_network_on_the_shared_store(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locally the nodes get the DSN from the environment of ``chatnet up``."""

    manifest = tmp_path / "pgnet.yaml"
    manifest.write_text(UP_MANIFEST)
    monkeypatch.setenv("CHATNET_HISTORY_DSN", pg_dsn)
    up = Up(tmp_path, manifest)
    clients = []
    try:
        servers = up.endpoints()["servers"]
        config = (up.state / "pgnet" / "a.yaml").read_text()
        assert "store: postgres" in config and pg_dsn not in config
        alice = await IrcClient.tcp(int(servers["a"]["irc"].rsplit(":", 1)[1]))
        bob = await IrcClient.tcp(int(servers["b"]["irc"].rsplit(":", 1)[1]))
        clients += [alice, bob]
        await alice.register("alice", caps=CAPS)
        await bob.register("bob", caps=CAPS)
        await alice.join("#up")
        await say(alice, "#up", ["stored once, read anywhere"])
        line = "CHATHISTORY LATEST #up * 10"
        assert await history_texts(bob, line, 1) == ["stored once, read anywhere"]
        with psycopg.connect(pg_dsn) as conn:
            rows = conn.execute("SELECT target, text FROM chatnet_messages").fetchall()
        assert rows == [("#up", "stored once, read anywhere")]  # one row for the network
    finally:
        for client in clients:
            await client.close()
        up.stop()
        for pid in node_pids(str(up.state)):
            os.kill(pid, signal.SIGKILL)


async def test_accounts_and_registered_channels_outlive_a_killed_node_on_postgres(
    tmp_path: Path, pg_dsn: str, nodes: list[NodeProcess]
) -> None:
    """The records in PostgreSQL: back after a SIGKILL, and read by another server at start."""
    keeper = pg_node(tmp_path, "keeper", 10, pg_dsn)
    nodes.append(keeper)
    await records_outlive_a_kill(keeper)
    other = pg_node(tmp_path, "other", 11, pg_dsn)  # never linked to keeper
    other.start()
    nodes.append(other)
    async with await IrcClient.tcp(other.irc_port) as client:
        await client.register("visitor")
        await client.send("PRIVMSG NickServ :IDENTIFY alice correct-horse-battery")
        await client.expect(contains("You are now logged in as alice"))
        await client.send("PRIVMSG ChanServ :INFO #kept")
        info = await client.expect(lambda m: m.command == "NOTICE" and m.nick == "ChanServ")
        assert info.last == "#kept: founder alice"


async def test_linked_servers_with_skewed_clocks_order_and_keep_private_messages_on_postgres(
    tmp_path: Path, pg_dsn: str, nodes: list[NodeProcess]
) -> None:
    """The hybrid clock and private messages' guarantee hold on the shared store too.

    ``west`` runs 5 s behind ``east`` (libfaketime): Bob's answer still sorts
    after the question he saw, and Alice's acknowledged private message to
    Bob is in the store when Bob's server is killed.
    """
    if not FAKETIME.exists():
        pytest.skip("needs libfaketime (apt-get install libfaketime)")
    store = {"store": "postgres", "path": None, "dsn": pg_dsn}
    east = make_node(tmp_path, "east", serverId=10, history=store, links={"secret": "s"})
    dial = {"name": "east", "serverId": 10, "host": "127.0.0.1", "port": east.ws_port}
    west = make_node(
        tmp_path, "west", serverId=11, history=store, links={"secret": "s", "dial": [dial]}
    )
    west.env = {"LD_PRELOAD": str(FAKETIME), "FAKETIME": "-5", "DONT_FAKE_MONOTONIC": "1"}
    for node in (east, west):
        node.start()
        nodes.append(node)
    on_east, on_west = Clients(east.irc_port), Clients(west.irc_port)
    try:
        alice = await on_east.tcp("alice", caps=CAPS)
        bob = await on_west.tcp("bob", caps=CAPS)
        await alice.wait_linked(2)
        await alice.join("#room")
        await bob.join("#room")
        await alice.expect(lambda m: m.command == "JOIN" and m.nick == "bob")
        (question,) = await say(alice, "#room", ["anyone?"])
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "anyone?")
        (answer,) = await say(bob, "#room", ["me"])
        after = f"CHATHISTORY AFTER #room msgid={question.tags['msgid']} 10"
        assert await history_texts(alice, after, 1) == ["me"]
        assert answer.tags["time"] > question.tags["time"]

        private = await say(alice, "bob", ["just for you", "and this"])
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "and this")
        assert west.proc is not None
        west.signal(signal.SIGKILL)
        west.proc.wait(timeout=10)
        await alice.wait_linked(1)  # east has noticed: bob's nick is free again
        back = await on_east.tcp("bob", caps=CAPS)
        body = await history(back, "CHATHISTORY AFTER alice timestamp=2000-01-01T00:00:00.000Z 10")
        assert [m.tags["msgid"] for m in body] == [m.tags["msgid"] for m in private]
    finally:
        await on_east.aclose()
        await on_west.aclose()
