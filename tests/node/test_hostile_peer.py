"""A hostile link peer that knows the link secret, against a real node.

The fake peer (``evil``, server ID 42) speaks the link protocol over a real
WebSocket: it runs the same handshake, then tries what a compromised or
buggy server might. The node must refuse each with a logged reason, keep
the link where the protocol allows, drop it where it must, and let its own
users notice nothing:

* a message, and a QUIT, for a user of the node (not evil's to speak for);
* a message from a uid outside evil's server ID, with a forged source;
* a message from a user of evil's not known yet, under the nick of a user
  of the node: shown under the nick a collision would give it;
* an event whose origin is a server that is not behind this link;
* the same event again (a replay), and a message again under a new event id;
* a message bigger than the link protocol allows: the link is dropped;
* a peer speaking another protocol version: refused at the handshake.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chatnet_node.irc import events as ev
from chatnet_node.irc.servertime import format_time
from chatnet_node.links import protocol as lp
from chatnet_node.links.handshake import Handshake
from tests.irc.client import IrcClient
from tests.nodeproc import NodeProcess, make_node
from tests.waiting import eventually

SECRET = "hostile-peer-secret"
EVIL, EVIL_SID = "evil", 42
CAPS = ["message-tags", "server-time", "echo-message"]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    node = make_node(tmp_path, "a", serverId=1, links={"secret": SECRET})
    node.start()
    try:
        yield node
    finally:
        node.stop()


async def handshake(
    node: NodeProcess, version: int = lp.VERSION, server: str = EVIL, sid: int = EVIL_SID
) -> tuple[ClientConnection, str]:
    """Link to ``node`` as ``evil`` (or ``server``); the open link, or the node's refusal."""
    ws = await connect(node.ws_url, subprotocols=[lp.PROTOCOL], max_size=None)  # type: ignore[list-item]
    mine = lp.Hello(
        network="TestNet",
        server=server,
        sid=sid,
        role="hub",
        version=version,
        challenge=lp.new_challenge(),
    )
    shake = Handshake(mine, SECRET, known={}, linked=set(), allowed=None, have_uplink=False)

    async def send(message: lp.AnyMessage) -> None:
        # The node may refuse this side's Hello, and close, while this side still
        # answers the node's: its refusal is read next.
        with contextlib.suppress(ConnectionClosed):
            await ws.send(lp.encode(message))

    for opening in shake.start():
        await send(opening)
    while not shake.done:
        answer = lp.decode(await ws.recv(decode=True))
        for reply in shake.receive(answer):
            await send(reply)
        if shake.failed is not None:
            return ws, shake.failed
    advert = lp.Advert(server=server, sid=sid, seq=1, neighbours=[node.name])
    await ws.send(lp.encode(advert))
    return ws, ""


async def uid_of(ws: ClientConnection, nick: str) -> str:
    """The uid of ``nick`` from the node's burst."""
    while True:
        message = lp.decode(await ws.recv(decode=True))
        if isinstance(message, ev.UserIntro) and message.nick == nick:
            return message.uid


def say(uid: str, msgid: str, text: str, source: str = "", o: str = EVIL) -> ev.ChatMessage:
    """A message as evil sends it; ``evilN`` stands for evil's msgid N (server ID 42, in hex)."""
    if msgid.startswith("evil"):
        msgid = f"{EVIL_SID:x}abcdef{msgid.removeprefix('evil')}"
    message = ev.ChatMessage(
        uid=uid,
        target="#room",
        command="PRIVMSG",
        text=text,
        tags={"time": format_time(time.time()), "msgid": msgid},
        source=source,
    )
    message.o, message.id = o, f"evil-event-{msgid}"
    return message


def intro(uid: str, nick: str) -> ev.UserIntro:
    user = ev.UserIntro(
        uid=uid, nick=nick, user="m", host="evil.example", realname="M", ts=1.0, signon=1.0
    )
    user.o, user.id = EVIL, f"evil-intro-{uid}"
    return user


def join(uid: str) -> ev.ChannelJoin:
    event = ev.ChannelJoin(uid=uid, channel="#room", cts=2**40)  # younger: no status
    event.o, event.id = EVIL, f"evil-join-{uid}"
    return event


