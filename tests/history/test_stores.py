"""The history store contract, run against SQLite and a real PostgreSQL alike.

What the core, CHATHISTORY and the acknowledgement code rely on: append and
commit, reads in ``(ts, msgid)`` order, references, deduplication, retention
by age and by count, ``recent`` for the replication window, and
``durable_elsewhere`` / ``on_durable``. Then what only the shared store does:
two servers' stores on one database, an unreachable database, a full queue,
and a database restarted under a running store.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from chatnet_node.config import ConfigError, History, NodeConfig
from chatnet_node.history.contract import (
    HistoryBackend,
    HistoryUnavailable,
    Ref,
    StoredMessage,
    StoredRecord,
    dm_target,
)
from chatnet_node.history.factory import open_history
from chatnet_node.history.postgres import writer as pg_writer
from chatnet_node.history.postgres.store import PostgresHistory
from chatnet_node.history.sqlite import SqliteHistory
from chatnet_node.irc.commands.table import COMMANDS
from chatnet_node.irc.core import ChatCore
from tests.corekit import RecordingSink
from tests.nodeproc import free_port
from tests.pgserver import PgServer
from tests.waiting import eventually

MakeStore = Callable[..., Awaitable[HistoryBackend]]
NOW = time.time()


def msg(msgid: str, ts: float, text: str = "", target: str = "#room") -> StoredMessage:
    return StoredMessage(
        msgid=msgid,
        ts=ts,
        source="alice!a@host",
        command="PRIVMSG",
        target=target,
        text=text or msgid,
        tags={"+draft/reply": "x"} if msgid.endswith("7") else {},
    )


@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    """A factory of started stores of one kind; every one is closed after the test.

    Two stores made in one test share their data (one SQLite file, one
    PostgreSQL database): two servers of a network.
    """
    made: list[HistoryBackend] = []
    dsn = request.getfixturevalue("pg_dsn") if request.param == "postgres" else ""

    async def make(retention: float = 86400.0, max_per_target: int = 10000) -> HistoryBackend:
        store: HistoryBackend
        if request.param == "sqlite":
            store = SqliteHistory(tmp_path / "history.sqlite3", retention, max_per_target)
        else:
            store = PostgresHistory(dsn, retention, max_per_target)
        await store.start()
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


def texts(rows: list[StoredMessage]) -> list[str]:
    return [m.text for m in rows]


async def test_append_commit_and_every_query(make_store: MakeStore) -> None:
    store = await make_store()
    for i in range(10):
        store.append("#room", msg(f"a{i}", NOW + i))
    store.append("#other", msg("o1", NOW + 3))
    store.commit()
    # Readable at once, before the writer (PostgreSQL) has written anything.
    assert texts(store.latest("#room", None, 3)) == ["a7", "a8", "a9"]
    await store.flushed()
    assert texts(store.latest("#room", None, 3)) == ["a7", "a8", "a9"]
    assert store.latest("#room", None, 3)[0].tags == {"+draft/reply": "x"}

    ref = store.resolve_msgid("#room", "a5")
    assert ref == Ref.of(NOW + 5, "a5")
    assert store.resolve_msgid("#other", "a5") is None  # a msgid belongs to its target
    assert store.resolve_msgid("#room", "nope") is None
    assert ref is not None
    assert texts(store.before("#room", ref, 2)) == ["a3", "a4"]
    assert texts(store.after("#room", ref, 2)) == ["a6", "a7"]
    assert texts(store.latest("#room", ref, 10)) == ["a6", "a7", "a8", "a9"]
    assert texts(store.around("#room", ref, 3)) == ["a4", "a5", "a6"]
    start, end = Ref.of(NOW + 2, "a2"), Ref.of(NOW + 6, "a6")
    assert texts(store.between("#room", start, end, 10)) == ["a3", "a4", "a5"]
    assert texts(store.between("#room", end, start, 2)) == ["a4", "a5"]
    # Timestamp references: Ref.start/end sit before/after every message at a time.
    assert texts(store.after("#room", Ref.end(NOW + 7), 10)) == ["a8", "a9"]
    assert texts(store.after("#room", Ref.start(NOW + 7), 1)) == ["a7"]
    assert texts(store.before("#room", Ref.start(NOW + 2), 10)) == ["a0", "a1"]
    assert store.count("#room") == 10
    assert store.count("#nowhere") == 0


async def test_order_within_one_millisecond_is_the_msgid_counter(make_store: MakeStore) -> None:
    """A msgid is a per-server prefix and a hex counter: f comes before 10."""
    store = await make_store()
    ts = NOW
    ids = ["s1e", "s1f", "s110", "s111", "t1"]  # "t1": another server, shorter prefix
    for msgid in reversed(ids):  # stored in the wrong order on purpose
        store.append("#ms", msg(msgid, ts))
    await store.flushed()
    assert texts(store.latest("#ms", None, 10)) == ["t1", "s1e", "s1f", "s110", "s111"]
    ref = store.resolve_msgid("#ms", "s1f")
    assert ref is not None
    assert texts(store.after("#ms", ref, 10)) == ["s110", "s111"]
    assert texts(store.before("#ms", ref, 10)) == ["t1", "s1e"]


async def test_duplicates_are_stored_once_even_from_two_servers(make_store: MakeStore) -> None:
    first = await make_store()
    second = await make_store()
    first.append("#dup", msg("d1", NOW, "one"))
    first.append("#dup", msg("d1", NOW, "one"))
    first.commit()
    second.append("#dup", msg("d1", NOW, "one"))
    second.append("#dup", msg("d2", NOW + 1, "two"))
    await first.flushed()
    await second.flushed()
    for store in (first, second):
        assert texts(store.latest("#dup", None, 10)) == ["one", "two"]
        assert store.count("#dup") == 2


async def test_forget_deletes_one_message_wherever_it_is(make_store: MakeStore) -> None:
    """A redaction: gone from reads at once, and gone for good once written."""
    store = await make_store()
    for i in range(4):
        store.append("#red", msg(f"r{i}", NOW + i))
    store.commit()
    found = store.find("#red", "r1")
    assert found is not None and found.source == "alice!a@host"
    assert store.find("#other", "r1") is None  # a msgid belongs to its target
    store.forget("#red", "r1")  # still on its way to the database (PostgreSQL)
    store.append("#red", msg("r9", NOW + 9))
    store.forget("#red", "r9")  # appended this turn, not yet committed
    assert texts(store.latest("#red", None, 10)) == ["r0", "r2", "r3"]
    await store.flushed()
    store.forget("#red", "r2")  # already written
    store.forget("#red", "never-stored")
    await store.flushed()  # deletes written too
    for reader in (store, await make_store()):  # another server of the network too
        assert texts(reader.latest("#red", None, 10)) == ["r0", "r3"]
        assert reader.find("#red", "r2") is None
        assert reader.resolve_msgid("#red", "r1") is None


async def test_retention_by_age(make_store: MakeStore) -> None:
    # Now, not NOW: a store also prunes by the real clock as it writes, and
    # NOW (taken at import) can be minutes old when this test runs.
    now = time.time()
    store = await make_store(retention=60.0)
    store.append("#age", msg("old1", now - 600))
    store.append("#age", msg("old2", now - 61))
    store.append("#age", msg("new1", now - 10))
    await store.flushed()
    await store.prune(now=now)
    assert texts(store.latest("#age", None, 10)) == ["new1"]


async def test_retention_by_count_per_target(make_store: MakeStore) -> None:
    store = await make_store(max_per_target=5)
    for i in range(12):
        store.append("#count", msg(f"c{i:02d}", NOW + i))
    store.append("#small", msg("s", NOW))
    await store.flushed()
    # PostgreSQL trims in its writer, after the insert.
    await eventually(lambda: store.count("#count") <= 5, 5, "#count trimmed to 5")
    assert texts(store.latest("#count", None, 100)) == [f"c{i:02d}" for i in range(7, 12)]
    assert store.count("#small") == 1


async def test_recent_is_channel_and_private_messages_oldest_first(make_store: MakeStore) -> None:
    store = await make_store()
    store.append("#a", msg("r1", NOW - 100))
    store.append("#a", msg("r2", NOW - 5))
    store.append(dm_target("alice", "bob"), msg("r3", NOW - 4, target="bob"))
    store.append("#b", msg("r4", NOW - 3))
    store.append("#a", msg("r5", NOW - 2))
    store.commit()
    pending = store.recent(NOW - 10, 10)  # rows not yet written count too
    await store.flushed()
    for got in (pending, store.recent(NOW - 10, 10)):
        assert [(key, m.msgid) for key, m in got] == [
            ("#a", "r2"),
            ("dm:alice bob", "r3"),
            ("#b", "r4"),
            ("#a", "r5"),
        ]
    assert [m.msgid for _, m in store.recent(NOW - 10, 2)] == ["r2", "r3"]
    assert [m.msgid for _, m in store.recent(NOW - 3, 10)] == ["r4", "r5"]  # ts >= since


async def test_targets_and_private_conversations(make_store: MakeStore) -> None:
    store = await make_store()
    store.append("#a", msg("t1", NOW - 50))
    store.append("#b", msg("t2", NOW - 20))
    store.append(dm_target("alice", "bob"), msg("t3", NOW - 10, target="bob"))
    store.append(dm_target("carol", "dave"), msg("t4", NOW - 5, target="dave"))
    await store.flushed()
    found = store.targets(["#a", "#b", dm_target("alice", "bob")], NOW - 30, NOW, 10)
    assert found == [("#b", NOW - 20), (dm_target("alice", "bob"), NOW - 10)]
    assert store.conversations("alice") == [(dm_target("alice", "bob"), "bob")]
    assert store.conversations("dave") == [(dm_target("carol", "dave"), "carol")]
    assert store.conversations("zed") == []


async def test_durability_contract(make_store: MakeStore) -> None:
    store = await make_store()
    batches: list[list[str]] = []
    store.on_durable = batches.append
    store.append("#d", msg("k1", NOW))
    store.append("#d", msg("k2", NOW + 1))
    store.commit()
    await store.flushed()
    store.append("#d", msg("k3", NOW + 2))
    await store.flushed()
    if isinstance(store, SqliteHistory):
        assert store.durable_elsewhere is False
        assert batches == []  # a commit keeps the message on this server only
    else:
        assert store.durable_elsewhere is True
        assert [m for batch in batches for m in batch] == ["k1", "k2", "k3"]


def test_sqlite_without_a_path_lives_in_memory() -> None:
    store = SqliteHistory(None)
    store.append("#x", msg("m1", NOW))
    assert texts(store.latest("#x", None, 5)) == ["m1"]
    store.close()


async def test_an_old_sqlite_file_gets_the_new_index(tmp_path: Path) -> None:
    """Files written before the (ts, msgid) order keep working."""

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL,"
            " msgid TEXT NOT NULL UNIQUE, ts REAL NOT NULL, source TEXT NOT NULL,"
            " command TEXT NOT NULL, display_target TEXT NOT NULL, text TEXT NOT NULL,"
            " tags TEXT NOT NULL DEFAULT '{}');"
            "CREATE INDEX messages_target_ts ON messages (target, ts, id);"
            "INSERT INTO messages (target, msgid, ts, source, command, display_target, text)"
            " VALUES ('#old', 'x1', 1.0, 'a', 'PRIVMSG', '#old', 'kept');"
        )
    store = SqliteHistory(path)
    assert texts(store.latest("#old", None, 5)) == ["kept"]
    indexes = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "messages_order" in indexes and "messages_target_ts" not in indexes
    store.close()


# Configuration.


def test_open_history_chooses_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite = open_history(History(path=tmp_path / "h.sqlite3"))
    assert isinstance(sqlite, SqliteHistory)
    sqlite.close()
    monkeypatch.delenv("CHATNET_HISTORY_DSN", raising=False)
    with pytest.raises(ConfigError, match="CHATNET_HISTORY_DSN"):
        open_history(History(store="postgres"))
    monkeypatch.setenv("CHATNET_HISTORY_DSN", "postgresql://u@db.invalid:5432/chat")
    store = open_history(History(store="postgres"))
    assert isinstance(store, PostgresHistory)
    assert store.where == "db.invalid:5432/chat"
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text("postgresql://u:secret@file.invalid/chat\n")
    from_file = open_history(History(store="postgres", dsn_file=dsn_file))
    assert isinstance(from_file, PostgresHistory) and from_file.where.startswith("file.invalid")
    inline = History(store="postgres", dsn="host=inline.invalid dbname=x")
    assert inline.read_dsn({}) == "host=inline.invalid dbname=x"
    with pytest.raises(ConfigError, match="not valid"):
        open_history(History(store="postgres", dsn="host=x nosuchkey=1"))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"store": "sqlite", "dsn": "x"}, "dsn and dsnFile are for store: postgres"),
        ({"store": "postgres", "path": "/tmp/h"}, "path is for store: sqlite"),
        ({"store": "postgres", "dsn": "x", "dsnFile": "/f"}, "not both"),
        ({"store": "mysql"}, "Input should be 'sqlite' or 'postgres'"),
    ],
)
def test_history_configuration_errors(data: dict[str, Any], error: str) -> None:

    with pytest.raises(ValidationError, match=error):
        History.model_validate(data)


# What only the shared store does.


async def test_a_second_server_reads_what_the_first_wrote(pg_dsn: str) -> None:
    """A channel this server never saw: its history is in the shared database."""
    east, west = PostgresHistory(pg_dsn), PostgresHistory(pg_dsn)
    await east.start()
    await west.start()
    try:
        east.append("#east-only", msg("e1", NOW, "from east"))
        await east.flushed()
        assert texts(west.latest("#east-only", None, 10)) == ["from east"]
        assert west.resolve_msgid("#east-only", "e1") == Ref.of(NOW, "e1")
    finally:
        await east.aclose()
        await west.aclose()


async def test_several_servers_create_the_schema_at_once(pg_dsn: str) -> None:
    stores = [PostgresHistory(pg_dsn) for _ in range(6)]
    await asyncio.gather(*(s.start() for s in stores))
    try:
        assert all(s.connected for s in stores)
    finally:
        for store in stores:
            await store.aclose()


async def test_an_unreachable_database_does_not_stop_the_store(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pg_writer, "START_WAIT", 0.3)
    monkeypatch.setattr(pg_writer, "CLOSE_WAIT", 0.2)

    store = PostgresHistory(f"postgresql://nobody@127.0.0.1:{free_port()}/none", max_queued=3)
    started = time.monotonic()
    await store.start()
    assert time.monotonic() - started < 2
    assert not store.connected
    assert "not reachable" in caplog.text
    for i in range(5):
        store.append("#q", msg(f"q{i}", NOW + i))
    store.commit()  # never blocks; two of five do not fit in the queue
    assert store.dropped == 2
    assert "left out of history" in caplog.text
    with pytest.raises(HistoryUnavailable):
        store.latest("#q", None, 10)
    with pytest.raises(HistoryUnavailable):  # at once: no new connection attempt yet
        store.latest("#q", None, 10)
    # /metrics: the writer's failed connections, and one failed read (the second
    # one was not tried).
    assert store.stats.store == "postgres"
    assert store.stats.errors["connect"] >= 1 and store.stats.errors["read"] == 1
    assert store.stats.writes.count == 0
    await store.aclose()
    assert "were not written" in caplog.text


async def test_a_database_restart_under_a_running_store(pg_server: PgServer, pg_dsn: str) -> None:
    store = PostgresHistory(pg_dsn)
    durable: list[str] = []
    store.on_durable = durable.extend
    await store.start()
    try:
        store.append("#r", msg("before", NOW))
        await store.flushed()
        pg_server.stop("immediate")
        store.append("#r", msg("during", NOW + 1))
        store.commit()
        await asyncio.sleep(0.3)  # the writer fails and starts retrying
        assert "during" not in durable
        pg_server.start()
        store.append("#r", msg("after", NOW + 2))
        async with asyncio.timeout(15):
            await store.flushed()
        assert durable == ["before", "during", "after"]  # kept in order across the outage
        # /metrics: the outage is counted (the batch or the reconnection failed),
        # and every batch written is timed.
        assert store.stats.errors["write"] + store.stats.errors["connect"] >= 1
        assert 2 <= store.stats.writes.count <= 3

        def readable() -> list[StoredMessage] | None:  # reads reconnect on their own
            try:
                return store.latest("#r", None, 10)
            except HistoryUnavailable:
                return None

        rows = await eventually(readable, 5, "reads back after the outage", poll=0.1)
        assert texts(rows) == ["before", "during", "after"]
    finally:
        await store.aclose()


async def test_rows_the_database_refuses_do_not_block_the_rest(
    pg_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresHistory(pg_dsn)
    await store.start()
    try:
        store.append("#n", msg("n1", NOW, "with \x00 nul"))  # stored, NUL replaced
        store.append("#n", msg("n2", NOW + 1, "lone \udc80 surrogate"))  # cannot be encoded
        store.append("#n", msg("n3", NOW + 2))
        async with asyncio.timeout(5):
            await store.flushed()
        assert [m.msgid for m in store.latest("#n", None, 10)] == ["n1", "n3"]
        assert store.latest("#n", None, 1)[0].text == "n3"
        assert "n2 cannot be stored" in caplog.text
    finally:
        await store.aclose()


async def test_schema_uses_byte_order_whatever_the_locale(pg_dsn: str) -> None:
    store = PostgresHistory(pg_dsn)
    await store.start()
    await store.aclose()
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT column_name, collation_name FROM information_schema.columns "
            "WHERE table_name = 'chatnet_messages' AND column_name IN ('msgid', 'target')"
        ).fetchall()
    assert sorted(rows) == [("msgid", "C"), ("target", "C")]


async def test_records_are_kept_and_only_newer_versions_replace_them(
    make_store: MakeStore,
) -> None:
    store = await make_store()
    first = StoredRecord(name="alice", created=1.0, origin="a", updated=1.0, by="a", data='{"v":1}')
    newer = StoredRecord(name="alice", created=1.0, origin="a", updated=2.0, by="b", data='{"v":2}')
    other = StoredRecord(name="alice", created=5.0, origin="b", updated=5.0, by="b", data='{"v":3}')
    store.save_record("account", first)
    store.save_record("account", newer)
    store.save_record("account", first)  # older: ignored, whatever order servers write in
    store.save_record("account", other)  # another registration of the name: kept beside
    store.save_record("channel", first)
    assert sorted(store.load_records()) == [
        ("account", '{"v":2}'),
        ("account", '{"v":3}'),
        ("channel", '{"v":1}'),
    ]


async def test_a_full_write_queue_refuses_messages_instead_of_losing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL unreachable, its queue full: senders get FAIL, nothing accepted is dropped."""
    monkeypatch.setattr(pg_writer, "START_WAIT", 0.3)
    monkeypatch.setattr(pg_writer, "CLOSE_WAIT", 0.2)
    store = PostgresHistory(f"postgresql://nobody@127.0.0.1:{free_port()}/none", max_queued=3)
    await store.start()
    core = ChatCore(NodeConfig.model_validate({"name": "test"}), store, COMMANDS)
    sink = RecordingSink(core)
    client = core.connect(sink, "127.0.0.1")
    assert client is not None
    for line in ("NICK alice", "USER alice 0 * :A", "JOIN #q"):
        core.receive_line(client, line.encode())
    core.flush()
    sink.lines()
    for i in range(5):
        core.receive_line(client, f"PRIVMSG #q :message {i}".encode())
        core.flush()
    refused = [line for line in sink.lines() if "FAIL" in line]
    assert (
        refused
        == [
            ":test FAIL PRIVMSG TEMPORARILY_UNAVAILABLE #q :History is overloaded (its database "
            "is slow or unreachable): message not sent, try again shortly"
        ]
        * 2
    )
    assert store.dropped == 0 and store.queued == 3
    await store.aclose()
