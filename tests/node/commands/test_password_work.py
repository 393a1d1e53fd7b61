"""Passwords are checked and hashed off the event loop; the client's lines wait, others do not.

The core hands the work to its runner (``irc.slowwork``). Here the runner
keeps it until the test lets it finish, as a worker thread still hashing
would: what the client sent meanwhile must wait, in order, other clients
must go on, and the answer must fit the accounts as they are when it comes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chatnet_node.irc.core import ChatCore, Command
from chatnet_node.irc.message import Message
from chatnet_node.irc.model import Client
from chatnet_node.irc.slowwork import MAX_WAITING, Failed, run_inline
from tests.corekit import CoreServer, CoreUser
from tests.node.commands.test_accounts import PASSWORD, b64, registered, sasl_connection


class Later:
    """A runner that holds the work until ``finish`` (a worker thread not done yet)."""

    def __init__(self) -> None:
        self.queue: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []

    def __call__(self, work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        self.queue.append((work, done))

    def finish(self) -> None:
        queue, self.queue = self.queue, []
        for work, done in queue:
            run_inline(work, done)


def later(server: CoreServer) -> Later:
    runner = Later()
    server.core.offload = runner
    return runner


def plain(account: str, password: str) -> str:
    return "AUTHENTICATE " + b64(f"\0{account}\0{password}")


def commands(lines: list[str]) -> list[str]:
    return [line.split(" ")[1] for line in lines]


def test_sasl_plain_answers_once_checked_and_cap_end_waits_for_it(server: CoreServer) -> None:
    registered(server, "alice")
    work = later(server)
    user = sasl_connection(server)
    user.send(plain("alice", PASSWORD), "CAP END", "JOIN #room")
    assert user.lines() == []  # the check runs; CAP END and JOIN wait behind it
    assert not user.client.registered
    assert server.core.stats.slow_work_running == 1
    bob = server.user("bob")  # everyone else goes on meanwhile
    assert bob.ask("JOIN #room")[0].endswith("JOIN #room")

    work.finish()
    got = commands(user.lines())
    assert got[:2] == ["900", "903"], got  # logged in first, then registered, then joined
    assert got.index("001") > got.index("903")
    assert "JOIN" in got[got.index("001") :]
    assert user.client.account == "alice"
    assert server.core.stats.slow_work_running == 0


def test_a_line_that_waited_and_starts_more_work_keeps_the_rest_waiting_in_order(
    server: CoreServer,
) -> None:
    registered(server, "alice")
    work = later(server)
    bob = server.user("bob")
    bob.send(f"NS IDENTIFY alice {PASSWORD}", "NS LOGOUT", f"NS IDENTIFY alice {PASSWORD}")
    bob.send("PING :after")
    work.finish()  # the first check; LOGOUT runs, the second IDENTIFY waits again
    got = bob.lines()
    assert got[-1].endswith(":You are now logged out"), got
    assert not any("PONG" in line for line in got)
    work.finish()
    got = bob.lines()
    assert got[-2].endswith(":You are now logged in as alice"), got
    assert got[-1] == ":test PONG test after", got


def test_lines_held_by_flood_control_wait_too_and_keep_their_order() -> None:
    server = CoreServer(name="test", limits={"floodBurst": 3, "floodRate": 1})
    registered(server, "alice")
    work = later(server)
    bob = server.user("bob")
    server.tick(10)  # a full bucket
    bob.send(f"NS IDENTIFY alice {PASSWORD}", *[f"PING :{n}" for n in range(5)])
    server.tick(10)  # flood control lets the held lines go: they wait for the check
    assert not any("PONG" in line for line in bob.lines())
    work.finish()
    server.tick(10)
    pongs = [line.rsplit(" ", 1)[1] for line in bob.lines() if " PONG " in line]
    assert pongs == ["0", "1", "2", "3", "4"]


def test_a_multiline_batch_sent_during_the_check_is_paid_for_once() -> None:
    # Ten lines of budget: the check, the batch's opening and closing lines,
    # its five lines (paid as a whole when it closes) and two PINGs. Paid
    # twice (once as they waited, again at the close), the last PING would wait.
    server = CoreServer(name="test", limits={"floodBurst": 10, "floodRate": 0.01})
    registered(server, "alice")
    work = later(server)
    caps = "message-tags batch echo-message draft/multiline"
    (bob,) = server.room(("bob", caps), channel="#test")
    server.tick(1000)  # a full bucket
    batch = [f"@batch=b1 PRIVMSG #test :line {n}" for n in range(5)]
    bob.send(f"NS IDENTIFY alice {PASSWORD}", "BATCH +b1 draft/multiline #test", *batch)
    bob.send("BATCH -b1", "PING :waited")
    work.finish()
    got = bob.lines()
    assert any(line.endswith(":You are now logged in as alice") for line in got), got
    assert sum(" PRIVMSG #test :line " in line for line in got) == 5, got
    assert got[-1] == ":test PONG test waited", got
    assert bob.ask("PING :after") == [":test PONG test after"]


def test_a_wrong_password_fails_only_when_checked(server: CoreServer) -> None:
    registered(server, "alice")
    work = later(server)
    user = sasl_connection(server)
    user.send(plain("alice", "not-the-password"))
    assert user.lines() == []
    work.finish()
    assert commands(user.lines()) == ["904"]
    assert server.core.stats.login_failures == 1
    assert user.client.account is None


def test_a_labelled_identify_gets_one_labelled_answer_after_the_check(server: CoreServer) -> None:
    registered(server, "alice")
    work = later(server)
    bob = server.user("bob", caps="labeled-response batch")
    bob.send(f"@label=id7 PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    assert bob.lines() == []  # no early ACK for the label
    work.finish()
    got = bob.lines()
    assert sum("label=id7" in line for line in got) == 1, got
    assert got[0].startswith("@label=id7 ") and "BATCH +" in got[0]
    assert any(" 900 bob " in line for line in got)


def test_an_account_dropped_while_its_password_is_checked_logs_nobody_in() -> None:
    server = CoreServer(name="test", operators=[{"name": "admin", "password": "operpass"}])
    registered(server, "alice")
    oper = server.user("oper")
    oper.send("OPER admin operpass")
    work = later(server)
    bob = server.user("bob")
    bob.send(f"NS IDENTIFY alice {PASSWORD}")
    assert oper.ask("NS SADROP alice")[0].endswith(":Account alice has been dropped")
    work.finish()
    assert bob.lines()[-1].endswith(":Invalid account or password")
    assert bob.client.account is None


def test_a_name_taken_while_its_password_was_hashed_is_refused(server: CoreServer) -> None:
    work = later(server)
    first = server.user("first", caps="draft/account-registration")
    second = server.user("second", caps="draft/account-registration")
    first.send(f"REGISTER carol * {PASSWORD}")
    second.send(f"REGISTER carol * {PASSWORD}")
    assert first.lines() == [] and second.lines() == []
    work.finish()
    assert "REGISTER SUCCESS carol" in first.lines()[0]
    assert second.lines() == [
        ":test FAIL REGISTER ACCOUNT_EXISTS carol :The account carol is already registered"
    ]


def test_a_client_gone_before_the_answer_gets_nothing_and_leaves_nothing(
    server: CoreServer,
) -> None:
    registered(server, "alice")
    work = later(server)
    user = sasl_connection(server)
    user.send(plain("alice", PASSWORD), "CAP END")
    server.core.disconnect(user.client, "Connection reset")
    work.finish()
    assert user.client.account is None
    assert len(server.core.logins) == 0
    assert server.core.stats.slow_work_running == 0


def _bot_in_deploys(server: CoreServer) -> tuple[CoreUser, CoreUser, Later]:
    """A watcher and a bot in ``#deploys`` (their joins read), the account alice,
    and the password checks held until the test lets them finish."""
    registered(server, "alice")
    watcher, bot = server.user("carol"), server.user("bot")
    watcher.send("JOIN #deploys")
    bot.send("JOIN #deploys")
    watcher.lines(), bot.lines()
    return watcher, bot, later(server)


def test_a_bot_that_hangs_up_behind_its_identify_still_says_its_line_then_quits(
    server: CoreServer,
) -> None:
    # A notification bot: IDENTIFY, its one line, and the socket closed, no QUIT.
    watcher, bot, work = _bot_in_deploys(server)
    bot.send(f"NS IDENTIFY alice {PASSWORD}", "PRIVMSG #deploys :build 1234 passed")
    server.core.disconnect(bot.client, "Connection reset by peer")
    assert watcher.lines() == []  # the check runs: the line waits, and the QUIT behind it
    assert not bot.client.closed

    work.finish()
    assert watcher.lines() == [
        ":bot!~bot@127.0.0.1 PRIVMSG #deploys :build 1234 passed",
        ":bot!~bot@127.0.0.1 QUIT :Connection reset by peer",
    ]
    assert bot.client.closed
    assert "bot" not in server.core.nicks
    assert len(server.core.logins) == 0
    assert server.core.stats.slow_work_running == 0


def test_a_hung_up_client_quits_only_after_the_work_its_waiting_lines_started(
    server: CoreServer,
) -> None:
    watcher, bot, work = _bot_in_deploys(server)
    bot.send(f"NS IDENTIFY alice {PASSWORD}", "PRIVMSG #deploys :first one")
    bot.send("NS LOGOUT", f"NS IDENTIFY alice {PASSWORD}", "PRIVMSG #deploys :second one")
    server.core.disconnect(bot.client, "Connection closed")
    work.finish()  # the first check: "first one" runs, the second IDENTIFY holds the rest
    assert watcher.lines() == [":bot!~bot@127.0.0.1 PRIVMSG #deploys :first one"]
    work.finish()
    assert watcher.lines() == [
        ":bot!~bot@127.0.0.1 PRIVMSG #deploys :second one",
        ":bot!~bot@127.0.0.1 QUIT :Connection closed",
    ]
    assert bot.client.closed


def test_too_many_lines_while_waiting_is_a_flood() -> None:
    # Flood control alone would let these through at once: the wait has a bound of its own.
    server = CoreServer(name="test", limits={"floodBurst": 1000, "floodMaxQueued": 10})
    registered(server, "alice")
    work = later(server)
    user = sasl_connection(server)
    user.send(plain("alice", PASSWORD))
    user.send(*[f"PING :{n}" for n in range(MAX_WAITING)])
    assert user.lines() == [] and not user.closed
    user.send("PING :one too many")
    assert "Excess Flood" in user.lines()[-1]
    assert user.closed
    work.finish()  # nothing more happens to a closed connection
    assert server.core.stats.slow_work_running == 0


def test_a_paste_flood_control_would_queue_is_not_a_flood_behind_a_check() -> None:
    # Flood control queues up to 200 here: a hundred lines pasted behind a login wait too.
    server = CoreServer(
        name="test", limits={"floodBurst": 20, "floodRate": 4, "floodMaxQueued": 200}
    )
    registered(server, "alice")
    work = later(server)
    bob = server.user("bob")
    server.tick(30)
    bob.send(f"NS IDENTIFY alice {PASSWORD}", *[f"PING :{n}" for n in range(100)])
    assert not bob.closed
    work.finish()
    for _ in range(30):
        server.tick(1)
    pongs = [line.rsplit(" ", 1)[1] for line in bob.lines() if " PONG " in line]
    assert pongs == [str(n) for n in range(100)]


def test_batch_tagged_lines_behind_a_check_do_not_run_unpaid() -> None:
    # A batch open as they come in, closed by the time they run: they run as
    # commands then, and pay as commands (and after the line held before them).
    server = CoreServer(
        name="test", limits={"floodBurst": 4, "floodRate": 1, "floodMaxQueued": 100}
    )
    registered(server, "alice")
    work = later(server)
    caps = "message-tags batch echo-message draft/multiline"
    bob, carol = server.room(("bob", caps), ("carol", ""), channel="#test")
    server.tick(30)
    bob.send("BATCH +b1 draft/multiline #test", "@batch=b1 PRIVMSG #test :in the batch")
    bob.send("PING :a", "PING :b", "PING :held")  # the bucket is empty: the last one waits
    bob.send(f"NS IDENTIFY alice {PASSWORD}", "PING :after")
    server.tick(2)  # PING :held and IDENTIFY run: the check starts, PING :after waits
    assert bob.client.slow is not None and list(bob.client.delayed or []) == ["PING :after"]
    bob.send("@batch=zz BATCH -b1", *[f"@batch=zz PRIVMSG #test :free {n}" for n in range(30)])
    carol.lines()
    work.finish()
    assert not [line for line in carol.lines() if ":free " in line], "ran with no tokens"
    for _ in range(40):
        server.tick(1)
    assert any(line.endswith(" after") for line in bob.lines() if " PONG " in line)
    assert len([line for line in carol.lines() if ":free " in line]) == 30


def test_a_failing_hash_closes_that_connection_only(server: CoreServer) -> None:
    def broken(work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        done(Failed(RuntimeError("argon2 exploded")))

    server.core.offload = broken
    bob = server.user("bob")
    carol = server.user("carol")
    bob.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    assert "Server error (RuntimeError)" in bob.lines()[-1]
    assert bob.closed
    assert carol.ask("PING :still here")[-1].endswith(":still here")


def test_a_connection_reported_closed_twice_quits_with_the_first_reason(
    server: CoreServer,
) -> None:
    # A WebSocket tells the core when it fails the connection, then again when it closes.
    watcher, bot, work = _bot_in_deploys(server)
    bot.send(f"NS IDENTIFY alice {PASSWORD}")
    server.core.disconnect(bot.client, "WebSocket closed: text frames must be UTF-8")
    server.core.disconnect(bot.client, "Connection closed")
    work.finish()
    assert watcher.lines() == [
        ":bot!~bot@127.0.0.1 QUIT :WebSocket closed: text frames must be UTF-8"
    ]


def test_a_hung_up_client_whose_waiting_line_fails_still_quits(server: CoreServer) -> None:
    watcher, bot, work = _bot_in_deploys(server)

    def broken(core: ChatCore, client: Client, msg: Message) -> None:
        raise RuntimeError("a bug in a command")

    server.core.commands = {**server.core.commands, "BROKEN": Command(broken)}
    bot.send(f"NS IDENTIFY alice {PASSWORD}", "BROKEN", "PRIVMSG #deploys :after")
    server.core.disconnect(bot.client, "Connection reset by peer")
    with pytest.raises(RuntimeError):
        work.finish()
    assert bot.client.closed, "no user without a connection stays on the network"
    assert watcher.lines() == [":bot!~bot@127.0.0.1 QUIT :Connection reset by peer"]
    assert "bot" not in server.core.nicks
