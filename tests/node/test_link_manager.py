"""Whole networks in one process: managers joined by in-memory links.

The link manager and the cores are pure, so a network of several servers
can be simulated exactly: bursts, routing, netsplits and conflicts.
"""

from __future__ import annotations

import itertools
import re

import pytest

from chatnet_node.irc import events as ev
from chatnet_node.links import protocol as lp
from chatnet_node.links.manager import LinkManager
from chatnet_node.links.routing import SETTLE_MARGIN, SETTLE_SECONDS
from tests.corekit import CoreNetwork, CoreServer, CoreUser, RecordingSink


def privmsgs(reader: CoreUser | RecordingSink) -> list[str]:
    return [line for line in reader.lines() if " PRIVMSG " in line]


def test_three_servers_in_a_line_chat_as_one_network() -> None:
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    net.link("b", "c")
    alice = net.user("a", "alice")
    carol = net.user("c", "carol")
    net.say(alice, "JOIN #room")
    net.say(carol, "JOIN #room")
    assert any("JOIN #room" in line and "carol" in line for line in alice.lines())
    net.say(carol, "PRIVMSG #room :hello from c")
    assert privmsgs(alice) == [":carol!~carol@127.0.0.1 PRIVMSG #room :hello from c"]
    net.say(alice, "PRIVMSG carol :direct message")
    assert privmsgs(carol) == [":alice!~alice@127.0.0.1 PRIVMSG carol :direct message"]
    net.say(alice, "WHOIS carol")
    assert any(" 312 alice carol c " in line for line in alice.lines())
    net.say(alice, "LINKS")
    links = [line for line in alice.lines() if " 364 " in line]
    assert [line.split()[3] for line in links] == ["a", "b", "c"]


def test_interest_routing_keeps_typing_traffic_off_servers_without_members() -> None:
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    net.link("a", "c")
    alice = net.user("a", "alice")
    bob = net.user("b", "bob")
    for client in (alice, bob):
        net.say(client, "JOIN #ab")
    to_c = net.links[frozenset(("a", "c"))][0]
    before = len(to_c.sent)
    net.say(alice, "TAGMSG #ab")
    assert len(to_c.sent) == before, "c has no members in #ab: it gets no typing notices"


def test_a_typing_notice_to_a_user_goes_only_towards_its_recipient() -> None:
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    net.link("a", "c")
    alice = net.user("a", "alice")
    net.user("b", "bob", caps="message-tags")
    to_c = net.links[frozenset(("a", "c"))][0]
    before = len(to_c.sent)
    net.say(alice, "@+typing=active TAGMSG bob")
    assert len(to_c.sent) == before, "c holds neither end of the conversation"


def test_every_server_stores_a_private_message_and_only_the_recipient_gets_it() -> None:
    """A copy on every server: the recipient finds it after any one server's loss."""
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    net.link("a", "c")
    alice = net.user("a", "alice")
    bob = net.user("b", "bob")
    carol = net.user("c", "carol")
    net.say(alice, "PRIVMSG bob :just for you")
    assert privmsgs(bob) == [":alice!~alice@127.0.0.1 PRIVMSG bob :just for you"]
    assert privmsgs(carol) == [], "carol is not part of the conversation"
    for name in ("a", "b", "c"):
        assert net.cores[name].history.count("dm:alice bob") == 1, f"{name} lacks a copy"
    net.say(carol, "CHATHISTORY AFTER bob timestamp=2000-01-01T00:00:00.000Z 10")
    assert privmsgs(carol) == [], "a conversation is read only by its two ends"


def test_an_echo_of_a_private_message_waits_until_a_second_server_stored_it() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = net.user("a", "alice", caps="echo-message")
    net.user("a", "bob")  # on the same server: the copy must still go to b
    alice.lines()
    alice.send("PRIVMSG bob :safe now?")
    assert privmsgs(alice) == [], "no echo before b confirmed it stored the message"
    assert net.cores["a"].unacknowledged() == 1
    net.settle()
    assert privmsgs(alice) == [":alice!~alice@127.0.0.1 PRIVMSG bob :safe now?"]
    assert net.cores["b"].history.count("dm:alice bob") == 1


