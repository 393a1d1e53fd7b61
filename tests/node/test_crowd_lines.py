"""Lines to a crowd run in a slice of the flush, after the turn's small chats (``irc.crowd``).

A message to a channel of more than ``BULK_FANOUT`` members is not run as
it is read, once the runtime flushes with a budget every turn (``on``): the
small chats read in the same turn are run and written first. Nothing is
lost or reordered for one sender, a flush without a budget (a drain) runs
every waiting line, and a client that hangs up still has its lines run.
"""

from __future__ import annotations

from chatnet_node.irc.crowd import crowd_target
from chatnet_node.irc.output import BULK_FANOUT
from chatnet_node.irc.slowwork import MAX_WAITING
from chatnet_node.transport.drops import drop_soon
from tests.corekit import CoreServer, CoreUser, in_room
from tests.node.commands.test_accounts import PASSWORD, registered
from tests.node.commands.test_password_work import later


def _written(user: CoreUser) -> list[str]:
    """What the client's sink got so far, without flushing (unlike ``lines``)."""
    data = b"".join(user.sink.data)
    user.sink.data.clear()
    return [line for line in data.decode().split("\r\n") if line]


def _crowd(server: CoreServer) -> list[CoreUser]:
    """A crowd just big enough, in #big, with the runtime's budgeted flushes on."""
    crowd = in_room(server, *(f"c{i}" for i in range(BULK_FANOUT + 1)), channel="#big")
    server.core.crowds.on = True
    return crowd


def _until_done(server: CoreServer, most: int = 1000) -> int:
    """Budgeted flushes until nothing asks for another turn; how many it took."""
    wakes: list[None] = []
    output = server.core.output
    output.wake = lambda: wakes.append(None)
    turns = 0
    while turns < most:
        wakes.clear()
        output.flush(budget=0.0)
        turns += 1
        if not wakes:
            return turns
    raise AssertionError(f"still asking for turns after {most}")


def test_a_small_chat_read_after_a_crowd_line_is_written_before_it_runs() -> None:
    server = CoreServer()
    crowd = _crowd(server)
    alice, bob = server.user("alice"), server.user("bob")
    for user in (alice, bob):
        user.send("JOIN #small")
    bob.send("JOIN #big")
    alice.lines(), bob.lines()
    for user in crowd:
        user.lines()
    server.core.output.wake = lambda: None

    crowd[0].send("PRIVMSG #big :to everyone")  # read first, in the same turn
    alice.send("PRIVMSG #small :hi bob")
    assert server.core.crowds.waiting, "the crowd's line waits"
    server.core.output.flush(budget=0.0)
    # bob got alice's line from the turn's direct write; #big runs in the slice after it.
    assert _written(bob)[:1] == [":alice!~alice@127.0.0.1 PRIVMSG #small :hi bob"]
    _until_done(server)
    for user in crowd[1:]:
        assert _written(user) == [":c0!~c0@127.0.0.1 PRIVMSG #big :to everyone"], user.nick


def test_a_senders_later_lines_wait_behind_its_crowd_line_in_order() -> None:
    server = CoreServer()
    crowd = _crowd(server)
    sender = crowd[0]
    friend = server.user("friend")
    friend.send("JOIN #pair")
    sender.send("JOIN #pair")
    friend.lines()
    sender.lines()

    sender.send("PRIVMSG #big :the first", "PRIVMSG #pair :the second", "PRIVMSG friend :the third")
    assert sender.client.crowd_lines == 3, "the two small lines wait behind the first"
    _until_done(server)
    assert crowd[1].lines() == [":c0!~c0@127.0.0.1 PRIVMSG #big :the first"]
    assert friend.lines() == [
        ":c0!~c0@127.0.0.1 PRIVMSG #pair :the second",
        ":c0!~c0@127.0.0.1 PRIVMSG friend :the third",
    ]
    assert sender.client.crowd_lines == 0


def test_a_flush_without_a_budget_runs_every_waiting_line_first() -> None:
    server = CoreServer()
    crowd = _crowd(server)
    for i in range(3):
        crowd[i].send(f"PRIVMSG #big :line {i}")
    server.core.output.flush()  # a drain's, or the end of a test
    expected = [f":c{i}!~c{i}@127.0.0.1 PRIVMSG #big :line {i}" for i in range(3)]
    assert crowd[-1].lines() == expected
    assert not server.core.crowds.waiting and not server.core.output.late.slices


def test_a_client_that_hangs_up_still_has_its_waiting_lines_run() -> None:
    """A bot sends its line and closes the socket at once: the line is not lost."""
    server = CoreServer()
    crowd = _crowd(server)
    crowd[1].send("PRIVMSG #big :someone else's line")
    crowd[0].send("PRIVMSG #big :bye all")
    server.core.disconnect(crowd[0].client, "Connection closed")
    _until_done(server)
    # c0's line runs as it goes, before c1's that still waited for its slice.
    assert crowd[2].lines() == [
        ":c0!~c0@127.0.0.1 PRIVMSG #big :bye all",
        ":c0!~c0@127.0.0.1 QUIT :Connection closed",
        ":c1!~c1@127.0.0.1 PRIVMSG #big :someone else's line",
    ]


