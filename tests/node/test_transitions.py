"""One change, one rendering: a member on the actor's server and a member on
another server see the same lines, byte for byte, tags included.

Every change goes through one transition, called by the local command and
by the link event alike (``chatnet_node.irc.transitions``); these tests
drive a two-server network in one process and compare what two identical
watchers, one per server, are shown.
"""

from __future__ import annotations

import pytest

from chatnet_node.config import Operator
from tests.node.test_core import RecordingSink
from tests.node.test_link_manager import Net

CAPS = "message-tags server-time extended-join away-notify setname multi-prefix"


@pytest.fixture
def net() -> Net:
    net = Net("a", "b")
    net.link("a", "b")
    return net


def watchers(net: Net, first: str, second: str) -> tuple[RecordingSink, RecordingSink]:
    """Two members of #t with the same capabilities, one on each server."""
    sinks = []
    for server in (first, second):
        client, out = net.user(server, f"w{server}")
        net.say(server, client, f"CAP REQ :{CAPS}")
        net.say(server, client, "JOIN #t")
        sinks.append(out)
    for out in sinks:
        out.lines()
    return sinks[0], sinks[1]


def test_every_change_looks_the_same_on_both_servers(net: Net) -> None:
    alice, alice_out = net.user("a", "alice")
    net.say("a", alice, "JOIN #t")  # alice made #t on a: she is its operator
    victim, _ = net.user("b", "victim")
    net.say("b", victim, "JOIN #t")
    here, there = watchers(net, "a", "b")
    steps = [
        "TOPIC #t :the topic",
        "MODE #t +v victim",
        "MODE #t +kl secret 10",
        "MODE #t +b *!*@evil.example",
        "MODE #t -k+m-v secret victim",
        "PRIVMSG #t :hello both",
        "NOTICE #t :a notice",
        "@+typing=active TAGMSG #t",
        "AWAY :lunch",
        "AWAY",
        "SETNAME :Alice Liddell",
        "NICK alice2",
        "KICK #t victim :out",
        "PART #t :later",
    ]
    alice_out.lines()
    for step in steps:
        net.say("a", alice, step)
        shown_here, shown_there = here.lines(), there.lines()
        assert shown_here, f"{step!r} was not shown on the actor's server"
        assert shown_here == shown_there, f"{step!r} rendered differently across servers"


def test_a_quit_and_a_kill_look_the_same_on_both_servers(net: Net) -> None:
    core_a = net.cores["a"]
    core_a.config = core_a.config.model_copy(
        update={"operators": [Operator(name="root", password="pw")]}
    )
    alice, _ = net.user("a", "alice")
    bob, _ = net.user("b", "bob")
    root, _ = net.user("a", "root")
    for server, client in (("a", alice), ("b", bob)):
        net.say(server, client, "JOIN #t")
    here, there = watchers(net, "a", "b")
    net.say("a", alice, "QUIT :gone home")
    shown = here.lines()
    assert shown == there.lines()
    assert shown == [":alice!~alice@127.0.0.1 QUIT :Quit: gone home"]
    net.say("a", root, "OPER root pw")
    net.say("a", root, "KILL bob :spam")
    shown = here.lines()
    assert shown == there.lines()
    assert shown == [":bob!~bob@127.0.0.1 QUIT :Killed (root (spam))"]
    assert "bob" not in net.cores["b"].nicks and "bob" not in core_a.nicks


def test_a_change_from_the_other_server_looks_the_same_too(net: Net) -> None:
    """The same changes, made on b this time: a's rendering of b's event is b's."""
    bob, _ = net.user("b", "bob")
    net.say("b", bob, "JOIN #t")
    here, there = watchers(net, "b", "a")
    for step in ("TOPIC #t :from b", "MODE #t +s-n", "PRIVMSG #t :hi", "NICK bob2", "PART #t"):
        net.say("b", bob, step)
        shown_here, shown_there = here.lines(), there.lines()
        assert shown_here and shown_here == shown_there, step