@asynccontextmanager
async def room_and_evil(
    node: NodeProcess,
) -> AsyncIterator[tuple[IrcClient, IrcClient, ClientConnection]]:
    """alice and bob in ``#room`` on the node, and evil linked to it; all closed after."""
    alice = await IrcClient.tcp(node.irc_port)
    bob = await IrcClient.tcp(node.irc_port)
    ws: ClientConnection | None = None
    try:
        await alice.register("alice", caps=CAPS)
        await bob.register("bob", caps=CAPS)
        await alice.join("#room")
        await bob.join("#room")
        ws, refused = await handshake(node)
        assert not refused, refused
        yield alice, bob, ws
    finally:
        if ws is not None:
            await ws.close()
        await alice.close()
        await bob.close()


async def test_a_hostile_peer_is_contained_and_the_link_dropped_when_it_must(
    node: NodeProcess,
) -> None:
    async with room_and_evil(node) as (alice, bob, ws):
        alice_uid = await uid_of(ws, "alice")

        # Its own user may speak; the node's users may not be spoken for.
        for event in (intro(f"{EVIL_SID}u1", "mallory"), join(f"{EVIL_SID}u1")):
            await ws.send(lp.encode(event))
        a_start = alice_uid[2:8]  # 1u<start><counter>: a's msgids begin 1<start>
        spoofed = [
            # a's next msgid, taken first, would shut out alice's next line.
            say(f"{EVIL_SID}u1", f"1{a_start}9", "under a msgid of a's"),
            say(alice_uid, "evil1", "I am alice, trust me"),
            say("7u1", "evil2", "a uid that is not evil's", source="alice!~alice@host"),
            say(f"{EVIL_SID}u1", "evil3", "origin not behind this link", o="b"),
        ]
        quit_ = ev.UserQuit(uid=alice_uid, reason="spoofed quit")
        quit_.o, quit_.id = EVIL, "evil-quit"
        honest = say(f"{EVIL_SID}u1", "evil4", "hello from mallory")
        again = say(f"{EVIL_SID}u1", "evil4", "hello from mallory")
        again.id = "evil-event-evil4-again"  # the same message under a new event id
        for event in [*spoofed, quit_, honest, honest, again]:
            await ws.send(lp.encode(event))

        lines = await bob.collect_until(lambda m: m.command == "PRIVMSG" and m.nick == "mallory")
        lines += await bob.sync()
        texts = [m.last for m in lines if m.command in ("PRIVMSG", "QUIT")]
        assert texts == ["hello from mallory"], f"bob saw {texts}"
        # A user of evil's not known here yet, naming itself alice: not shown as alice.
        unknown = say(f"{EVIL_SID}u77", "evil5", "not known yet", source="alice!~alice@host")
        await ws.send(lp.encode(unknown))
        line = await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "not known yet")
        assert line.source == f"Guest{EVIL_SID}u77!~alice@host", line
        await alice.privmsg("#room", "still here")  # the spoofed QUIT changed nothing

        log = node.log()
        for why in (
            f"dropped msg from {EVIL}: msgid 1{a_start}9 is of this server's own start",
            f"dropped msg from {EVIL}: user {alice_uid} (alice) is on a, not {EVIL}",
            f"dropped msg from {EVIL}: user 7u1 is not one of {EVIL}'s (server ID {EVIL_SID})",
            "dropped msg from b: origin does not match this link",
            f"dropped quit from {EVIL}: user {alice_uid} (alice) is on a, not {EVIL}",
        ):
            assert why in log, f"no {why!r} in the node's log:\n{log}"

        # A message bigger than the protocol allows: the node drops the link.
        await ws.send("x" * (lp.MAX_LINK_MESSAGE + 1))

        async def link_down() -> bool:
            return "link down: a -- evil" in node.log()

        await eventually(link_down, 10, "the link to evil dropped", 0.1, node.log)
        await bob.expect(lambda m: m.command == "QUIT" and m.nick == "mallory")
        await alice.privmsg("#room", "and still here")


async def test_a_peer_of_another_protocol_version_is_refused(node: NodeProcess) -> None:
    ws, refused = await handshake(node, version=lp.VERSION + 1)
    await ws.close()
    assert refused.startswith(f"refused by peer: protocol version {lp.VERSION + 1} not supported")


def caught_up(o: str, msgid: str, ts: float, text: str, source: str) -> lp.ReplayItem:
    return lp.ReplayItem(
        o=o, msgid=msgid, ts=ts, source=source, command="PRIVMSG", target="#room", text=text
    )


def advert(server: str, sid: int, seq: int, neighbours: list[str]) -> lp.Advert:
    return lp.Advert(server=server, sid=sid, seq=seq, neighbours=neighbours)


