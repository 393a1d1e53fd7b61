"""The failover bookkeeping on its own: the recent window and held acknowledgements."""

from __future__ import annotations

import time
from pathlib import Path

from chatnet_node.config import NodeConfig
from chatnet_node.history.contract import StoredMessage
from chatnet_node.history.sqlite import SqliteHistory
from chatnet_node.irc.acks import AckBook, Held
from chatnet_node.irc.commands.table import COMMANDS
from chatnet_node.irc.core import ChatCore
from chatnet_node.irc.model import Client
from chatnet_node.irc.recent import EXPIRE_EVERY, RecentLog
from tests.corekit import CoreNetwork, CoreServer, RecordingSink


def stored(msgid: str, ts: float) -> StoredMessage:
    return StoredMessage(msgid, ts, "a!b@c", "PRIVMSG", "#r", "hi", {})


def test_a_message_is_new_once() -> None:
    log = RecentLog(window=60, limit=100)
    assert log.add("east", "#r", stored("m1", 1000.0), now=1000.0)
    assert not log.add("west", "#r", stored("m1", 1000.0), now=1000.0)
    assert "m1" in log and len(log) == 1
    entry = log.get("m1")
    assert entry is not None and entry.origin == "east"


def test_the_window_keeps_recent_messages_and_at_most_its_limit() -> None:
    log = RecentLog(window=60, limit=1000)
    log.add("east", "#r", stored("old", 900.0), now=900.0)
    for i in range(EXPIRE_EVERY):
        log.add("east", "#r", stored(f"m{i}", 1000.0), now=1000.0)
    assert "old" not in log, "older than the window: gone at the next look"
    small = RecentLog(window=60, limit=10)
    for i in range(25):
        small.add("east", "#r", stored(f"s{i}", 1000.0), now=1000.0)
    assert len(small) == 10 and "s24" in small and "s14" not in small


def test_a_full_window_drops_its_oldest_message_for_each_new_one() -> None:
    """At its limit (a busy server) the window slides by one, in arrival order."""
    log = RecentLog(window=600, limit=3)
    for i in range(3):
        log.add("east", "#r", stored(f"m{i}", 100.0), now=100.0)
    log.redact("m0")
    assert [r.message.msgid for r in log.since(0.0)] == ["m1", "m2"]
    log.add("east", "#r", stored("m3", 100.0), now=100.0)
    log.add("east", "#r", stored("m4", 100.0), now=100.0)
    assert len(log) == 3 and "m0" not in log and "m1" not in log
    assert [r.message.msgid for r in log.since(0.0)] == ["m2", "m3", "m4"]
    assert log.add("east", "#r", stored("m0", 100.0), now=100.0), "gone, so new again"
    assert log.since(0.0)[-1].message.msgid == "m0", "its redaction left with it"


def test_what_a_peer_lacks_since_a_time() -> None:
    log = RecentLog(window=600, limit=100)
    for i, ts in enumerate((100.0, 200.0, 300.0)):
        log.add("east", "#r", stored(f"m{i}", ts), now=300.0)
    assert [r.message.msgid for r in log.missing(150.0, {"m2"})] == ["m1"]


def test_held_replies_are_released_when_every_message_is_safe() -> None:
    client = Client(sink=RecordingSink(CoreServer().core), address="127.0.0.1", connected_at=0.0)
    book = AckBook(lambda: 0.0)
    held = Held(client, {"m1", "m2"})
    book.hold(held)
    assert len(book) == 2 and sorted(book.waiting_ids()) == ["m1", "m2"]
    assert book.confirm(["m1", "unknown"]) == []
    assert book.confirm(["m2"]) == [held]
    assert len(book) == 0
    book.hold(Held(client, {"m3"}))
    book.forget(client)
    assert book.confirm(["m3"]) == []


def test_a_restarted_server_remembers_the_window_from_its_store(tmp_path: Path) -> None:
    """So that a catch-up after a restart does not send back what it already has."""
    config = NodeConfig.model_validate({"name": "unit"})
    now = time.time()
    first = SqliteHistory(tmp_path / "h.sqlite3")
    first.append("#r", stored("kept", now - 10))
    first.append("#r", stored("too-old", now - 10_000))
    first.close()
    core = ChatCore(config, SqliteHistory(tmp_path / "h.sqlite3"), COMMANDS)
    assert len(core.replication.recent) == 0, (
        "read once the store is open, not while building the core"
    )
    core.replication.remember_recent()
    assert "kept" in core.replication.recent and "too-old" not in core.replication.recent


def test_a_hold_is_overdue_once_after_the_timeout() -> None:
    now = [100.0]
    client = Client(sink=RecordingSink(CoreServer().core), address="127.0.0.1", connected_at=0.0)
    book = AckBook(lambda: now[0])
    first, second = Held(client, {"m1"}), Held(client, {"m2"})
    book.hold(first)
    now[0] = 103.0
    book.hold(second)
    assert book.overdue(5.0) == []
    now[0] = 105.0
    assert book.overdue(5.0) == [first]
    assert book.overdue(5.0) == []  # told once
    now[0] = 110.0
    assert book.confirm(["m2"]) == [second]  # safe before it was overdue: never reported
    assert book.overdue(5.0) == []
    assert book.confirm(["m1"]) == [first]  # still released when it becomes safe


def test_a_cut_off_sender_learns_the_fate_then_gets_the_echo() -> None:
    """A server cut off from every neighbour: FAIL ACK_TIMEOUT after 5 s, the echo on the heal."""
    net = CoreNetwork("a", "b")
    net.link("a", "b")
    caps = "echo-message labeled-response message-tags"
    alice = net.user("a", "alice", caps)
    bob = net.user("b", "bob")
    net.say(alice, "JOIN #room")
    net.say(bob, "JOIN #room")
    alice.lines()
    net.cut("a", "b")
    alice.lines()  # bob's netsplit QUIT
    net.say(alice, "@label=m1 PRIVMSG #room :anyone there?")
    assert alice.lines() == []  # held: not yet on a second server
    net.servers["a"].tick(4)
    assert alice.lines() == []
    net.servers["a"].tick(2)
    (fail,) = alice.lines()
    assert fail.startswith("@label=m1 :a FAIL PRIVMSG ACK_TIMEOUT #room ")
    assert fail.endswith(
        ":Not yet stored on a second server after 5 seconds: it may still be delivered"
    )
    net.servers["a"].tick(10)
    assert alice.lines() == []  # told once
    net.link("a", "b")
    (echo,) = [line for line in alice.lines() if "PRIVMSG #room" in line]
    assert "label=m1" in echo and echo.endswith("PRIVMSG #room :anyone there?")