def test_every_server_stores_every_channel_message() -> None:
    """With a store per server, CHATHISTORY answers the same everywhere."""
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    net.link("a", "c")
    alice = net.user("a", "alice")
    bob = net.user("b", "bob")
    carol = net.user("c", "carol")
    for client in (alice, bob):
        net.say(client, "JOIN #ab")
    net.say(alice, "PRIVMSG #ab :kept by c too")
    assert privmsgs(bob) == [":alice!~alice@127.0.0.1 PRIVMSG #ab :kept by c too"]
    carol.lines()
    net.say(carol, "CHATHISTORY LATEST #ab * 10")
    assert privmsgs(carol) == [":alice!~alice@127.0.0.1 PRIVMSG #ab :kept by c too"]


def echo_client(net: CoreNetwork, server: str, nick: str) -> CoreUser:
    return net.user(server, nick, caps="echo-message")


def test_an_echo_waits_until_a_second_server_stored_the_message() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = echo_client(net, "a", "alice")
    net.say(alice, "JOIN #room")
    alice.lines()
    core = net.cores["a"]
    alice.send("PRIVMSG #room :safe now?")
    assert privmsgs(alice) == [], "no echo before b confirmed it stored the message"
    assert core.unacknowledged() == 1
    net.settle()  # b stores it, commits, confirms
    assert privmsgs(alice) == [":alice!~alice@127.0.0.1 PRIVMSG #room :safe now?"]
    assert core.unacknowledged() == 0
    assert net.cores["b"].history.count("#room") == 1


def test_a_labeled_ack_waits_too() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = net.user("a", "alice")
    net.say(alice, "CAP REQ :labeled-response")
    net.say(alice, "JOIN #room")
    alice.lines()
    alice.send("@label=x1 PRIVMSG #room :labelled")
    assert [line for line in alice.lines() if "x1" in line] == []
    net.settle()
    assert [line for line in alice.lines() if "x1" in line] == ["@label=x1 :a ACK"]


def test_a_cut_off_server_holds_echoes_until_a_link_catches_the_peer_up() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = echo_client(net, "a", "alice")
    bob = net.user("b", "bob")
    net.say(alice, "JOIN #room")
    net.say(bob, "JOIN #room")
    net.cut("a", "b")
    alice.lines()
    bob.lines()
    net.say(alice, "PRIVMSG #room :while cut off")
    assert privmsgs(alice) == [], "nobody else has it yet: not acknowledged"
    net.link("a", "b")  # the burst rejoins alice, then the catch-up delivers
    assert privmsgs(alice) == [":alice!~alice@127.0.0.1 PRIVMSG #room :while cut off"]
    assert privmsgs(bob) == [":alice!~alice@127.0.0.1 PRIVMSG #room :while cut off"]
    net.cut("a", "b")
    net.link("a", "b")  # a second catch-up finds nothing new: no duplicate
    assert privmsgs(bob) == []
    assert net.cores["b"].history.count("#room") == 1


def test_a_catch_up_reaches_servers_beyond_the_peer() -> None:
    """What a dying hub never forwarded, the sender's leaf brings to the next hub."""
    net = CoreNetwork("leaf", "h1", "h2", "far")
    net.link("h1", "h2")
    net.link("h2", "far")
    net.link("leaf", "h1")
    alice = echo_client(net, "leaf", "alice")
    dave = net.user("far", "dave")
    net.say(alice, "JOIN #room")
    net.say(dave, "JOIN #room")
    dave.lines()
    # h1 stores the message and confirms, but dies before forwarding it.
    h1 = net.managers["h1"]
    h1.sessions.pop("h2")
    net.say(alice, "PRIVMSG #room :only h1 saw this")
    assert privmsgs(dave) == []
    net.cut("leaf", "h1")
    net.cut("h1", "h2")
    net.link("leaf", "h2")
    assert privmsgs(dave) == [":alice!~alice@127.0.0.1 PRIVMSG #room :only h1 saw this"]
    assert net.cores["far"].stats.replayed == 1


