"""Big fan-outs wait behind small ones and are written in slices (``Output.flush``).

A message to a channel of more than ``BULK_FANOUT`` members must not hold
up a small chat: with a budget, a flush writes the small chat first and the
big channel's recipients only for as long as the budget allows, asking for
another turn for the rest. Nothing is lost or reordered for anyone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from chatnet_node.irc.latework import MAX_BULK_LAG
from chatnet_node.irc.output import BULK_FANOUT, SMALL_FANOUT, TURN_BUDGET
from chatnet_node.transport.connection import flush_soon
from chatnet_node.transport.drops import drop_soon
from tests.corekit import CoreServer, CoreUser, in_room


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
    return in_room(server, *(f"c{i}" for i in range(BULK_FANOUT + 1)), channel="#big")


def test_without_a_budget_a_flush_writes_everything() -> None:
    server = CoreServer()
    crowd = _big_channel(server)
    crowd[0].send("PRIVMSG #big :all at once")
    server.core.output.flush()
    assert all(
        _written(user) == [":c0!~c0@127.0.0.1 PRIVMSG #big :all at once"] for user in crowd[1:]
    )
    assert not server.core.output.late.bulk


def test_a_join_and_a_quit_to_a_big_channel_wait_behind_a_small_chat() -> None:
    """Not only messages: any delivery to that many recipients is a big fan-out."""
    server = CoreServer()
    crowd = _big_channel(server)
    watchers = crowd[1:]
    alice, bob = server.user("alice"), server.user("bob")
    for user in (alice, bob):
        user.send("JOIN #small")
        user.lines()
    output = server.core.output
    newcomer = server.user("newcomer")

    for change, line in (
        ("JOIN #big", ":newcomer!~newcomer@127.0.0.1 JOIN #big"),
        ("QUIT :bye", ":newcomer!~newcomer@127.0.0.1 QUIT :Quit: bye"),
    ):
        newcomer.send(change)
        alice.send("PRIVMSG #small :meanwhile")
        output.flush(budget=0.0)
        assert _written(bob) == [":alice!~alice@127.0.0.1 PRIVMSG #small meanwhile"]
        reached = [user for user in watchers if user.sink.data]
        assert 0 < len(reached) < len(watchers), f"{change}: one slice, not the whole channel"
        output.flush()
        assert all(_written(user) == [line] for user in watchers), change


def test_medium_channels_join_the_big_fan_outs_once_a_turns_direct_path_is_full() -> None:
    """Four channels of 100 in one turn: the fourth waits as a big one; a small chat never does."""
    server = CoreServer(limits={"maxClients": 1000})
    size = 100
    assert SMALL_FANOUT < size <= BULK_FANOUT < 3 * size
    rooms = [
        [server.user(f"m{room}x{i}", address=f"10.0.{room}.{i}") for i in range(size)]
        for room in range(4)
    ]
    for room, members in enumerate(rooms):
        for user in members:
            user.send(f"JOIN #m{room}")
    alice, bob = server.user("alice"), server.user("bob")
    for user in (alice, bob):
        user.send("JOIN #small")
    for user in (*(u for members in rooms for u in members), alice, bob):
        user.lines()
    output = server.core.output

    for room, members in enumerate(rooms):
        members[0].send(f"PRIVMSG #m{room} :busy")
    alice.send("PRIVMSG #small :still here")
    direct = [user for user in (*rooms[0], *rooms[1], *rooms[2], bob)]
    assert all(user.client in output.dirty for user in direct), "three rooms and bob"
    assert not any(user.client in output.dirty for user in rooms[3])
    assert all(user.client in output.late.soon for user in rooms[3][1:]), "the fourth: soon"

    output.flush(budget=0.0)
    assert _written(bob) == [":alice!~alice@127.0.0.1 PRIVMSG #small :still here"]
    assert all(user.sink.data for members in rooms[:3] for user in members[1:])
    reached = [user for user in rooms[3][1:] if user.sink.data]
    assert 0 < len(reached) < size - 1, "the fourth room: a slice of the budget"
    output.flush()
    assert all(user.sink.data for user in rooms[3][1:])


def _drop_in_a_slice(server: CoreServer, leaving: CoreUser) -> None:
    """The next budgeted flush drops ``leaving`` in a slice, as the transport's drops do."""
    output = server.core.output

    def drop(deadline: float) -> bool:
        server.core.drop([leaving.client], "SendQ exceeded")
        output.late.slices.remove(drop)
        return False

    output.late.slices.append(drop)