async def test_a_catch_up_speaks_only_for_the_servers_behind_the_link(
    node: NodeProcess,
) -> None:
    """A ``replay`` (the catch-up when links change) carries messages of any
    origin, each with its sender's ``nick!user@host``: the node takes one only
    where that origin's messages could come from this peer."""
    async with room_and_evil(node) as (_, bob, ws):
        this_start = (await uid_of(ws, "alice"))[2:8]  # 1u<start><counter>
        now = time.time()
        alice_says = "alice!~alice@127.0.0.1"
        # Server b (ID 7) is behind evil.
        await ws.send(lp.encode(advert(EVIL, EVIL_SID, 2, ["a", "b"])))
        await ws.send(lp.encode(advert("b", 7, 1, [EVIL])))
        first = [
            caught_up(EVIL, f"{EVIL_SID:x}abcdef1", now, "evil's own", "mallory!m@x"),
            caught_up("b", "7abcdef1", now, "b's: b is behind evil", "carol!c@b"),
            caught_up("a", f"1{this_start}99", now, "a's own line, forged", alice_says),
            # Stamps may run a minute ahead (clocks differ): these run further.
            caught_up("a", "1abcdef1", now + 90, "a's, of a start to come", alice_says),
            caught_up("c", "9abcdef1", now + 90, "c's: never seen here", alice_says),
        ]
        await ws.send(lp.encode(lp.Replay(items=first)))
        cut = time.time()
        await ws.send(lp.encode(advert(EVIL, EVIL_SID, 3, ["a"])))  # b is cut off
        second = [
            caught_up("b", "7abcdef2", cut - 1, "b's, stamped before it was cut off", "c!c@b"),
            caught_up("b", "7abcdef3", cut + 30, "b's, stamped after the cut", alice_says),
            caught_up("c", "9abcdef2", now - 120, "c's, from before a started", "dave!d@c"),
        ]
        await ws.send(lp.encode(lp.Replay(items=second)))
        await ws.send(lp.encode(intro(f"{EVIL_SID}u9", "mallory")))
        await ws.send(lp.encode(join(f"{EVIL_SID}u9")))
        await ws.send(lp.encode(say(f"{EVIL_SID}u9", "evil9", "the end")))
        await bob.collect_until(lambda m: m.command == "PRIVMSG" and m.last == "the end")
        texts = [m.last for m in bob.inbox.seen if m.command == "PRIVMSG"]
        assert texts == [
            "evil's own",
            "b's: b is behind evil",
            "b's, stamped before it was cut off",
            "c's, from before a started",
            "the end",
        ], f"bob saw {texts}"
        log = node.log()
        for why in (
            f"link evil: refused a caught-up message 1{this_start}99 of a: a msgid of this "
            "server's own start, every one of which it holds",
            r"link evil: refused a caught-up message 1abcdef1 of a: stamped \d+ s ahead of this "
            "server's clock",
            r"link evil: refused a caught-up message 9abcdef1 of c: stamped \d+ s ahead of this "
            "server's clock",
            r"link evil: refused a caught-up message 7abcdef3 of b: stamped \d+ s after b was "
            "cut off from this server",
        ):
            assert re.search(why, log), f"no {why!r} in the node's log:\n{log}"