def test_a_dead_hubs_lines_are_caught_up_from_anyone_and_only_up_to_its_loss() -> None:
    """A catch-up may bring a lost server's lines from any neighbour (its second
    copy is wherever it was), but only those stamped before the loss; a server
    still reachable speaks only through its route here."""
    net = CoreNetwork("leaf", "h1", "h2", "far")
    net.link("h1", "h2")
    net.link("h2", "far")
    net.link("leaf", "h1")
    for server in net.servers.values():
        server.clock.now += 100  # well past every server's start
    bob = net.user("h1", "bob")
    dave = net.user("far", "dave")
    net.say(bob, "JOIN #room")
    net.say(dave, "JOIN #room")
    dave.lines()
    net.managers["h1"].sessions.pop("h2")  # h1 reaches only the leaf, then dies
    net.say(bob, "PRIVMSG #room :only the leaf has this")
    net.cut("leaf", "h1")
    net.cut("h1", "h2")
    net.link("leaf", "h2")
    assert privmsgs(dave) == [":bob!~bob@127.0.0.1 PRIVMSG #room :only the leaf has this"]

    h2 = net.managers["h2"]
    from_leaf = net.links[frozenset(("leaf", "h2"))][1]  # h2's end of its link to the leaf
    now = net.servers["h2"].clock()

    def replayed(origin: str, ts: float, text: str, msgid: str) -> str:
        item = lp.ReplayItem(
            o=origin, msgid=msgid, ts=ts, source="bob!~bob@127.0.0.1",
            command="PRIVMSG", target="#room", text=text,
        )  # fmt: skip
        return lp.encode(lp.Replay(items=[item]))

    # Server IDs 10-13 in order: msgids begin with the ID in hex, then the start.
    h2.received(from_leaf, replayed("h1", now - 1, "h1's, from before its loss", "babcdef1"))
    h2.received(from_leaf, replayed("h1", now + 30, "h1's, stamped after its loss", "babcdef2"))
    h2.received(from_leaf, replayed("far", now, "far's, not behind the leaf", "dabcdef1"))
    h2.received(from_leaf, replayed("h1", now - 1, "h1's, under far's msgid", "dabcdef2"))
    # A restarted server's window comes from its store, without origins: the
    # msgid's prefix (server ID 10 is the leaf's, 13 far's) says whose it is.
    h2.received(from_leaf, replayed("", now + 30, "the leaf's, from its store", "aabcdef1"))
    h2.received(from_leaf, replayed("", now, "far's, from the leaf's store", "dabcdef3"))
    # A server never seen here: only what it stamped before h2 started (and
    # a minute more, for clocks) may be a line of one gone before that.
    h2.received(from_leaf, replayed("ghost", now - 95, "ghost's, before h2 started", "ghost1"))
    h2.received(from_leaf, replayed("ghost", now - 10, "ghost's, after h2 started", "ghost2"))
    net.settle()
    assert privmsgs(dave) == [
        ":bob!~bob@127.0.0.1 PRIVMSG #room :h1's, from before its loss",
        ":bob!~bob@127.0.0.1 PRIVMSG #room :the leaf's, from its store",
        ":bob!~bob@127.0.0.1 PRIVMSG #room :ghost's, before h2 started",
    ]


def test_a_line_refused_while_its_server_was_still_reachable_is_taken_once_it_is_lost() -> None:
    """h1 freezes with a line only the leaf has. The leaf re-homes to h2 first:
    h2 still reaches h1, so the leaf may not speak for it and h2 refuses the
    line. Once h2 loses h1 too, the next compare (within a second) brings it."""
    net = CoreNetwork("leaf", "h1", "h2", "far")
    net.link("h1", "h2")
    net.link("h2", "far")
    net.link("leaf", "h1")
    for server in net.servers.values():
        server.clock.now += 100
    bob = echo_client(net, "h1", "bob")
    dave = net.user("far", "dave")
    net.say(bob, "JOIN #room")
    net.say(dave, "JOIN #room")
    dave.lines()
    net.managers["h1"].sessions.pop("h2")  # frozen before its copy to h2 went out
    net.say(bob, "PRIVMSG #room :only the leaf has this")
    assert privmsgs(bob) == [":bob!~bob@127.0.0.1 PRIVMSG #room :only the leaf has this"]
    net.cut("leaf", "h1")
    net.link("leaf", "h2")
    assert privmsgs(dave) == [], "h1 is still reachable from h2: the leaf does not speak for it"
    net.servers["h2"].clock.now += 0.5
    net.cut("h1", "h2")  # h2's ping timeout: h1 is lost, within a second of the last compare
    assert privmsgs(dave) == []
    for server in net.servers.values():
        server.clock.now += 1
    net.managers["h2"].send_clock(float("inf"))  # the clock tick after the second is up
    net.settle()
    assert privmsgs(dave) == [":bob!~bob@127.0.0.1 PRIVMSG #room :only the leaf has this"]


