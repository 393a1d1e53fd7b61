"""Big fan-outs wait behind small ones and are written in slices (``Output.flush``).

A message to a channel of more than ``BULK_FANOUT`` members must not hold
up a small chat: with a budget, a flush writes the small chat first and the
big channel's recipients only for as long as the budget allows, asking for
another turn for the rest. Nothing is lost or reordered for anyone.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from chatnet_node.irc.output import BULK_FANOUT, TURN_BUDGET
from chatnet_node.transport.connection import flush_soon
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


def _big_channel(server: CoreServer) -> list[CoreUser]:
    """A crowd just big enough for a big fan-out, all in #big, nothing left unread."""
    crowd = [server.user(f"c{i}") for i in range(BULK_FANOUT + 1)]
    for user in crowd:
        user.send("JOIN #big")
    for user in crowd:
        user.lines()
    return crowd


def test_without_a_budget_a_flush_writes_everything() -> None:
    server = CoreServer()
    crowd = _big_channel(server)
    crowd[0].send("PRIVMSG #big :all at once")
    server.core.output.flush()
    assert all(
        _written(user) == [":c0!~c0@127.0.0.1 PRIVMSG #big :all at once"] for user in crowd[1:]
    )
    assert not server.core.output.bulk


def test_work_in_slices_shares_the_turns_budget_with_the_big_fanouts() -> None:
    """A slice's work (the transport's drops) comes out of the big fan-outs' share."""
    server = CoreServer()
    crowd = _big_channel(server)
    output = server.core.output
    wakes: list[None] = []
    output.wake = lambda: wakes.append(None)
    deadlines: list[float] = []

    def costly_slice(deadline: float) -> bool:
        deadlines.append(deadline)
        if len(deadlines) == 1:
            output.charged += 3600.0  # costs the whole turn, after it returns
        return len(deadlines) == 1

    output.slices.append(costly_slice)
    crowd[0].send("PRIVMSG #big :hi")
    wakes.clear()
    began = time.monotonic()
    output.flush(budget=3600.0)
    reached = [user for user in crowd[1:] if user.sink.data]
    assert len(deadlines) == 1
    assert deadlines[0] >= began + 3600.0, "the slice is given the turn's deadline"
    assert 0 < len(reached) < len(crowd) - 1, "one batch of the channel, not the hour"
    assert wakes, "the rest, and the slice's, ask for another turn"

    wakes.clear()
    output.flush(budget=3600.0)
    assert len(deadlines) == 2
    assert all(user.sink.data for user in crowd[1:]), "nothing charged: the whole channel"
    assert not wakes


def test_a_message_with_no_other_local_recipient_still_asks_for_the_turns_flush() -> None:
    """The sender alone here: its echo and history commit wait on a flush all the same."""
    server = CoreServer()
    alice = server.user("alice")
    alice.send("CAP REQ :echo-message")
    alice.send("JOIN #alone")
    alice.lines()
    wakes: list[None] = []
    server.core.output.wake = lambda: wakes.append(None)
    alice.send("PRIVMSG #alone :anyone?")
    assert wakes
    assert alice.lines() == [":alice!~alice@127.0.0.1 PRIVMSG #alone anyone?"]


async def test_the_runtime_runs_one_flush_a_turn_however_often_it_is_woken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two pending flushes would each take a turn's budget, and each ask for another."""
    core = CoreServer().core
    budgets: list[float | None] = []
    monkeypatch.setattr(core.output, "flush", budgets.append)
    wake = flush_soon(core, asyncio.get_running_loop())
    for _ in range(3):
        wake()
    await asyncio.sleep(0)
    assert budgets == [TURN_BUDGET]
    wake()
    await asyncio.sleep(0)
    assert budgets == [TURN_BUDGET, TURN_BUDGET], "woken again once it has run"
