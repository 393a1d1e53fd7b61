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
from tests.corekit import CoreNetwork, CoreUser

CAPS = "message-tags server-time extended-join away-notify setname multi-prefix"


@pytest.fixture
def net() -> CoreNetwork:
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    return net


def watchers(net: CoreNetwork, first: str, second: str) -> tuple[CoreUser, CoreUser]:
    """Two members of #t with the same capabilities, one on each server."""
    here, there = (net.user(server, f"w{server}", caps=CAPS) for server in (first, second))
    net.say(here, "JOIN #t")
    net.say(there, "JOIN #t")
    here.lines()
    there.lines()
    return here, there


def untimed(lines: list[str]) -> list[str]:
    """``lines`` without their ``time`` tag, which must be there."""
    assert all(line.startswith("@time=") for line in lines), lines
    return [line.split(" ", 1)[1] for line in lines]


def test_every_change_looks_the_same_on_both_servers(net: CoreNetwork) -> None:
    alice = net.user("a", "alice")
    net.say(alice, "JOIN #t")  # alice made #t on a: she is its operator
    victim = net.user("b", "victim")
    net.say(victim, "JOIN #t")
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
    for step in steps:
        net.say(alice, step)
        shown_here, shown_there = here.lines(), there.lines()
        assert shown_here, f"{step!r} was not shown on the actor's server"
        assert shown_here == shown_there, f"{step!r} rendered differently across servers"


def test_a_quit_and_a_kill_look_the_same_on_both_servers(net: CoreNetwork) -> None:
    core_a = net.cores["a"]
    core_a.config = core_a.config.model_copy(
        update={"operators": [Operator(name="root", password="pw")]}
    )
    alice, bob, root = net.user("a", "alice"), net.user("b", "bob"), net.user("a", "root")
    for user in (alice, bob):
        net.say(user, "JOIN #t")
    here, there = watchers(net, "a", "b")
    net.say(alice, "QUIT :gone home")
    # A QUIT carries the time each server saw it (no history keeps it).
    shown = untimed(here.lines())
    assert shown == untimed(there.lines())
    assert shown == [":alice!~alice@127.0.0.1 QUIT :Quit: gone home"]
    net.say(root, "OPER root pw", "KILL bob :spam")
    shown = untimed(here.lines())
    assert shown == untimed(there.lines())
    assert shown == [":bob!~bob@127.0.0.1 QUIT :Killed (root (spam))"]
    assert "bob" not in net.cores["b"].nicks and "bob" not in core_a.nicks


def test_a_change_from_the_other_server_looks_the_same_too(net: CoreNetwork) -> None:
    """The same changes, made on b this time: a's rendering of b's event is b's."""
    bob = net.user("b", "bob")
    net.say(bob, "JOIN #t")
    here, there = watchers(net, "b", "a")
    for step in ("TOPIC #t :from b", "MODE #t +s-n", "PRIVMSG #t :hi", "NICK bob2", "PART #t"):
        net.say(bob, step)
        shown_here, shown_there = here.lines(), there.lines()
        assert shown_here and shown_here == shown_there, step