def test_a_private_message_sent_while_cut_off_is_acknowledged_after_the_heal() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = echo_client(net, "a", "alice")
    carol = net.user("a", "carol")
    net.user("b", "bob")
    net.cut("a", "b")
    alice.lines()
    carol.lines()
    net.say(alice, "PRIVMSG carol :while cut off")
    line = ":alice!~alice@127.0.0.1 PRIVMSG carol :while cut off"
    assert privmsgs(carol) == [line], "delivered at once"
    assert privmsgs(alice) == [], "nobody else has it yet: not acknowledged"
    net.link("a", "b")
    assert privmsgs(alice) == [line]
    assert net.cores["b"].history.count("dm:alice carol") == 1
    net.cut("a", "b")
    net.link("a", "b")  # a second catch-up finds nothing new: no duplicate
    assert privmsgs(carol) == []
    assert net.cores["b"].history.count("dm:alice carol") == 1


def test_a_catch_up_brings_a_private_message_to_its_recipient_beyond_the_peer() -> None:
    """What a dying hub never forwarded, the sender's leaf brings to the recipient."""
    net = CoreNetwork("leaf", "h1", "h2", "far")
    net.link("h1", "h2")
    net.link("h2", "far")
    net.link("leaf", "h1")
    alice = echo_client(net, "leaf", "alice")
    dave = net.user("far", "dave")
    dave.lines()
    h1 = net.managers["h1"]
    h1.sessions.pop("h2")  # h1 stores it and confirms, but dies before forwarding it
    net.say(alice, "PRIVMSG dave :only h1 saw this")
    assert privmsgs(alice) == [":alice!~alice@127.0.0.1 PRIVMSG dave :only h1 saw this"]
    assert privmsgs(dave) == []
    net.cut("leaf", "h1")
    net.cut("h1", "h2")
    net.link("leaf", "h2")
    assert privmsgs(dave) == [":alice!~alice@127.0.0.1 PRIVMSG dave :only h1 saw this"]
    assert net.cores["far"].history.count("dm:alice dave") == 1


def test_ring_loses_a_link_without_a_netsplit() -> None:
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    net.link("b", "c")
    net.link("c", "a")
    alice = net.user("a", "alice")
    bob = net.user("b", "bob")
    for client in (alice, bob):
        net.say(client, "JOIN #ring")
    alice.lines()
    net.cut("a", "b")
    assert not any("QUIT" in line for line in alice.lines()), "no netsplit in a ring"
    net.say(bob, "PRIVMSG #ring :around the ring")
    assert privmsgs(alice) == [":bob!~bob@127.0.0.1 PRIVMSG #ring :around the ring"]


def test_netsplit_and_netjoin() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = net.user("a", "alice")
    bob = net.user("b", "bob")
    for client in (alice, bob):
        net.say(client, "JOIN #split")
    alice.lines()
    net.cut("a", "b")
    assert alice.lines() == [":bob!~bob@127.0.0.1 QUIT :a b"]
    assert "bob" not in net.cores["a"].nicks
    net.link("a", "b")
    lines = alice.lines()
    assert [line for line in lines if "JOIN" in line] == [
        line for line in lines if line.endswith(":bob!~bob@127.0.0.1 JOIN #split")
    ]
    assert len([line for line in lines if "JOIN #split" in line]) == 1, "no duplicate netjoin"
    net.say(bob, "PRIVMSG #split :back again")
    assert privmsgs(alice) == [":bob!~bob@127.0.0.1 PRIVMSG #split :back again"]


def test_a_client_asking_for_batch_gets_a_split_and_its_heal_as_one_batch_each() -> None:
    """IRCv3 ``netsplit`` and ``netjoin`` batches: a web page or client can show
    thousands of QUITs (and JOINs) as one line; a plain client gets the lines."""
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = net.user("a", "alice", caps="batch")
    plain = net.user("a", "plain")
    bob, carol = net.user("b", "bob"), net.user("b", "carol")
    for client in (alice, plain, bob, carol):
        net.say(client, "JOIN #split")
    net.say(bob, "JOIN #other")  # bob quits once, whatever he shares with alice
    net.say(bob, "JOIN #ops")  # bob's own channel: he comes back as its operator
    net.say(alice, "JOIN #ops")
    alice.lines()
    plain.lines()
    net.cut("a", "b")
    lines = alice.lines()
    ref = lines[0].split()[2][1:]
    assert lines == [
        f":a BATCH +{ref} netsplit a b",
        f"@batch={ref} :bob!~bob@127.0.0.1 QUIT :a b",
        f"@batch={ref} :carol!~carol@127.0.0.1 QUIT :a b",
        f":a BATCH -{ref}",
    ]
    assert plain.lines() == [":bob!~bob@127.0.0.1 QUIT :a b", ":carol!~carol@127.0.0.1 QUIT :a b"]
    net.link("a", "b")
    lines = alice.lines()
    first, second = (line.split()[2][1:] for line in lines if " BATCH +" in line)
    assert lines == [
        f":a BATCH +{first} netjoin b a",  # one a channel: the server back, and this one
        f"@batch={first} :bob!~bob@127.0.0.1 JOIN #split",
        f"@batch={first} :carol!~carol@127.0.0.1 JOIN #split",
        f":a BATCH -{first}",
        f":a BATCH +{second} netjoin b a",
        f"@batch={second} :bob!~bob@127.0.0.1 JOIN #ops",
        f"@batch={second} :b MODE #ops +o bob",  # back as the operator he was
        f":a BATCH -{second}",
    ]
    assert plain.lines() == [
        ":bob!~bob@127.0.0.1 JOIN #split",
        ":carol!~carol@127.0.0.1 JOIN #split",
    ]


