"""A hostile link peer that floods, or replays old events, against real nodes.

The fake peer (``evil``, server ID 42, ``tests.node.test_hostile_peer``'s
handshake) links to ``a``; the real server ``b`` links to ``a`` too, with a
user of its own. The node must

* drop ``evil``'s link once it sends more than ``links.peerBurst`` link
  messages beyond ``links.peerRate`` a second, with the reason logged, and
  keep ``b``'s link and its users chatting;
* refuse an event, or a message, whose counter it already applied from that
  origin, or one older than the replay window (a replay: delivered to
  nobody, stored nowhere), and a caught-up message stamped before the sync
  window.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from chatnet_node.irc import events as ev
from chatnet_node.irc.servertime import format_time
from chatnet_node.links import protocol as lp
from chatnet_node.links.guard import REPLAY_WINDOW
from tests.irc.client import IrcClient, in_one_room
from tests.node.test_hostile_peer import CAPS, EVIL, EVIL_SID, SECRET, handshake, intro, join
from tests.nodeproc import NodeProcess, linked_pair, make_node
from tests.waiting import eventually

PREFIX = f"{EVIL_SID:x}abcdef"  # what evil's ids start with (``irc.ids``)
HISTORY_CAPS = [*CAPS, "batch", "chathistory"]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """``a`` (200 link messages at once, 50 a second per peer), and ``b`` linked to it."""
    a, b = linked_pair(tmp_path, {"secret": SECRET, "peerRate": 50, "peerBurst": 200})
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()


def said(counter: int, text: str, event: int, ts: float | None = None) -> ev.ChatMessage:
    """A message of mallory's, with ids as evil's server would make them."""
    stamp = format_time(time.time() if ts is None else ts)
    message = ev.ChatMessage(
        uid=f"{EVIL_SID}u1",
        target="#room",
        command="PRIVMSG",
        text=text,
        tags={"time": stamp, "msgid": f"{PREFIX}{counter:x}-0000000"},
    )
    message.o, message.id = EVIL, f"{PREFIX}e{event:x}"
    return message


async def test_a_flooding_peer_loses_its_link_and_the_others_carry_on(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    a, b = pair
    alice = await IrcClient.tcp(a.irc_port)
    carol = await IrcClient.tcp(b.irc_port)
    try:
        await in_one_room(alice, carol, ("alice", "carol"), CAPS)
        ws, refused = await handshake(a)
        assert not refused, refused
        await ws.send(lp.encode(intro(f"{EVIL_SID}u1", "mallory")))
        await ws.send(lp.encode(join(f"{EVIL_SID}u1")))
        flood = [lp.encode(said(n, f"flood {n}", n + 10)) for n in range(1, 1001)]
        for text in flood:  # as fast as the socket takes them, until the node hangs up
            try:
                await ws.send(text)
            except Exception:
                break

        async def dropped() -> bool:
            return "link evil: dropped the link: flooding" in a.log()

        await eventually(dropped, 10, "evil's link dropped for flooding", 0.1, a.log)
        await alice.expect(lambda m: m.command == "QUIT" and m.nick == "mallory")
        with pytest.raises(Exception):  # noqa: B017 - closed, whichever way
            for _ in range(2000):
                await asyncio.wait_for(ws.recv(), 5)
        # b's link and users are untouched: both ways, still one network.
        await carol.privmsg("#room", "from b, after the flood")
        await alice.expect(lambda m: m.command == "PRIVMSG" and m.last == "from b, after the flood")
        await alice.privmsg("#room", "from a, after the flood")
        await carol.expect(lambda m: m.command == "PRIVMSG" and m.last == "from a, after the flood")
        flooded = [m for m in carol.inbox.seen if m.command == "PRIVMSG" and m.nick == "mallory"]
        assert len(flooded) <= 260, f"{len(flooded)} flood lines got through (burst 200)"
        assert "link down: a -- b" not in a.log()
    finally:
        await alice.close()
        await carol.close()


async def test_old_events_and_messages_replayed_are_refused(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = pair
    alice = await IrcClient.tcp(a.irc_port)
    try:
        await alice.register("alice", caps=HISTORY_CAPS)
        await alice.join("#room")
        ws, refused = await handshake(a)
        assert not refused, refused
        user = intro(f"{EVIL_SID}u1", "mallory")
        user.id = f"{PREFIX}e1"
        entry = join(f"{EVIL_SID}u1")
        entry.id = f"{PREFIX}e2"
        first, second = said(5, "first", 3), said(6, "second", 4)
        again = said(5, "first", 9)  # an old message under a new event id
        far = REPLAY_WINDOW + 20
        leap = said(8, "far ahead", far)  # the window moves on past event 9
        old_event = said(7, "an event older than the window", 10)  # never applied, too old
        stale = lp.Replay(
            items=[
                lp.ReplayItem(
                    o=EVIL,
                    msgid=f"{PREFIX}1-0000000",
                    ts=time.time() - 7200,  # two hours old: outside any sync window
                    source="mallory!m@evil.example",
                    command="PRIVMSG",
                    target="#room",
                    text="from two hours ago",
                )
            ]
        )
        for message in (user, entry, first, second, again, leap, old_event, stale):
            await ws.send(lp.encode(message))
        await alice.expect(lambda m: m.command == "PRIVMSG" and m.last == "far ahead")
        lines = await alice.sync()
        await ws.close()

        texts = [m.last for m in alice.inbox.seen if m.command == "PRIVMSG"]
        assert texts == ["first", "second", "far ahead"], f"alice saw {texts}"
        del lines
        log = a.log()
        for why in (
            f"dropped msg from {EVIL}: replayed msgid {PREFIX}5-0000000: already applied up to 6",
            f"dropped msg from {EVIL}: replayed event {PREFIX}ea: older than the last "
            f"{REPLAY_WINDOW} applied, up to {far:x} of {PREFIX}",
            "link evil: refused 1 replayed messages stamped before the sync window",
        ):
            assert why in log, f"no {why!r} in the node's log:\n{log}"
        await alice.send("CHATHISTORY LATEST #room * 10")
        history = await alice.batch("chathistory")
        stored = [m.last for m in history if m.command == "PRIVMSG"]
        assert stored == ["first", "second", "far ahead"], f"history holds {stored}"
    finally:
        await alice.close()


async def test_a_peer_naming_many_origins_is_counted_as_itself(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = pair
    ws, refused = await handshake(a)
    assert not refused, refused
    for n in range(1, 400):  # 399 events, each claiming a server of its own
        message = said(n, f"from nowhere {n}", n)
        message.o = f"ghost{n}"
        try:
            await ws.send(lp.encode(message))
        except Exception:
            break

    async def dropped() -> bool:
        return "link evil: dropped the link: flooding: more than 200 link messages at" in a.log()

    await eventually(dropped, 10, "evil's link dropped for flooding", 0.1, a.log)
    await ws.close()


async def test_a_reloaded_flood_limit_applies_to_a_link_already_up(tmp_path: Path) -> None:
    links = {"secret": SECRET, "peerRate": 50, "peerBurst": 100000}
    a = make_node(tmp_path, "a", serverId=1, links=links)
    a.start()
    try:
        ws, refused = await handshake(a)
        assert not refused, refused
        config = yaml.safe_load(a.config_path.read_text())
        config["links"]["peerBurst"] = 200
        a.config_path.write_text(yaml.safe_dump(config))
        a.signal(signal.SIGHUP)

        async def reloaded() -> bool:
            return "configuration reloaded" in a.log()

        await eventually(reloaded, 10, "a reloaded", 0.1, a.log)
        await ws.send(lp.encode(intro(f"{EVIL_SID}u1", "mallory")))
        for n in range(1, 1001):
            try:
                await ws.send(lp.encode(said(n, f"flood {n}", n + 10)))
            except Exception:
                break

        async def dropped() -> bool:
            return "link evil: dropped the link: flooding: more than 200 link messages" in a.log()

        await eventually(dropped, 10, "evil's link dropped at the reloaded limit", 0.1, a.log)
    finally:
        a.stop()
