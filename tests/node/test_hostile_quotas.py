"""A hostile link peer filling the node's memory at the link's rate, against a real node.

A peer within ``links.peerRate`` could still introduce users, have them
join channels and advertise servers for as long as its link lasts. The node
bounds each (``links.maxUsersPerServer``, ``maxChannelsPerUser``,
``maxServers``, ``maxRemoteUsers``): past a bound, the link of the server
that passes it is dropped, with the reason logged, and its users quit; one
forwarded for a server behind the peer is refused alone, and the link stays,
as it does past ``maxRemoteUsers`` (every server's users together).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatnet_node.irc import events as ev
from chatnet_node.links import protocol as lp
from chatnet_node.links.loglimit import PER_WINDOW
from tests.corekit import CoreNetwork
from tests.nodeproc import NodeProcess, make_node
from tests.waiting import eventually

from .test_hostile_peer import EVIL, EVIL_SID, SECRET, advert, intro, join, room_and_evil, say

USERS, CHANNELS, SERVERS = 4, 3, 3
FAR, FAR_SID = "far", 7


def running(tmp_path: Path, **bounds: int) -> Iterator[NodeProcess]:
    """Node ``a`` with these ``links`` bounds, running until the test ends."""
    node = make_node(tmp_path, "a", serverId=1, links={"secret": SECRET, **bounds})
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    yield from running(
        tmp_path, maxUsersPerServer=USERS, maxChannelsPerUser=CHANNELS, maxServers=SERVERS
    )


async def in_log(node: NodeProcess, text: str) -> None:
    async def logged() -> bool:
        return text in node.log()

    await eventually(logged, 10, repr(text), 0.1, node.log)


def joined(uid: str, channel: str, o: str = EVIL) -> ev.ChannelJoin:
    event = join(uid)
    event.channel, event.o, event.id = channel, o, f"{o}-join-{uid}-{channel}"
    return event


async def test_a_peer_introducing_one_user_too_many_loses_its_link(node: NodeProcess) -> None:
    async with room_and_evil(node) as (alice, bob, ws):
        for n in range(1, USERS + 1):
            await ws.send(lp.encode(intro(f"{EVIL_SID}u{n}", f"mallory{n}")))
            await ws.send(lp.encode(join(f"{EVIL_SID}u{n}")))
        await ws.send(lp.encode(say(f"{EVIL_SID}u{USERS}", "evil1", "all four here")))
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "all four here")
        await ws.send(lp.encode(intro(f"{EVIL_SID}u{USERS + 1}", "onetoomany")))
        await in_log(
            node,
            f"link {EVIL}: dropped the link: {EVIL} has {USERS} users here already "
            f"(links.maxUsersPerServer {USERS})",
        )
        quits = await bob.collect_until(
            lambda m: m.command == "QUIT" and m.nick == f"mallory{USERS}"
        )
        assert {m.nick for m in quits if m.command == "QUIT"} == {
            f"mallory{n}" for n in range(1, USERS + 1)
        }
        await alice.privmsg("#room", "still here")
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "still here")
        await bob.send("WHOIS onetoomany")
        whois = await bob.expect(lambda m: m.command in ("311", "401"))
        assert whois.command == "401", f"the user past the bound is known: {whois}"


async def test_a_burst_past_a_bound_is_refused_not_the_link(node: NodeProcess) -> None:
    """A burst restates what a server has: it may hold more users than a bound
    lowered since, and its every burst would otherwise cost it its link again."""
    async with room_and_evil(node) as (_, bob, ws):
        for n in range(1, USERS + 2):
            user = intro(f"{EVIL_SID}u{n}", f"mallory{n}")
            user.id = f"{EVIL}:b1234561700000000:{n}"  # a burst's id
            await ws.send(lp.encode(user))
        await in_log(
            node,
            f"link {EVIL}: dropped uid from {EVIL}: {EVIL} has {USERS} users here already "
            f"(links.maxUsersPerServer {USERS})",
        )
        await ws.send(lp.encode(join(f"{EVIL_SID}u1")))
        await ws.send(lp.encode(say(f"{EVIL_SID}u1", "evil1", "link still up")))
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "link still up")
        assert "dropped the link" not in node.log()


async def test_a_user_of_the_peer_in_one_channel_too_many_costs_the_peer_its_link(
    node: NodeProcess,
) -> None:
    async with room_and_evil(node) as (_, bob, ws):
        uid = f"{EVIL_SID}u1"
        await ws.send(lp.encode(intro(uid, "mallory")))
        await ws.send(lp.encode(join(uid)))  # #room: the first of three
        for channel in ("#two", "#three"):
            await ws.send(lp.encode(joined(uid, channel)))
        await ws.send(lp.encode(say(uid, "evil1", "in three")))
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "in three")
        await ws.send(lp.encode(joined(uid, "#four")))
        await in_log(
            node,
            f"link {EVIL}: dropped the link: user {uid} (mallory) of {EVIL} is in {CHANNELS} "
            f"channels here already (links.maxChannelsPerUser {CHANNELS})",
        )
        await bob.expect(lambda m: m.command == "QUIT" and m.nick == "mallory")


async def test_a_server_behind_the_peer_past_a_bound_is_refused_and_the_link_stays(
    node: NodeProcess,
) -> None:
    """``far`` is behind ``evil``: past its bound, its events are refused one by
    one; ``evil`` forwarded them and keeps its link. An advert past
    ``maxServers`` is not kept."""
    async with room_and_evil(node) as (_, bob, ws):
        await ws.send(lp.encode(advert(EVIL, EVIL_SID, 2, ["a", FAR])))
        await ws.send(lp.encode(advert(FAR, FAR_SID, 1, [EVIL])))
        for n in range(1, USERS + 2):
            user = intro(f"{FAR_SID}u{n}", f"carol{n}")
            user.o, user.id = FAR, f"far-intro-{n}"
            await ws.send(lp.encode(user))
        await in_log(
            node,
            f"link {EVIL}: dropped uid from {FAR}: {FAR} has {USERS} users here already "
            f"(links.maxUsersPerServer {USERS})",
        )
        # Two servers reached (evil, far): a third is taken, a fourth is not.
        await ws.send(lp.encode(advert(EVIL, EVIL_SID, 3, ["a", FAR, "extra", "onemore"])))
        for n, name in enumerate(("extra", "onemore"), start=1):
            await ws.send(lp.encode(advert(name, 100 + n, 1, [EVIL])))
        await in_log(
            node,
            f"link {EVIL}: refused the advert of onemore (seq 1): {SERVERS} other servers "
            f"are reached from here already (links.maxServers {SERVERS})",
        )
        # The link is up: evil's own user still speaks.
        await ws.send(lp.encode(intro(f"{EVIL_SID}u1", "mallory")))
        await ws.send(lp.encode(join(f"{EVIL_SID}u1")))
        await ws.send(lp.encode(say(f"{EVIL_SID}u1", "evil1", "link still up")))
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "link still up")
        assert "dropped the link" not in node.log()


@pytest.fixture
def node_of_five(tmp_path: Path) -> Iterator[NodeProcess]:
    """A node holding five users of other servers at most, four of any one."""
    yield from running(tmp_path, maxUsersPerServer=USERS, maxRemoteUsers=5)


async def test_users_of_made_up_servers_fill_no_more_than_max_remote_users(
    node_of_five: NodeProcess,
) -> None:
    """Without signed adverts a peer can advertise servers behind it, each within
    ``maxUsersPerServer``: ``maxRemoteUsers`` bounds them all together. Past it an
    introduction is refused, whoever's it is, and the link stays (no one server
    passed it); a user gone makes room for the next one introduced (the one
    refused stays unknown here)."""
    node = node_of_five
    async with room_and_evil(node) as (_, bob, ws):
        await ws.send(lp.encode(advert(EVIL, EVIL_SID, 2, ["a", FAR])))
        await ws.send(lp.encode(advert(FAR, FAR_SID, 1, [EVIL])))
        for n in range(1, USERS + 1):  # far: four, within its bound
            user = intro(f"{FAR_SID}u{n}", f"carol{n}")
            user.o, user.id = FAR, f"far-intro-{n}"
            await ws.send(lp.encode(user))
        await ws.send(lp.encode(intro(f"{EVIL_SID}u1", "mallory1")))  # the fifth
        await ws.send(lp.encode(intro(f"{EVIL_SID}u2", "mallory2")))  # one too many
        await in_log(
            node,
            f"link {EVIL}: dropped uid from {EVIL}: 5 users of other servers are here "
            "already (links.maxRemoteUsers 5)",
        )
        await bob.send("WHOIS mallory2")
        whois = await bob.expect(lambda m: m.command in ("311", "401"))
        assert whois.command == "401", f"the user past the bound is known: {whois}"
        # The link is up; a user of far gone makes room for the next one.
        carol = ev.UserQuit(uid=f"{FAR_SID}u1", reason="bye")
        carol.o, carol.id = FAR, "far-quit-1"
        await ws.send(lp.encode(carol))
        await ws.send(lp.encode(intro(f"{EVIL_SID}u3", "mallory3")))
        await ws.send(lp.encode(join(f"{EVIL_SID}u3")))
        await ws.send(lp.encode(say(f"{EVIL_SID}u3", "evil1", "room for one")))
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "room for one")
        await bob.send("WHOIS mallory2")
        whois = await bob.expect(lambda m: m.command in ("311", "401"))
        assert whois.command == "401", "the user refused is not learnt again"
        assert "dropped the link" not in node.log()


async def test_refusals_at_the_links_rate_fill_no_log(node_of_five: NodeProcess) -> None:
    """A peer whose every event is refused, one by one, keeps its link; it gets
    ``PER_WINDOW`` warnings a window in the log, and the rest are counted."""
    node = node_of_five
    refused = 300
    async with room_and_evil(node) as (_, bob, ws):
        for n in range(1, refused + 1):
            # Not evil's own users (evil does not own uid 99u...): each refused.
            await ws.send(lp.encode(say(f"99u{n}", f"evil{n}", "not mine")))
        await ws.send(lp.encode(intro(f"{EVIL_SID}u1", "mallory")))
        await ws.send(lp.encode(join(f"{EVIL_SID}u1")))
        await ws.send(lp.encode(say(f"{EVIL_SID}u1", f"evil{refused + 1}", "still linked")))
        await bob.expect(lambda m: m.command == "PRIVMSG" and m.last == "still linked")
        await ws.close()
        await in_log(node, f"link {EVIL}: {refused - PER_WINDOW} more warnings about it were not")
    written = node.log().count(f"link {EVIL}: dropped msg from {EVIL}")
    assert written == PER_WINDOW, node.log()[-3000:]


def test_the_users_each_server_has_here_are_counted_through_quits_and_splits() -> None:
    """What ``maxUsersPerServer`` is held against: users of b known on a, in
    memory; a count left behind would shut b's users out for good."""
    net = CoreNetwork("a", "b")
    a = net.cores["a"]
    bound = a.config.links.model_copy(update={"max_users_per_server": 2})
    a.config = a.config.model_copy(update={"links": bound})
    net.link("a", "b")

    def seen_on_a() -> dict[str, int]:
        seen = {server: len(users) for server, users in a.users_by_server.items()}
        assert a.remote_users == sum(seen.values()), "maxRemoteUsers' count"
        return seen

    carol, dave = net.user("b", "carol"), net.user("b", "dave")
    assert seen_on_a() == {"b": 2}
    net.say(carol, "QUIT :bye")
    assert seen_on_a() == {"b": 1}
    erin = net.user("b", "erin")  # room again for one
    assert seen_on_a() == {"b": 2} and "erin" in net.cores["a"].nicks
    net.cut("a", "b")
    assert seen_on_a() == {}, "a split forgets b's count, not only its users"
    net.link("a", "b")  # the burst brings both back, within the bound
    assert seen_on_a() == {"b": 2}
    assert {dave.nick, erin.nick} <= set(net.cores["a"].nicks)
