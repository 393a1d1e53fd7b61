"""Whole networks in one process: managers joined by in-memory links.

The link manager and the cores are pure, so a network of several servers
can be simulated exactly: bursts, routing, netsplits and conflicts.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

import pytest

from chatnet_node.client import Client
from chatnet_node.config import NodeConfig
from chatnet_node.core import ChatCore
from chatnet_node.history.sqlite import SqliteHistory
from chatnet_node.links.manager import LinkManager
from tests.node.test_core import RecordingSink

Wire = deque[tuple["MemSession", str]]


@dataclass(eq=False)
class MemSession:
    """One end of an in-memory link."""

    manager: LinkManager
    peer: str
    peer_sid: int
    wire: Wire
    peer_role: str = "hub"
    peer_description: str = ""
    other: MemSession | None = None
    closed: bool = False
    sent: list[str] = field(default_factory=list)

    def send(self, text: str) -> None:
        assert self.other is not None
        if not self.closed:
            self.sent.append(text)
            self.wire.append((self.other, text))

    def close(self, reason: str) -> None:
        self.closed = True

    def info(self) -> dict[str, object]:
        return {}


class Net:
    """Servers, their links and the wire between them."""

    def __init__(self, *names: str) -> None:
        self.wire: Wire = deque()
        self.cores: dict[str, ChatCore] = {}
        self.managers: dict[str, LinkManager] = {}
        self.links: dict[frozenset[str], tuple[MemSession, MemSession]] = {}
        for sid, name in enumerate(names, start=10):
            others = [n for n in names if n != name]
            config = NodeConfig.model_validate(
                {"name": name, "serverId": sid, "network": "t", "links": {"accept": others}}
            )
            core = ChatCore(config, SqliteHistory(None))
            self.cores[name] = core
            self.managers[name] = LinkManager(core)

    def link(self, a: str, b: str) -> None:
        ma, mb = self.managers[a], self.managers[b]
        sa = MemSession(ma, b, self.cores[b].config.server_id, self.wire)
        sb = MemSession(mb, a, self.cores[a].config.server_id, self.wire)
        sa.other, sb.other = sb, sa
        self.links[frozenset((a, b))] = (sa, sb)
        ma.link_up(sa)
        mb.link_up(sb)
        self.settle()

    def cut(self, a: str, b: str) -> None:
        sa, sb = self.links.pop(frozenset((a, b)))
        sa.closed = sb.closed = True
        self.managers[a].link_down(sa, "cut")
        self.managers[b].link_down(sb, "cut")
        self.settle()

    def settle(self) -> None:
        for _ in range(100_000):
            if not self.wire:
                for core in self.cores.values():
                    core.flush()  # the end of a loop turn: commits, then ``stored`` goes out
                if not self.wire:
                    return
                continue
            session, text = self.wire.popleft()
            if not session.closed:
                session.manager.received(session, text)
        raise AssertionError("the network did not settle")

    def user(self, server: str, nick: str) -> tuple[Client, RecordingSink]:
        core = self.cores[server]
        sink = RecordingSink(core)
        client = core.connect(sink, "127.0.0.1")
        assert client is not None
        core.receive_line(client, f"NICK {nick}".encode())
        core.receive_line(client, f"USER {nick} 0 * :{nick}".encode())
        self.settle()
        sink.lines()
        return client, sink

    def say(self, server: str, client: Client, line: str) -> None:
        self.cores[server].receive_line(client, line.encode())
        self.settle()


def privmsgs(sink: RecordingSink) -> list[str]:
    return [line for line in sink.lines() if " PRIVMSG " in line]


def test_three_servers_in_a_line_chat_as_one_network() -> None:
    net = Net("a", "b", "c")
    net.link("a", "b")
    net.link("b", "c")
    alice, alice_out = net.user("a", "alice")
    carol, carol_out = net.user("c", "carol")
    net.say("a", alice, "JOIN #room")
    net.say("c", carol, "JOIN #room")
    assert any("JOIN #room" in line and "carol" in line for line in alice_out.lines())
    net.say("c", carol, "PRIVMSG #room :hello from c")
    assert privmsgs(alice_out) == [":carol!~carol@127.0.0.1 PRIVMSG #room :hello from c"]
    net.say("a", alice, "PRIVMSG carol :direct message")
    assert privmsgs(carol_out) == [":alice!~alice@127.0.0.1 PRIVMSG carol :direct message"]
    net.say("a", alice, "WHOIS carol")
    assert any(" 312 alice carol c " in line for line in alice_out.lines())
    net.say("a", alice, "LINKS")
    links = [line for line in alice_out.lines() if " 364 " in line]
    assert [line.split()[3] for line in links] == ["a", "b", "c"]


def test_interest_routing_keeps_typing_traffic_off_servers_without_members() -> None:
    net = Net("a", "b", "c")
    net.link("a", "b")
    net.link("a", "c")
    alice, _ = net.user("a", "alice")
    bob, _ = net.user("b", "bob")
    for server, client in (("a", alice), ("b", bob)):
        net.say(server, client, "JOIN #ab")
    to_c = net.links[frozenset(("a", "c"))][0]
    before = len(to_c.sent)
    net.say("a", alice, "TAGMSG #ab")
    assert len(to_c.sent) == before, "c has no members in #ab: it gets no typing notices"


def test_a_private_message_goes_only_towards_its_recipient() -> None:
    net = Net("a", "b", "c")
    net.link("a", "b")
    net.link("a", "c")
    alice, _ = net.user("a", "alice")
    _, bob_out = net.user("b", "bob")
    to_c = net.links[frozenset(("a", "c"))][0]
    before = len(to_c.sent)
    net.say("a", alice, "PRIVMSG bob :just for you")
    assert privmsgs(bob_out) == [":alice!~alice@127.0.0.1 PRIVMSG bob :just for you"]
    assert len(to_c.sent) == before, "c holds neither end of the conversation"


def test_every_server_stores_every_channel_message() -> None:
    """With a store per server, CHATHISTORY answers the same everywhere."""
    net = Net("a", "b", "c")
    net.link("a", "b")
    net.link("a", "c")
    alice, _ = net.user("a", "alice")
    bob, bob_out = net.user("b", "bob")
    carol, carol_out = net.user("c", "carol")
    for server, client in (("a", alice), ("b", bob)):
        net.say(server, client, "JOIN #ab")
    net.say("a", alice, "PRIVMSG #ab :kept by c too")
    assert privmsgs(bob_out) == [":alice!~alice@127.0.0.1 PRIVMSG #ab :kept by c too"]
    carol_out.lines()
    net.say("c", carol, "CHATHISTORY LATEST #ab * 10")
    assert privmsgs(carol_out) == [":alice!~alice@127.0.0.1 PRIVMSG #ab :kept by c too"]


def echo_client(net: Net, server: str, nick: str) -> tuple[Client, RecordingSink]:
    client, out = net.user(server, nick)
    net.say(server, client, "CAP REQ :echo-message")
    out.lines()
    return client, out


def test_an_echo_waits_until_a_second_server_stored_the_message() -> None:
    net = Net("a", "b")
    net.link("a", "b")
    alice, alice_out = echo_client(net, "a", "alice")
    net.say("a", alice, "JOIN #room")
    alice_out.lines()
    core = net.cores["a"]
    core.receive_line(alice, b"PRIVMSG #room :safe now?")
    assert privmsgs(alice_out) == [], "no echo before b confirmed it stored the message"
    assert core.unacknowledged() == 1
    net.settle()  # b stores it, commits, confirms
    assert privmsgs(alice_out) == [":alice!~alice@127.0.0.1 PRIVMSG #room :safe now?"]
    assert core.unacknowledged() == 0
    assert net.cores["b"].history.count("#room") == 1


def test_a_labeled_ack_waits_too() -> None:
    net = Net("a", "b")
    net.link("a", "b")
    alice, alice_out = net.user("a", "alice")
    net.say("a", alice, "CAP REQ :labeled-response")
    net.say("a", alice, "JOIN #room")
    alice_out.lines()
    net.cores["a"].receive_line(alice, b"@label=x1 PRIVMSG #room :labelled")
    assert [line for line in alice_out.lines() if "x1" in line] == []
    net.settle()
    assert [line for line in alice_out.lines() if "x1" in line] == ["@label=x1 :a ACK"]


def test_a_cut_off_server_holds_echoes_until_a_link_catches_the_peer_up() -> None:
    net = Net("a", "b")
    net.link("a", "b")
    alice, alice_out = echo_client(net, "a", "alice")
    bob, bob_out = net.user("b", "bob")
    net.say("a", alice, "JOIN #room")
    net.say("b", bob, "JOIN #room")
    net.cut("a", "b")
    alice_out.lines()
    bob_out.lines()
    net.say("a", alice, "PRIVMSG #room :while cut off")
    assert privmsgs(alice_out) == [], "nobody else has it yet: not acknowledged"
    net.link("a", "b")  # the burst rejoins alice, then the catch-up delivers
    assert privmsgs(alice_out) == [":alice!~alice@127.0.0.1 PRIVMSG #room :while cut off"]
    assert privmsgs(bob_out) == [":alice!~alice@127.0.0.1 PRIVMSG #room :while cut off"]
    net.cut("a", "b")
    net.link("a", "b")  # a second catch-up finds nothing new: no duplicate
    assert privmsgs(bob_out) == []
    assert net.cores["b"].history.count("#room") == 1


def test_a_catch_up_reaches_servers_beyond_the_peer() -> None:
    """What a dying hub never forwarded, the sender's leaf brings to the next hub."""
    net = Net("leaf", "h1", "h2", "far")
    net.link("h1", "h2")
    net.link("h2", "far")
    net.link("leaf", "h1")
    alice, _ = echo_client(net, "leaf", "alice")
    dave, dave_out = net.user("far", "dave")
    net.say("leaf", alice, "JOIN #room")
    net.say("far", dave, "JOIN #room")
    dave_out.lines()
    # h1 stores the message and confirms, but dies before forwarding it.
    h1 = net.managers["h1"]
    h1.sessions.pop("h2")
    net.say("leaf", alice, "PRIVMSG #room :only h1 saw this")
    assert privmsgs(dave_out) == []
    net.cut("leaf", "h1")
    net.cut("h1", "h2")
    net.link("leaf", "h2")
    assert privmsgs(dave_out) == [":alice!~alice@127.0.0.1 PRIVMSG #room :only h1 saw this"]
    assert net.cores["far"].stats.replayed == 1