def test_what_a_slices_work_delivers_is_written_in_slices_too() -> None:
    """A drop's QUITs (the transport's slices) to a channel below the big size.

    Thousands of readers dropped in one slice, each with a QUIT to a few
    hundred, would otherwise all be written at the next flush, before the
    sockets are read again.
    """
    server = CoreServer()
    members = in_room(server, *(f"m{i}" for i in range(BULK_FANOUT // 2)), channel="#mid")
    leaving, watchers = members[0], members[1:]
    output = server.core.output
    _drop_in_a_slice(server, leaving)
    output.flush(budget=0.0)
    reached = [user for user in watchers if user.sink.data]
    assert 0 < len(reached) < len(watchers), "one slice, not every member"
    output.flush(budget=0.0)
    reached = [user for user in watchers if user.sink.data]
    assert len(reached) < len(watchers), "the next turn's flush writes a slice, not all"
    output.flush()
    quit_line = ":m0!~m0@127.0.0.1 QUIT :SendQ exceeded"
    assert all(_written(user) == [quit_line] for user in watchers)


def test_a_drops_quits_go_before_a_big_fan_outs_pass_goes_on() -> None:
    """What a slice sends waits behind small chats, not behind a pass of thousands."""
    server = CoreServer()
    crowd = _big_channel(server)
    room = in_room(server, *(f"r{i}" for i in range(20)))
    leaving, watchers = room[0], room[1:]
    output = server.core.output
    crowd[0].send("PRIVMSG #big :a long pass")
    output.flush(budget=0.0)  # the pass begins: one batch of the crowd
    _drop_in_a_slice(server, leaving)
    turns = 0
    while not all(user.sink.data for user in watchers) and turns < len(crowd):
        output.flush(budget=0.0)
        turns += 1
    assert all(user.sink.data for user in watchers), "every QUIT written"
    assert output.late.passing, "before the crowd's pass is done"
    output.flush()
    quit_line = ":r0!~r0@127.0.0.1 QUIT :SendQ exceeded"
    assert all(_written(user) == [quit_line] for user in watchers)
    said = ":c0!~c0@127.0.0.1 PRIVMSG #big :a long pass"
    assert all(_written(user) == [said] for user in crowd[1:])


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
            output.late.charged += 3600.0  # costs the whole turn, after it returns
        return len(deadlines) == 1

    output.late.slices.append(costly_slice)
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


def test_with_no_time_left_one_slice_runs_a_turn_and_the_slices_take_turns_first() -> None:
    """A drop's batch or a crowd line costs hundreds of µs: in a turn whose budget
    is spent, the second slice waits (it goes first in a coming turn)."""
    output = CoreServer().core.output
    output.wake = lambda: None
    calls: list[str] = []

    def named(name: str) -> Callable[[float], bool]:
        def work(deadline: float) -> bool:
            calls.append(name)
            return True

        return work

    output.late.slices.extend([named("drops"), named("crowd")])
    for _ in range(4):
        output.flush(budget=0.0)
    assert calls == ["drops", "crowd", "drops", "crowd"]
    calls.clear()
    output.flush(budget=3600.0)
    assert sorted(calls) == ["crowd", "drops"], "time left: both"


def test_a_pass_that_fell_behind_by_the_lag_bound_is_finished_in_one_go() -> None:
    """What waits in outboxes is not counted against any sendq yet: bounded in time."""
    server = CoreServer()
    crowd = _big_channel(server)
    output = server.core.output
    output.wake = lambda: None
    crowd[0].send("PRIVMSG #big :too late")
    output.flush(budget=0.0)
    assert output.late.passing
    output.late._pass.started -= MAX_BULK_LAG + 1  # as if written a slice a turn since
    output.flush(budget=0.0)
    assert not output.late.passing
    said = ":c0!~c0@127.0.0.1 PRIVMSG #big :too late"
    assert all(_written(user) == [said] for user in crowd[1:])


def test_what_slices_send_waits_once_per_client_however_many_turns_it_waits() -> None:
    """Drops' QUITs to a channel below the big size, with no time left a turn:
    each member waits in ``soon`` once a round, not once a turn, and all are written."""
    server = CoreServer(limits={"maxClients": 400})
    members = in_room(server, *(f"m{i}" for i in range(BULK_FANOUT - 1)), channel="#mid")
    leaving, staying = members[:60], members[60:]
    output = server.core.output
    output.wake = lambda: None
    for user in leaving:
        drop_soon(server.core, user.client, lambda: None)
    most, turns = 0, 0
    while output.late and turns < 10 * len(members):
        output.flush(budget=0.0)
        turns += 1
        most = max(most, output.late._soon.held())
    assert not output.late, "everything written"
    # At most each client twice: in the list being written and in the next round's dict.
    assert most <= 2 * len(members), f"{most} entries waiting for {len(members)} clients"
    quits = [f":{user.nick}!~{user.nick}@127.0.0.1 QUIT :SendQ exceeded" for user in leaving]
    assert all(_written(user) == quits for user in staying)