def test_a_netjoin_batch_names_the_ends_of_the_new_link_on_every_server() -> None:
    """c links to b: a, one hop further, names the link b -- c, not itself."""
    net = CoreNetwork("a", "b", "c")
    net.link("a", "b")
    alice = net.user("a", "alice", caps="batch")
    bob = net.user("b", "bob", caps="batch")
    carol = net.user("c", "carol", caps="batch")
    for client in (alice, bob, carol):
        net.say(client, "JOIN #room")
        client.lines()
    net.link("b", "c")
    for client, server in ((alice, "a"), (bob, "b")):
        opening = [line for line in client.lines() if " BATCH +" in line]
        assert [line.split(" ", 3)[3] for line in opening] == ["netjoin c b"], (server, opening)
    opening = [line for line in carol.lines() if " BATCH +" in line]
    assert [line.split(" ", 3)[3] for line in opening] == ["netjoin b c"]


def test_nick_collision_after_a_split_is_settled_the_same_everywhere() -> None:
    net = CoreNetwork("a", "b")
    first = net.user("a", "same")
    net.servers["b"].clock.now += 1000  # b's user took the nick later
    second = net.user("b", "same")
    net.link("a", "b")
    assert net.cores["a"].nicks["same"] is first.client
    assert net.cores["b"].nicks["same"].uid == first.client.uid
    assert second.nick.startswith("Guest")
    assert any(" NICK " in line and "Guest" in line for line in second.lines())
    assert first.nick == "same"


def test_channel_created_on_both_sides_keeps_the_older_ops() -> None:
    net = CoreNetwork("a", "b")
    older = net.user("a", "older")
    net.say(older, "JOIN #both")
    net.servers["b"].clock.now += 1000
    younger = net.user("b", "younger")
    net.say(younger, "JOIN #both")
    net.say(younger, "MODE #both +m")
    net.link("a", "b")
    for core in net.cores.values():
        channel = core.channels["#both"]
        statuses = {member.nick: status for member, status in channel.members.items()}
        assert statuses == {"older": "o", "younger": ""}
        assert "m" not in channel.flags
    assert any("MODE #both -o younger" in line for line in younger.lines())


def test_a_server_that_can_have_no_peer_acknowledges_at_once() -> None:
    solo = CoreServer("solo", network="t")
    LinkManager(solo.core)  # a link secret but no portal: nobody could store a second copy
    alice = solo.user("alice", caps="echo-message")
    alice.send("JOIN #solo")
    alice.lines()
    alice.send("PRIVMSG #solo :just me here")
    assert privmsgs(alice) == [":alice!~alice@127.0.0.1 PRIVMSG #solo :just me here"]


def test_a_confirmation_lost_with_its_link_is_given_when_the_link_is_back() -> None:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = echo_client(net, "a", "alice")
    net.say(alice, "JOIN #room")
    alice.lines()
    alice.send("PRIVMSG #room :stored, unconfirmed")
    while net.wire:  # b receives and stores it, but the link dies before b confirms
        session, text = net.wire.popleft()
        session.manager.received(session, text)
    net.cores["b"].history.commit()
    net.cut("a", "b")
    assert privmsgs(alice) == []
    net.link("a", "b")
    assert privmsgs(alice) == [":alice!~alice@127.0.0.1 PRIVMSG #room :stored, unconfirmed"]
    assert net.cores["b"].history.count("#room") == 1
    assert net.cores["b"].stats.replayed == 0, "b had it already: nothing to catch up"