def test_ring_loses_a_link_without_a_netsplit() -> None:
    net = Net("a", "b", "c")
    net.link("a", "b")
    net.link("b", "c")
    net.link("c", "a")
    alice, alice_out = net.user("a", "alice")
    bob, _ = net.user("b", "bob")
    for server, client in (("a", alice), ("b", bob)):
        net.say(server, client, "JOIN #ring")
    alice_out.lines()
    net.cut("a", "b")
    assert not any("QUIT" in line for line in alice_out.lines()), "no netsplit in a ring"
    net.say("b", bob, "PRIVMSG #ring :around the ring")
    assert privmsgs(alice_out) == [":bob!~bob@127.0.0.1 PRIVMSG #ring :around the ring"]


def test_netsplit_and_netjoin() -> None:
    net = Net("a", "b")
    net.link("a", "b")
    alice, alice_out = net.user("a", "alice")
    bob, _ = net.user("b", "bob")
    for server, client in (("a", alice), ("b", bob)):
        net.say(server, client, "JOIN #split")
    alice_out.lines()
    net.cut("a", "b")
    assert alice_out.lines() == [":bob!~bob@127.0.0.1 QUIT :a b"]
    assert "bob" not in net.cores["a"].nicks
    net.link("a", "b")
    lines = alice_out.lines()
    assert [line for line in lines if "JOIN" in line] == [
        line for line in lines if line.endswith(":bob!~bob@127.0.0.1 JOIN #split")
    ]
    assert len([line for line in lines if "JOIN #split" in line]) == 1, "no duplicate netjoin"
    net.say("b", bob, "PRIVMSG #split :back again")
    assert privmsgs(alice_out) == [":bob!~bob@127.0.0.1 PRIVMSG #split :back again"]


