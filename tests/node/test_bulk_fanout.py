"""Big fan-outs wait behind small ones and are written in slices (``Output.flush``).

A message to a channel of more than ``BULK_FANOUT`` members must not hold
up a small chat: with a budget, a flush writes the small chat first and the
big channel's recipients only for as long as the budget allows, asking for
another turn for the rest. Nothing is lost or reordered for anyone.
"""

from __future__ import annotations

from chatnet_node.irc.output import BULK_FANOUT
from tests.corekit import CoreServer, CoreUser


def _written(user: CoreUser) -> list[str]:
    """What the client's sink got so far, without flushing (unlike ``lines``)."""
    data = b"".join(user.sink.data)
    user.sink.data.clear()
    return [line for line in data.decode().split("\r\n") if line]


def test_small_chat_goes_out_before_a_big_channels_backlog() -> None:
    server = CoreServer()
    crowd = [server.user(f"c{i}") for i in range(BULK_FANOUT + 1)]
    alice, bob = server.user("alice"), server.user("bob")
    for user in crowd:
        user.send("JOIN #big")
    for user in (alice, bob):
        user.send("JOIN #small")
    bob.send("JOIN #big")  # bob is in both: his lines stay in order
    for user in (*crowd, alice, bob):
        user.lines()
    wakes: list[None] = []
    server.core.output.wake = lambda: wakes.append(None)

    crowd[0].send("PRIVMSG #big :to everyone")
    alice.send("PRIVMSG #small :hi bob")
    server.core.output.flush(budget=0.0)

    assert _written(bob) == [
        ":c0!~c0@127.0.0.1 PRIVMSG #big :to everyone",
        ":alice!~alice@127.0.0.1 PRIVMSG #small :hi bob",
    ]
    reached = [user for user in crowd[1:] if user.sink.data]
    assert 0 < len(reached) < len(crowd) - 1, "one slice, not the whole channel"
    assert wakes, "the rest asks for another turn"

    turns = 1
    while wakes and turns < len(crowd):
        wakes.clear()
        server.core.output.flush(budget=0.0)
        turns += 1
    assert not wakes and turns > 2
    for user in crowd[1:]:
        assert _written(user) == [":c0!~c0@127.0.0.1 PRIVMSG #big :to everyone"], user.nick
    assert _written(crowd[0]) == []
    assert _written(alice) == []


def test_without_a_budget_a_flush_writes_everything() -> None:
    server = CoreServer()
    crowd = [server.user(f"c{i}") for i in range(BULK_FANOUT + 1)]
    for user in crowd:
        user.send("JOIN #big")
    for user in crowd:
        user.lines()
    crowd[0].send("PRIVMSG #big :all at once")
    server.core.output.flush()
    assert all(
        _written(user) == [":c0!~c0@127.0.0.1 PRIVMSG #big :all at once"] for user in crowd[1:]
    )
    assert not server.core.output.bulk
