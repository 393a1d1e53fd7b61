"""Three real servers: ``CHATHISTORY AFTER`` returns a concurrent message the client never saw.

``a`` runs 5 s behind (libfaketime); ``a`` and ``b`` each link to the hub
``c``. Alice is on ``a``, Bob and Carol on ``b``, Dave on ``c``.

1. ``a`` is frozen (SIGSTOP) and Alice writes a line to it: it waits in
   ``a``'s socket, not yet stamped.
2. Carol (on ``b``) says her line: ``b`` delivers it to Bob and ``c``
   stores it (Carol gets her echo). Bob's last line is now Carol's.
3. ``b`` dies (SIGKILL), then ``a`` goes on: it stamps Alice's line with its
   slow clock, *before* Carol's (it had not read hers yet), and ``c``
   stores it (Alice gets her echo). Bob never saw it.
4. Bob comes back on ``c`` and asks ``AFTER msgid=<Carol's line>``, with no
   lookback: Alice's line must be there, though it is stamped earlier.

Before AFTER took the reference's horizon into account (``irc.ids``), the
answer was empty and Bob never saw Alice's line: the hole named in
docs/failover.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatnet_node.irc.servertime import parse_time
from tests.irc.client import IrcClient
from tests.irc.lines import Msg
from tests.nodeproc import NodeProcess, make_node

SECRET = "concurrent-after-secret"
CAPS = ["message-tags", "server-time", "echo-message", "batch", "chathistory"]
SKEW = 5.0  # seconds a's clock runs behind
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")

pytestmark = pytest.mark.skipif(
    not FAKETIME.exists(), reason="needs libfaketime (apt-get install libfaketime)"
)


Network = tuple[NodeProcess, NodeProcess, NodeProcess]


@contextlib.contextmanager
def three_servers(tmp: Path, **overrides: Any) -> Iterator[Network]:
    """``c`` the hub; ``a`` (5 s behind) and ``b`` dial it; ``overrides`` for all three."""
    c = make_node(tmp, "c", serverId=3, links={"secret": SECRET}, **overrides)
    dial = {"name": "c", "serverId": 3, "host": "127.0.0.1", "port": c.ws_port}
    a = make_node(tmp, "a", serverId=1, links={"secret": SECRET, "dial": [dial]}, **overrides)
    b = make_node(tmp, "b", serverId=2, links={"secret": SECRET, "dial": [dial]}, **overrides)
    a.env = {"LD_PRELOAD": str(FAKETIME), "FAKETIME": f"-{SKEW:g}", "DONT_FAKE_MONOTONIC": "1"}
    nodes = (a, b, c)
    try:
        for node in (c, a, b):
            node.start()
        yield nodes
    finally:
        for node in nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.signal(signal.SIGCONT)
            node.stop()


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    with three_servers(tmp_path) as nodes:
        yield nodes


def said(text: str) -> Callable[[Msg], bool]:
    return lambda m: m.command == "PRIVMSG" and m.last == text


async def after(node: NodeProcess, nick: str, msgid: str) -> list[Msg]:
    """``CHATHISTORY AFTER #room msgid=...`` from a fresh client of ``node``."""
    client = await IrcClient.tcp(node.irc_port)
    try:
        await client.register(nick, caps=CAPS)
        await client.join("#room")
        await client.send(f"CHATHISTORY AFTER #room msgid={msgid} 100")
        lines = await client.batch("chathistory")
    finally:
        await client.close()
    return [m for m in lines if m.command == "PRIVMSG"]


async def test_after_returns_a_message_stamped_earlier_that_the_dead_server_never_delivered(
    network: Network,
) -> None:
    await concurrent_line_is_caught_up(network)


async def concurrent_line_is_caught_up(network: Network) -> None:
    """The scene of the module docstring, and what Bob must find."""
    a, b, c = network
    alice, bob, carol, dave = [await IrcClient.tcp(n.irc_port) for n in (a, b, b, c)]
    try:
        for client, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol"), (dave, "dave")):
            await client.register(nick, caps=CAPS)
        await dave.wait_linked(3)
        for client in (alice, bob, carol, dave):
            await client.join("#room")
        for client in (alice, bob):
            await client.expect(lambda m: m.command == "JOIN" and m.nick == "dave")
        await alice.privmsg("#room", "hello all")
        for client in (bob, dave):
            await client.expect(said("hello all"))
        await asyncio.sleep(1.5)  # the servers have heard from each other since

        a.signal(signal.SIGSTOP)
        await alice.send("PRIVMSG #room :alice, concurrently")
        await asyncio.sleep(0.3)  # in a's socket, unread
        last = await carol.privmsg("#room", "carol's line")
        await bob.expect(said("carol's line"))
        await dave.expect(said("carol's line"))
        bob_saw = await bob.sync()
        b.signal(signal.SIGKILL)
        assert b.proc is not None
        b.proc.wait(timeout=10)
        a.signal(signal.SIGCONT)
        concurrent = await alice.expect(said("alice, concurrently"), timeout=15)
        await dave.expect(said("alice, concurrently"))
    finally:
        for client in (alice, bob, carol, dave):
            client.abort()

    # The scene is set: Alice's line is stamped before Carol's, and Bob never got it.
    mine, theirs = parse_time(concurrent.tags["time"]), parse_time(last.tags["time"])
    assert mine is not None and theirs is not None
    assert mine < theirs, (
        f"alice's line is stamped {concurrent.tags['time']}, not before carol's "
        f"({last.tags['time']}): the test did not make them concurrent"
    )
    assert not any(m.command == "PRIVMSG" and m.last == "alice, concurrently" for m in bob_saw)

    found = await after(c, "bob", last.tags["msgid"])
    ids = [m.tags["msgid"] for m in found]
    assert concurrent.tags["msgid"] in ids, (
        f"CHATHISTORY AFTER carol's line on c returned {[m.raw for m in found]}: "
        f"alice's line {concurrent.tags['msgid']} ({concurrent.tags['time']}), which bob "
        "never saw, is missing"
    )
    assert ids.count(concurrent.tags["msgid"]) == 1