def test_nick_collision_after_a_split_is_settled_the_same_everywhere() -> None:
    net = Net("a", "b")
    first, _ = net.user("a", "same")
    net.cores["b"].clock = lambda: 4_000_000_000.0  # b's user took the nick later
    second, second_out = net.user("b", "same")
    net.link("a", "b")
    assert net.cores["a"].nicks["same"] is first
    assert net.cores["b"].nicks["same"].uid == first.uid
    assert second.nick.startswith("Guest")
    assert any(" NICK " in line and "Guest" in line for line in second_out.lines())
    assert first.nick == "same"


def test_channel_created_on_both_sides_keeps_the_older_ops() -> None:
    net = Net("a", "b")
    older, _ = net.user("a", "older")
    net.say("a", older, "JOIN #both")
    net.cores["b"].clock = lambda: 4_000_000_000.0
    younger, younger_out = net.user("b", "younger")
    net.say("b", younger, "JOIN #both")
    net.say("b", younger, "MODE #both +m")
    net.link("a", "b")
    for core in net.cores.values():
        channel = core.channels["#both"]
        statuses = {member.nick: status for member, status in channel.members.items()}
        assert statuses == {"older": "o", "younger": ""}
        assert "m" not in channel.flags
    assert any("MODE #both -o younger" in line for line in younger_out.lines())


