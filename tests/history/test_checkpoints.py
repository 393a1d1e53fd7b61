"""The SQLite history's WAL checkpoints run in their own thread (``history.checkpoints``).

On a real file: the node's connection never checkpoints (a checkpoint syncs
the disk, and the event loop would wait on it), the thread moves the log into
the database, a steady stream of commits does not grow the log without
bound, and closing the store stops the thread with nothing lost.
"""

from __future__ import annotations

import gc
import sqlite3
import time
from pathlib import Path

import pytest

from chatnet_node.history.checkpoints import PAGE_BYTES, RESTART_FRAMES, Checkpointer
from chatnet_node.history.contract import StoredMessage
from chatnet_node.history.sqlite import SqliteHistory
from tests.waiting import wait_until


def message(n: int) -> StoredMessage:
    return StoredMessage(
        msgid=f"m{n}",
        ts=time.time(),
        source="alice!a@host",
        command="PRIVMSG",
        target="#room",
        text=f"line {n} " + "x" * 300,
        tags={},
    )


def commit_turns(store: SqliteHistory, first: int, turns: int, between: float = 0.0) -> None:
    """A message a turn; ``between``: the rest of a turn's work (the node's loop
    does more than commit, and the checkpoint thread runs meanwhile)."""
    for n in range(first, first + turns):
        store.append("#room", message(n))
        store.commit()
        if between:
            time.sleep(between)


def test_the_node_connection_never_checkpoints_and_the_thread_does(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    store = SqliteHistory(path)
    assert store.checkpoints is not None
    store.checkpoints.stop()  # the thread stopped: only the node's commits now
    commit_turns(store, 0, 600)  # a few pages a commit: well past SQLite's 1000 pages
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 1000 * PAGE_BYTES
    # Nothing reached the database file (its schema's pages only): SQLite's own
    # checkpoint in the committing connection would have copied it at 1000 pages.
    assert path.stat().st_size < 16 * PAGE_BYTES, path.stat().st_size

    store.checkpoints = Checkpointer(path, interval=0.05)
    # The thread copies it: 600 messages of 300-odd bytes, and their indexes.
    wait_until(lambda: path.stat().st_size > 600 * 300, timeout=10, what="a checkpoint")
    store.close()
    assert not store.checkpoints._thread.is_alive()
    reopened = SqliteHistory(path)
    assert len(reopened.latest("#room", None, 1000)) == 600
    reopened.close()


def test_a_steady_stream_of_commits_does_not_grow_the_log_without_bound(tmp_path: Path) -> None:
    """A passive checkpoint cannot restart the log while commits keep coming:
    past ``restart_frames`` the thread restarts it, so the WAL file stays small."""
    path = tmp_path / "history.sqlite3"
    store = SqliteHistory(path)
    assert store.checkpoints is not None
    store.checkpoints.stop()
    store.checkpoints = Checkpointer(path, interval=0.01, restart_frames=200)
    deadline = time.monotonic() + 20
    n = 0
    while store.checkpoints.restarts < 3 and time.monotonic() < deadline:
        commit_turns(store, n, 50, between=0.001)
        n += 50
    assert store.checkpoints.restarts >= 3, "the log was never restarted"
    commit_turns(store, n, 2000, between=0.001)  # about 8,000 pages more
    n += 2000
    wal = path.with_name(path.name + "-wal")
    # Without restarts the log would hold every page since the start (30 MB and more).
    assert wal.stat().st_size < 4000 * PAGE_BYTES, wal.stat().st_size
    store.close()
    reopened = SqliteHistory(path)
    assert len(reopened.latest("#room", None, 10_000)) == n
    reopened.close()


def test_a_reader_holding_a_snapshot_does_not_stall_the_node_commits(tmp_path: Path) -> None:
    """An open read transaction on the file (``sqlite3`` in a shell, a backup)
    keeps the log from restarting; the thread must not hold the writer back
    meanwhile, or every commit of the event loop waits."""
    path = tmp_path / "history.sqlite3"
    store = SqliteHistory(path)
    assert store.checkpoints is not None
    store.checkpoints.stop()
    store.checkpoints = Checkpointer(path, interval=0.05, restart_frames=50)
    commit_turns(store, 0, 100, between=0.002)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM messages").fetchone()  # holds its snapshot
    restarts = store.checkpoints.restarts
    longest = 0.0
    for n in range(100, 300):
        store.append("#room", message(n))
        began = time.perf_counter()
        store.commit()
        longest = max(longest, time.perf_counter() - began)
        time.sleep(0.002)
    reader.execute("COMMIT")
    reader.close()
    assert store.checkpoints.restarts == restarts, "a restart the reader prevented was counted"
    store.close()
    # Waiting on the thread cost up to a second a commit before.
    assert longest < 0.2, f"a commit waited {longest * 1e3:.0f} ms on the checkpoint thread"


def test_a_burst_does_not_leave_the_log_file_large(tmp_path: Path) -> None:
    """One large commit (a catch-up's burst, a prune of a backlog) grows the WAL
    file; once the log restarts, the file is cut back to the store's limit."""
    path = tmp_path / "history.sqlite3"
    store = SqliteHistory(path)
    assert store.checkpoints is not None
    limit = store._db.execute("PRAGMA journal_size_limit").fetchone()[0]
    assert limit == RESTART_FRAMES * PAGE_BYTES  # about 32 MiB
    store._db.execute(f"PRAGMA journal_size_limit={50 * PAGE_BYTES}")  # small, for the test
    store.checkpoints.stop()
    store.checkpoints = Checkpointer(path, interval=0.02, restart_frames=50)
    for n in range(3000):  # one turn of 3,000 messages: some 340 pages
        store.append("#room", message(n))
    store.commit()
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 300 * PAGE_BYTES
    commit_turns(store, 3000, 200, between=0.005)  # the log restarts meanwhile
    assert store.checkpoints.restarts >= 1
    # Cut back at a restart, then grown to about restart_frames again at most.
    assert wal.stat().st_size <= 150 * PAGE_BYTES, wal.stat().st_size
    store.close()


def test_the_thread_stops_when_the_last_commit_fails_or_nobody_closes(tmp_path: Path) -> None:
    store = SqliteHistory(tmp_path / "history.sqlite3")
    checkpoints = store.checkpoints
    assert checkpoints is not None
    store.append("#room", message(0))
    store._db.execute("BEGIN")  # the last commit fails: its BEGIN is refused
    with pytest.raises(sqlite3.OperationalError):
        store.close()
    assert not checkpoints.running, "the checkpoint thread outlived close()"

    forgotten = SqliteHistory(tmp_path / "other.sqlite3")
    checkpoints = forgotten.checkpoints
    assert checkpoints is not None and checkpoints.running
    del forgotten  # never closed: the thread must not keep it (and itself) alive
    gc.collect()
    wait_until(lambda: not checkpoints.running, timeout=5, what="the thread gone")
