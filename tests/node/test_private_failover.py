"""A private message is in the failover guarantee, over real sockets and processes.

Three linked servers (``b`` and ``c`` dial ``a``). Alice on ``a`` writes to
Bob on ``b``; once she has her echo (the acknowledgement), ``b`` is killed
with SIGKILL. Bob comes back on ``c``, a server that carried neither end of
the conversation, and finds it: ``CHATHISTORY TARGETS`` names Alice, and
``CHATHISTORY AFTER alice`` returns every line she had acknowledged, once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.irc.client import IrcClient
from tests.nodeproc import NodeProcess, make_node

SECRET = "private-failover-secret"
CAPS = ["message-tags", "server-time", "echo-message", "batch", "chathistory"]
BEFORE = "2000-01-01T00:00:00.000Z"
LATER = "2100-01-01T00:00:00.000Z"


@pytest.fixture
def three(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess, NodeProcess]]:
    a = make_node(tmp_path, "a", serverId=1, links={"secret": SECRET})
    dial = {"name": "a", "serverId": 1, "host": "127.0.0.1", "port": a.ws_port}
    b = make_node(tmp_path, "b", serverId=2, links={"secret": SECRET, "dial": [dial]})
    c = make_node(tmp_path, "c", serverId=3, links={"secret": SECRET, "dial": [dial]})
    nodes = (a, b, c)
    try:
        for node in nodes:
            node.start()
        yield a, b, c
    finally:
        for node in reversed(nodes):
            node.stop()


async def test_acknowledged_private_messages_survive_the_recipients_server(
    three: tuple[NodeProcess, NodeProcess, NodeProcess],
) -> None:
    a, b, c = three
    alice = await IrcClient.tcp(a.irc_port)
    bob = await IrcClient.tcp(b.irc_port)
    back: IrcClient | None = None
    try:
        await alice.register("alice", caps=CAPS)
        await bob.register("bob", caps=CAPS)
        await alice.wait_linked(3)
        acked = []
        for n in range(5):
            echo = await alice.privmsg("bob", f"private line {n}")
            acked.append(echo.tags["msgid"])
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "private line 4")
        assert b.proc is not None
        b.signal(signal.SIGKILL)
        await asyncio.to_thread(b.proc.wait, 10)

        back = await IrcClient.tcp(c.irc_port)
        await back.register("bob", caps=CAPS)
        assert back.nick == "bob", "c still holds bob's nick from the dead server"
        await back.send(f"CHATHISTORY TARGETS timestamp={BEFORE} timestamp={LATER} 10")
        targets = await back.batch("draft/chathistory-targets")
        names = [m.params[1] for m in targets if m.command == "CHATHISTORY"]
        assert names == ["alice"], f"TARGETS on c: {[m.raw for m in targets]}"
        await back.send(f"CHATHISTORY AFTER alice timestamp={BEFORE} 100")
        lines = await back.batch("chathistory")
        history = [m.tags["msgid"] for m in lines if m.command == "PRIVMSG"]
        assert history == acked, (
            f"c's history of alice and bob: {[m.raw for m in lines if m.command == 'PRIVMSG']}"
        )
    finally:
        for client in (alice, bob, back):
            if client is not None:
                await client.close()