async def test_a_peer_cannot_break_a_line_or_show_a_line_under_a_name_not_its_own(
    node: NodeProcess,
) -> None:
    """A CR or LF written to a client would end the line there and start
    another, from any source: refused in any string of a link message but a
    multiline message's text (written line by line); a NUL anywhere. A user of
    evil's not known yet may name itself, but not as a user of the node, a
    service, or a bare ``nick@host``; and evil may not take another server's
    ID in an advert."""
    async with room_and_evil(node) as (alice, bob, ws):
        for event in (intro(f"{EVIL_SID}u1", "mallory"), join(f"{EVIL_SID}u1")):
            await ws.send(lp.encode(event))
        # Text may hold line breaks (a multiline message's); never on the wire:
        # a lone CR, and a line break on a path that writes text whole
        # (STATUSMSG to the channel's operators: alice), become spaces.
        to_ops = say(f"{EVIL_SID}u1", "evil6", "hi\r\nQUIT :forged")
        to_ops.target = "@#room"
        await ws.send(lp.encode(to_ops))
        line = await alice.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "@#room")
        assert line.last == "hi  QUIT :forged", line
        await ws.send(lp.encode(say(f"{EVIL_SID}u1", "evil7", "hi\rFORGED")))
        line = await bob.expect(lambda m: m.command == "PRIVMSG" and m.last.startswith("hi"))
        assert line.last == "hi FORGED", line
        forged = ":alice!~alice@127.0.0.1 PRIVMSG #room :I never said this"
        broken = [
            say(f"{EVIL_SID}u1", "evil1", f"hi\0{forged}"),
            say(f"{EVIL_SID}u9", "evil3", "hi", source="mallory\r\n:server 001 bob :x"),
            say(f"{EVIL_SID}u9", "evil4", "spaced", source="mal lory!m@h"),
        ]
        for event in broken:
            await ws.send(lp.encode(event))
        for source in (f"m!m@h\n{forged}", "ChanServ!ChanServ@services. MODE #room +o m"):
            line = caught_up(EVIL, "2aabcdef9", time.time(), "old", source)
            await ws.send(lp.encode(lp.Replay(items=[line])))
        # A multiline message's text holds its lines (``irc.multiline``): each
        # one is written as a line of its own, from its sender.
        await ws.send(lp.encode(say(f"{EVIL_SID}u1", "evil5", f"two\n{forged}")))
        names = ["alice@127.0.0.1", "NickServ!NickServ@services.", "!nobody@h", "ghost!g@h"]
        for n, source in enumerate(names, start=10):
            unknown = say(f"{EVIL_SID}u{n}", f"evil{n}", f"as {source}", source=source)
            await ws.send(lp.encode(unknown))
        await ws.send(lp.encode(advert("b", 1, 1, [EVIL])))  # b with a's server ID
        await ws.send(lp.encode(advert("c", 0x1F, 1, [EVIL])))  # hex 1f: begins like a's 1
        await ws.send(lp.encode(say(f"{EVIL_SID}u1", "evil20", "the end")))
        await bob.collect_until(lambda m: m.command == "PRIVMSG" and m.last == "the end")
        shown = [(m.source, m.last) for m in bob.inbox.seen if m.command == "PRIVMSG"]
        mallory = "mallory!m@evil.example"
        assert shown == [
            (mallory, "hi FORGED"),
            (mallory, "two"),
            (mallory, forged),
            ("Guest42u10@127.0.0.1", "as alice@127.0.0.1"),
            ("Guest42u11!NickServ@services.", "as NickServ!NickServ@services."),
            ("Guest42u12!nobody@h", "as !nobody@h"),
            ("ghost!g@h", "as ghost!g@h"),
            (mallory, "the end"),
        ], f"bob saw {shown}"
        log = node.log()
        for why in (
            "link evil: dropped a bad message: invalid message: text: a CR, LF or NUL in a string",
            "link evil: dropped a bad message: invalid message: source: a CR, LF or NUL",
            "link evil: dropped a bad message: invalid message: source: not one IRC word",
            "link evil: dropped a bad message: invalid message: items.0.source: a CR, LF or NUL",
            "link evil: dropped a bad message: invalid message: items.0.source: not one IRC word",
            "link evil: refused the advert of b (seq 1): duplicate server ID 1 (already used by a)",
            "link evil: refused the advert of c (seq 1): server ID 31 of c (hex 1f) begins "
            "like a's 1 (hex 1): their msgids could not be told apart",
        ):
            assert why in log, f"no {why!r} in the node's log:\n{log}"


async def test_a_burst_cannot_put_another_servers_users_in_a_channel(node: NodeProcess) -> None:
    """A burst restates each channel with its members; a peer may restate only
    users on its side of the link: alice (the node's own) named among the
    members of ``#trap`` is left out, mallory (evil's) is in."""
    async with room_and_evil(node) as (alice, bob, ws):
        alice_uid = await uid_of(ws, "alice")
        mallory = f"{EVIL_SID}u1"
        await ws.send(lp.encode(intro(mallory, "mallory")))
        trap = ev.ChannelState(
            name="#trap",
            ts=1,
            flags=[],
            key=None,
            limit=None,
            topic="",
            topic_by="",
            topic_at=0,
            bans=[],
            members=[(alice_uid, "o"), (mallory, "o")],
        )
        trap.o, trap.id = EVIL, "evil-burst-trap"
        await ws.send(lp.encode(trap))
        await ws.send(lp.encode(join(mallory)))
        await bob.expect(lambda m: m.command == "JOIN" and m.nick == "mallory")
        await bob.send("NAMES #trap")
        names = await bob.expect(lambda m: m.command == "353")
        assert names.last.split() == ["@mallory"], names
        await alice.send("NAMES #trap")  # and alice was never told she joined it
        lines = await alice.collect_until(lambda m: m.command == "366")
        assert not [m for m in lines if m.command == "JOIN" and m.params[0] == "#trap"], lines
        assert (
            f"link {EVIL}: ignored 1 of the members of #trap in its burst: not users of "
            f"servers behind this link ({alice_uid})"
        ) in node.log()