def _stop(net: CoreNetwork, dead: str) -> None:
    """``dead`` stops; the others have not noticed yet."""
    for key, (sa, sb) in net.links.items():
        if dead in key:
            sa.closed = sb.closed = True


def _notice(net: CoreNetwork, server: str, dead: str) -> None:
    """``server`` notices that its link to ``dead`` is gone."""
    sa, sb = net.links[frozenset((server, dead))]
    mine = sa if sa.manager is net.managers[server] else sb
    net.managers[server].link_down(mine, "dead")
    net.settle()


def _rehoming_orders() -> list[tuple[str, ...]]:
    steps = ("l0 notices", "l0 moves", "l1 notices", "l1 moves", "h1 notices")
    return [
        order
        for order in itertools.permutations(steps)
        if order.index("l0 notices") < order.index("l0 moves")
        and order.index("l1 notices") < order.index("l1 moves")
    ]


@pytest.mark.parametrize("order", _rehoming_orders(), ids=", ".join)
def test_leaves_rehoming_in_any_order_still_see_everyone(order: tuple[str, ...]) -> None:
    """A hub dies; its leaves move to the other hub, which may notice last."""
    net = CoreNetwork("h0", "h1", "l0", "l1")
    net.link("h0", "h1")
    net.link("l0", "h0")
    net.link("l1", "h0")
    alice = net.user("l0", "alice")
    bob = net.user("l1", "bob")
    carol = net.user("h1", "carol")
    for client in (alice, bob, carol):
        net.say(client, "JOIN #r")
    _stop(net, "h0")
    for step in order:
        server, action = step.split()
        if action == "notices":
            _notice(net, server, "h0")
        else:
            net.link(server, "h1")
    for server in ("l0", "l1", "h1"):
        nicks = sorted(u.nick for u in net.cores[server].users.values())
        assert nicks == ["alice", "bob", "carol"], f"{server} sees {nicks}"
    bob.lines()
    carol.lines()
    net.say(alice, "PRIVMSG #r :after the move")
    expected = [":alice!~alice@127.0.0.1 PRIVMSG #r :after the move"]
    assert privmsgs(bob) == expected
    assert privmsgs(carol) == expected


def test_a_message_from_a_user_not_known_here_yet_is_still_delivered() -> None:
    """After a re-homing, a message can overtake its sender's introduction."""
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = net.user("a", "alice")
    bob = net.user("b", "bob")
    net.say(alice, "JOIN #r")
    net.say(bob, "JOIN #r")
    bob.lines()
    net.cores["b"].users.pop(alice.client.uid)  # its burst is still on the way
    net.say(alice, "PRIVMSG #r :ahead of my intro")
    assert privmsgs(bob) == [":alice!~alice@127.0.0.1 PRIVMSG #r :ahead of my intro"]
    assert net.cores["b"].history.count("#r") == 1


def test_a_user_who_arrives_while_a_link_comes_up_is_known_across_it() -> None:
    """Between link up and the peer's advert, a new user and join still cross the link.

    A restarted server takes clients at once: one who registers before the
    hub's advert arrived was once left out of both the burst and the routing.
    """
    net = CoreNetwork("hub", "leaf")
    alice = net.user("hub", "alice")
    net.say(alice, "JOIN #c")
    hub, leaf = net.managers["hub"], net.managers["leaf"]
    to_leaf, to_hub = net.pair("hub", "leaf")
    leaf.link_up(to_hub)
    bob = net.servers["leaf"].user("bob")  # before anything from the hub arrived
    bob.send("JOIN #c")
    hub.link_up(to_leaf)
    net.settle()
    bob.lines()
    alice.lines()
    net.say(alice, "NAMES #c")
    assert any(" 353 " in line and "bob" in line for line in alice.lines()), "the hub lacks bob"
    net.say(alice, "PRIVMSG #c :hello bob")
    assert privmsgs(bob) == [":alice!~alice@127.0.0.1 PRIVMSG #c :hello bob"]
    net.say(bob, "PRIVMSG #c :hello alice")
    assert privmsgs(alice) == [":bob!~bob@127.0.0.1 PRIVMSG #c :hello alice"]