def test_a_server_that_can_have_no_peer_acknowledges_at_once() -> None:
    config = NodeConfig.model_validate({"name": "solo", "network": "t"})
    core = ChatCore(config, SqliteHistory(None))
    LinkManager(core)  # a link secret but no portal: nobody could store a second copy
    sink = RecordingSink(core)
    alice = core.connect(sink, "127.0.0.1")
    assert alice is not None
    for line in ("CAP REQ :echo-message", "CAP END", "NICK alice", "USER a 0 * :a", "JOIN #solo"):
        core.receive_line(alice, line.encode())
    sink.lines()
    core.receive_line(alice, b"PRIVMSG #solo :just me here")
    assert privmsgs(sink) == [":alice!~a@127.0.0.1 PRIVMSG #solo :just me here"]


def test_a_confirmation_lost_with_its_link_is_given_when_the_link_is_back() -> None:
    net = Net("a", "b")
    net.link("a", "b")
    alice, alice_out = echo_client(net, "a", "alice")
    net.say("a", alice, "JOIN #room")
    alice_out.lines()
    net.cores["a"].receive_line(alice, b"PRIVMSG #room :stored, unconfirmed")
    while net.wire:  # b receives and stores it, but the link dies before b confirms
        session, text = net.wire.popleft()
        session.manager.received(session, text)
    net.cores["b"].history.commit()
    net.cut("a", "b")
    assert privmsgs(alice_out) == []
    net.link("a", "b")
    assert privmsgs(alice_out) == [":alice!~alice@127.0.0.1 PRIVMSG #room :stored, unconfirmed"]
    assert net.cores["b"].history.count("#room") == 1
    assert net.cores["b"].stats.replayed == 0, "b had it already: nothing to catch up"


def _stop(net: Net, dead: str) -> None:
    """``dead`` stops; the others have not noticed yet."""
    for key, (sa, sb) in net.links.items():
        if dead in key:
            sa.closed = sb.closed = True


def _notice(net: Net, server: str, dead: str) -> None:
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
    net = Net("h0", "h1", "l0", "l1")
    net.link("h0", "h1")
    net.link("l0", "h0")
    net.link("l1", "h0")
    alice, _ = net.user("l0", "alice")
    bob, bob_out = net.user("l1", "bob")
    carol, carol_out = net.user("h1", "carol")
    for server, client in (("l0", alice), ("l1", bob), ("h1", carol)):
        net.say(server, client, "JOIN #r")
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
    bob_out.lines()
    carol_out.lines()
    net.say("l0", alice, "PRIVMSG #r :after the move")
    expected = [":alice!~alice@127.0.0.1 PRIVMSG #r :after the move"]
    assert privmsgs(bob_out) == expected
    assert privmsgs(carol_out) == expected


def test_a_message_from_a_user_not_known_here_yet_is_still_delivered() -> None:
    """After a re-homing, a message can overtake its sender's introduction."""
    net = Net("a", "b")
    net.link("a", "b")
    alice, _ = net.user("a", "alice")
    bob, bob_out = net.user("b", "bob")
    net.say("a", alice, "JOIN #r")
    net.say("b", bob, "JOIN #r")
    bob_out.lines()
    net.cores["b"].users.pop(alice.uid)  # its burst is still on the way
    net.say("a", alice, "PRIVMSG #r :ahead of my intro")
    assert privmsgs(bob_out) == [":alice!~alice@127.0.0.1 PRIVMSG #r :ahead of my intro"]
    assert net.cores["b"].history.count("#r") == 1