def test_while_draining_lines_run_as_they_are_read() -> None:
    server = CoreServer()
    crowd = _crowd(server)
    server.core.begin_drain()
    crowd[2].lines()
    crowd[0].send("PRIVMSG #big :still here")
    assert not server.core.crowds.waiting
    server.core.output.flush()
    assert crowd[2].lines() == [":c0!~c0@127.0.0.1 PRIVMSG #big :still here"]


def test_off_until_the_runtime_turns_it_on() -> None:
    server = CoreServer()
    crowd = in_room(server, *(f"c{i}" for i in range(BULK_FANOUT + 1)), channel="#big")
    crowd[0].send("PRIVMSG #big :at once")
    assert not server.core.crowds.waiting


def test_which_lines_go_to_a_crowd() -> None:
    server = CoreServer()
    in_room(server, *(f"c{i}" for i in range(BULK_FANOUT + 1)), channel="#Big")
    in_room(server, "a", "b", channel="#small")
    channels = server.core.channels
    for line in (
        "PRIVMSG #big :hi",
        "privmsg #BIG :case does not matter",
        "@label=x;+typing=active TAGMSG #big",
        ":c0 NOTICE #small,#big :one of the targets",
        "PRIVMSG @#big :to the operators (a status prefix)",
    ):
        assert crowd_target(line, channels), line
    for line in (
        "PRIVMSG #small :hi",
        "PRIVMSG c1 :a private message",
        "JOIN #big",
        "TOPIC #big :not a message",
        "PRIVMSG",
        "@only-tags",
        "",
    ):
        assert not crowd_target(line, channels), line


def test_a_line_read_while_slow_work_runs_still_waits_behind_its_crowd_lines() -> None:
    """A slice runs IDENTIFY (slow work) and stops: the client's later lines,
    waiting for slices, and one read only now, run in the order they came."""
    server = CoreServer(name="test")
    crowd = _crowd(server)
    server.core.output.wake = lambda: None
    registered(server, "alice")
    work = later(server)
    bob, friend = crowd[0], server.user("friend")
    for user in (friend, bob):
        user.send("JOIN #pair")
        user.lines()
    output = server.core.output
    bob.send("PRIVMSG #big :one", f"NS IDENTIFY alice {PASSWORD}", "PRIVMSG #pair :the third")
    output.flush(budget=0.0)  # "one"
    output.flush(budget=0.0)  # IDENTIFY starts slow work; the third still waits
    assert bob.client.slow is not None and bob.client.crowd_lines == 1
    bob.send("PRIVMSG #pair :the fourth")
    work.finish()
    for _ in range(5):
        output.flush(budget=0.0)
    said = [line.split(" :", 1)[1] for line in _written(friend) if " PRIVMSG #pair " in line]
    assert said == ["the third", "the fourth"]


def test_a_crowd_lines_history_is_committed_before_its_echo_is_written() -> None:
    server = CoreServer(name="test")
    sender = server.user("echoer", caps="echo-message")
    sender.send("JOIN #big")
    sender.lines()
    _crowd(server)
    server.core.output.wake = lambda: None
    events: list[str] = []
    history = server.core.replication.history
    commit = history.commit
    history.commit = lambda: (events.append("commit"), commit())[1]  # type: ignore[method-assign]
    write = sender.sink.write
    sender.sink.write = lambda data: (events.append(data.decode()), write(data))[1]  # type: ignore[method-assign]
    sender.send("PRIVMSG #big :ack me")
    server.core.output.flush(budget=0.0)
    echo = next(i for i, event in enumerate(events) if "ack me" in event)
    assert "commit" in events[:echo], f"the echo went out uncommitted: {events}"


def test_a_reader_dropped_for_its_sendq_still_has_its_waiting_lines_run() -> None:
    server = CoreServer()
    crowd = _crowd(server)
    server.core.output.wake = lambda: None
    watcher = crowd[-1]
    drop_soon(server.core, crowd[5].client, lambda: None)  # a drop queued earlier in the turn
    drop_soon(server.core, crowd[0].client, lambda: None)
    crowd[0].send("PRIVMSG #big :last words")  # read in the same turn, before its drop
    server.core.output.flush(budget=1.0)
    _until_done(server)  # a drop at a time: the two may take more than one turn
    lines = watcher.lines()
    said = [line for line in lines if "last words" in line]
    assert said == [":c0!~c0@127.0.0.1 PRIVMSG #big :last words"], lines
    assert lines.index(said[0]) < lines.index(":c0!~c0@127.0.0.1 QUIT :SendQ exceeded")


def test_too_many_lines_waiting_behind_a_crowd_line_is_a_flood() -> None:
    server = CoreServer(limits={"floodBurst": 5, "floodRate": 1, "floodMaxQueued": 10})
    crowd = _crowd(server)
    bot = crowd[0]
    bot.send(*[f"PRIVMSG #big :line {n}" for n in range(5000)])
    assert bot.client.closed, "quit for Excess Flood, as flood control would have"
    assert bot.client.crowd_lines <= MAX_WAITING + 5 + 1
    assert ":c0!~c0@127.0.0.1 QUIT :Excess Flood" in crowd[1].lines()