def test_a_user_who_arrives_while_a_ring_closes_is_known_everywhere() -> None:
    net = CoreNetwork("h1", "h2", "h3")
    net.link("h1", "h2")
    net.link("h2", "h3")
    m1, m3 = net.managers["h1"], net.managers["h3"]
    to_h3, to_h1 = net.pair("h1", "h3")
    m3.link_up(to_h1)
    m1.link_up(to_h3)
    carol = net.servers["h3"].user("carol")  # before any advert of the new link arrived
    net.settle()
    for name in ("h1", "h2"):
        assert "carol" in {user.nick for user in net.cores[name].users.values()}, name
    # The views agree now; once they have for a while, events take the trees again.
    for server in net.servers.values():
        server.clock.now += SETTLE_SECONDS + 1
    alice = net.user("h1", "alice")
    net.say(alice, "JOIN #ring")
    net.say(carol, "JOIN #ring")
    net.say(carol, "PRIVMSG #ring :the ring is closed")
    assert privmsgs(alice) == [":carol!~carol@127.0.0.1 PRIVMSG #ring :the ring is closed"]


def test_once_the_views_settle_a_hub_cannot_speak_for_another_hubs_users() -> None:
    """A full mesh: h2 hands h1 a line as carol of h3. While the mesh is new
    (flooding) h1 takes it, as a hub round the ring may pass h3's events on;
    once settled, only h3 itself or h1's tree parent for h3 may."""
    net = CoreNetwork("h1", "h2", "h3")
    for a, b in (("h1", "h2"), ("h2", "h3"), ("h1", "h3")):
        net.link(a, b)
    alice = net.user("h1", "alice")
    carol = net.user("h3", "carol")
    net.say(alice, "JOIN #c")
    net.say(carol, "JOIN #c")
    alice.lines()
    uid = next(u.uid for u in net.cores["h1"].users.values() if u.nick == "carol")
    from_h2 = net.links[frozenset(("h1", "h2"))][0]  # h1's end of its link to h2

    def forged(n: int) -> str:
        event = ev.ChatMessage(
            uid=uid, target="#c", command="PRIVMSG", text=f"forged {n}",
            tags={"time": "2027-01-15T08:00:00.000Z", "msgid": f"cabcdef{n}"},  # h3's: ID 12
        )  # fmt: skip
        event.o, event.id = "h3", f"forged-event-{n}"
        return lp.encode(event)

    m1 = net.managers["h1"]
    m1.received(from_h2, forged(1))  # the mesh just closed: h2 may be flooding
    assert privmsgs(alice) == [":carol!~carol@127.0.0.1 PRIVMSG #c :forged 1"]
    for server in net.servers.values():
        server.clock.now += SETTLE_SECONDS + SETTLE_MARGIN + 1
    dropped = m1.dropped
    m1.received(from_h2, forged(2))
    assert privmsgs(alice) == [] and m1.dropped == dropped + 1


def test_a_server_restarted_within_a_second_bursts_its_users_again() -> None:
    """A leaf killed and started again at once (same name and ID): the users
    of its new burst are new, even in the second its last burst was sent."""
    net = CoreNetwork("hub", "a", "b")
    net.link("hub", "a")
    net.servers["b"].user("bob")  # registered before b's first burst
    net.link("hub", "b")
    alice = net.user("a", "alice")
    net.say(alice, "JOIN #c")
    hub_end, _ = net.links.pop(frozenset(("hub", "b")))
    hub_end.closed = True
    net.managers["hub"].link_down(hub_end, "Read error: Connection reset by peer")  # b died
    net.settle()
    alice.lines()
    old = net.servers["b"]
    new = CoreServer("b", serverId=old.config.server_id, network="t", links={"accept": ["hub"]})
    net.servers["b"], net.managers["b"] = new, LinkManager(new.core)
    bob = new.user("bob")  # before its new link: in its new burst
    net.link("hub", "b")
    net.say(bob, "JOIN #c")
    assert ":bob!~bob@127.0.0.1 JOIN #c" in alice.lines()


def test_a_user_on_an_ipv6_address_is_seen_across_the_link() -> None:
    """A host may begin with ':' (``::1``, cloaks off): the link takes it."""
    net = CoreNetwork("east", "west")
    net.link("east", "west")
    bob = net.user("west", "bob")
    net.say(bob, "JOIN #room")
    bob.lines()
    alice = net.servers["east"].user("alice", address="::1")
    net.settle()
    net.say(alice, "JOIN #room")
    net.say(alice, "PRIVMSG #room :hello")
    assert [line.split(" ", 1)[1] for line in bob.lines()] == ["JOIN #room", "PRIVMSG #room hello"]
    assert all(m.dropped == 0 for m in net.managers.values())


