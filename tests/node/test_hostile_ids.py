"""A hostile link peer taking ids that other servers will give, against a real node.

Every server makes its own ids: a msgid, and an event id, begin with the
server's ID in hex and its start (``irc.ids``), then count up, so the next
one is easy to guess. A peer that sent a line under an id first would shut
out the real one when it came, as already seen: a message acknowledged to
its sender and then never delivered. The fake peer ``evil`` tries:

* a msgid of the node's own next lines: refused, as of the node's own start;
* to link with a server ID whose hex begins the node's (42, ``2a``, against
  677, ``2a5``), so that the node's msgids would fit the shape of its own
  too: refused at the handshake, as a server it advertises would be;
* the event id another linked server (a second fake peer, ``x``) gives its
  next message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection

from chatnet_node.links import protocol as lp
from tests.irc.client import IrcClient
from tests.node.test_hostile_peer import (
    CAPS,
    EVIL,
    EVIL_SID,
    SECRET,
    handshake,
    intro,
    join,
    room_and_evil,
    say,
)
from tests.nodeproc import NodeProcess, make_node
from tests.waiting import within

#: The node's server ID (evil's is 42).
NODE_SID = 1


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    node = make_node(tmp_path, "a", serverId=NODE_SID, links={"secret": SECRET})
    node.start()
    try:
        yield node
    finally:
        node.stop()


def split_msgid(msgid: str) -> tuple[str, int]:
    """A msgid of the node's as its prefix (server ID, start) and counter."""
    head = msgid.split("-", 1)[0]
    width = len(f"{NODE_SID:x}") + 6
    return head[:width], int(head[width:], 16)


async def test_a_peer_cannot_take_the_nodes_next_msgids(node: NodeProcess) -> None:
    async with room_and_evil(node) as (alice, bob, ws):
        for event in (intro(f"{EVIL_SID}u1", "mallory"), join(f"{EVIL_SID}u1")):
            await ws.send(lp.encode(event))
        echo = await alice.privmsg("#room", "first")
        prefix, counter = split_msgid(echo.tags["msgid"])
        # The node's next twenty msgids, each as a line of evil's own user.
        for n in range(counter + 1, counter + 21):
            await ws.send(lp.encode(say(f"{EVIL_SID}u1", f"{prefix}{n:x}", f"taken {n}")))
        await ws.send(lp.encode(say(f"{EVIL_SID}u1", "evil1", "evil's own")))
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "evil's own")

        for text in ("second", "third", "fourth"):
            await alice.privmsg("#room", text)
        await bob.collect_until(lambda m: m.command == "PRIVMSG" and m.last == "fourth")
        texts = [m.last for m in bob.inbox.seen if m.command == "PRIVMSG"]
        expected = ["first", "evil's own", "second", "third", "fourth"]
        assert texts == expected, f"bob saw {texts}"
        reader = await IrcClient.tcp(node.irc_port)
        try:
            await reader.register("reader", caps=[*CAPS, "batch", "chathistory"])
            await reader.send("CHATHISTORY LATEST #room * 10")
            history = await reader.batch("chathistory")
        finally:
            await reader.close()
        stored = [m.last for m in history if m.command == "PRIVMSG"]
        assert stored == texts, f"the history holds {stored}"
        why = f"dropped msg from {EVIL}: msgid {prefix}{counter + 1:x} is of this server's own"
        assert why in node.log(), f"no {why!r} in the node's log:\n{node.log()}"


async def test_a_peer_whose_server_id_begins_the_nodes_is_refused(tmp_path: Path) -> None:
    """Where one server ID's hex begins another's, each one's msgids fit the
    other's shape, and no server could tell whose a msgid is: such a peer is
    refused at the handshake, saying why, and the node links an honest one."""
    node = make_node(tmp_path, "a", serverId=0x2A5, links={"secret": SECRET})  # 677
    node.start()
    try:
        for sid in (EVIL_SID, 2):  # 2a and 2 begin 2a5
            ws, refused = await handshake(node, sid=sid)
            await ws.close()
            assert "could not be told apart" in refused, refused  # each side refuses
            why = (
                f"link unknown peer (in) refused: server ID {sid} of evil (hex {sid:x}) "
                "begins like a's 677 (hex 2a5): their msgids could not be told apart"
            )
            assert await within(lambda why=why: why in node.log(), 5), node.log()
        ws, refused = await handshake(node, sid=0x2B)  # 43: begins alike with nothing
        await ws.close()
        assert not refused, refused
    finally:
        node.stop()


async def test_a_peer_cannot_shut_out_another_servers_event_by_taking_its_id(
    node: NodeProcess,
) -> None:
    x_sid = 43
    async with room_and_evil(node) as (_, bob, evil):
        x: ClientConnection | None = None
        try:
            x, refused = await handshake(node, server="x", sid=x_sid)
            assert not refused, refused
            for event in (intro(f"{EVIL_SID}u1", "mallory"), join(f"{EVIL_SID}u1")):
                await evil.send(lp.encode(event))
            xavier = intro(f"{x_sid}u1", "xavier")
            xavier.o, xavier.id = "x", "x-intro"
            entry = join(f"{x_sid}u1")
            entry.o, entry.id = "x", "x-join"
            for event in (xavier, entry):
                await x.send(lp.encode(event))
            await bob.expect(lambda m: m.command == "JOIN" and m.nick == "xavier")

            # evil sends first under the event id x gives its next message.
            first = say(f"{EVIL_SID}u1", "evil1", "mallory, under x's next event id")
            first.id = "x-event-1"
            await evil.send(lp.encode(first))
            await bob.expect(lambda m: m.command == "PRIVMSG" and m.nick == "mallory")
            honest = say(f"{x_sid}u1", f"{x_sid:x}abcdef1", "xavier's own", o="x")
            honest.id = "x-event-1"
            await x.send(lp.encode(honest))
            line = await bob.expect(lambda m: m.command == "PRIVMSG" and m.nick == "xavier")
            assert line.last == "xavier's own"
        finally:
            if x is not None:
                await x.close()