def test_a_server_under_the_id_of_one_that_left_before_its_advert_is_taken() -> None:
    """x links to h and goes before any advert crosses; x2 comes with x's server
    ID. An advert under another server's ID is refused only for a reachable one."""
    net = CoreNetwork("h", "c", "x")
    net.link("h", "c")
    at_h, at_x = net.pair("h", "x")
    net.managers["h"].link_up(at_h)
    net.managers["x"].link_up(at_x)
    at_h.closed = at_x.closed = True
    net.links.pop(frozenset(("h", "x")))
    net.managers["h"].link_down(at_h, "cut")
    net.managers["x"].link_down(at_x, "cut")
    net.wire.clear()
    net.settle()
    sid = net.servers["x"].config.server_id
    del net.servers["x"], net.managers["x"]
    x2 = CoreServer("x2", serverId=sid, network="t", links={"accept": ["h", "c"]})
    net.servers["x2"] = x2
    net.managers["x2"] = LinkManager(x2.core)
    net.link("h", "x2")
    assert "x2" in net.managers["c"].topology.reachable()
    net.user("x2", "bob")
    alice = net.user("c", "alice")
    net.say(alice, "WHOIS bob")
    assert any(" 311 alice bob " in line for line in alice.lines())


def test_quits_and_nick_changes_carry_server_time() -> None:
    """A client with server-time shows when a QUIT or NICK happened (a netsplit's
    too), not when it read it; the lines no history keeps carry ``time`` alone."""
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    alice = net.user("a", "alice", caps="server-time")
    bob = net.user("b", "bob")
    for client in (alice, bob):
        net.say(client, "JOIN #room")
    alice.lines()
    net.say(bob, "NICK robert")
    net.cut("a", "b")
    lines = alice.lines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        ":bob!~bob@127.0.0.1 NICK robert",
        ":robert!~bob@127.0.0.1 QUIT :a b",
    ]
    assert all(re.match(r"@time=\d{4}-\d\d-\d\dT[\d:.]+Z ", line) for line in lines), lines


def test_a_server_reached_later_under_a_clashing_id_is_not_heard(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """e tells n of f (server ID 0xc5, whose hex begins like r's 0xc) while f is
    not reachable, so f's advert passes; r links; then e says it links f. f is
    reachable now, beside r: n takes none of f's events, and still r's."""
    net = CoreNetwork("n", "e", "r")  # server IDs 10, 11, 12: hex a, b, c
    net.link("n", "e")
    n = net.managers["n"]
    at_n_from_e = net.links[frozenset(("n", "e"))][0]
    assert at_n_from_e.manager is n and at_n_from_e.peer == "e"
    n.received(at_n_from_e, lp.encode(lp.Advert(server="f", sid=0xC5, seq=1, neighbours=["e"])))
    net.settle()
    net.link("n", "r")
    seq = n.topology.adverts["e"].seq
    n.received(
        at_n_from_e, lp.encode(lp.Advert(server="e", sid=11, seq=seq + 1, neighbours=["n", "f"]))
    )
    net.settle()
    assert {"f", "r"} <= n.topology.reachable()
    assert "server f: its events are refused: server ID 197 of f (hex c5) begins like r's 12" in (
        caplog.text
    )
    fred = ev.UserIntro(
        uid="197u1", nick="fred", user="f", host="f.example", realname="F", ts=1.0, signon=1.0
    )
    fred.o, fred.id = "f", "f-intro-1"
    dropped = n.dropped
    n.received(at_n_from_e, lp.encode(fred))
    assert n.dropped == dropped + 1
    net.user("r", "rita")
    alice = net.user("n", "alice")
    net.say(alice, "WHOIS fred", "WHOIS rita")
    lines = alice.lines()
    assert any(" 401 alice fred " in line for line in lines), "f's user was taken"
    assert any(" 311 alice rita " in line for line in lines), "r's user was not"


def test_a_peer_whose_id_clashes_with_a_server_reached_during_its_handshake_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    net = CoreNetwork("n", "r")  # 10 and 11: hex a and b
    late = CoreServer("late", serverId=0xB7, network="t", links={"accept": ["n"]})
    net.servers["late"] = late
    net.managers["late"] = LinkManager(late.core)
    net.link("n", "r")  # r came while late's handshake was under way
    at_n, _ = net.pair("n", "late")
    net.managers["n"].link_up(at_n)
    assert at_n.closed and "late" not in net.managers["n"].sessions
    assert "link late: refused: server ID 183 of late (hex b7) begins like r's 11" in caplog.text
