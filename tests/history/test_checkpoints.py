"""The SQLite history's WAL checkpoints run in their own thread (``history.checkpoints``).

On a real file: the node's connection never checkpoints (a checkpoint syncs
the disk, and the event loop would wait on it), the thread moves the log into
the database, a steady stream of commits does not grow the log without
bound, and closing the store stops the thread with nothing lost.
"""

from __future__ import annotations

import time
from pathlib import Path

from chatnet_node.history.checkpoints import Checkpointer
from chatnet_node.history.contract import StoredMessage
from chatnet_node.history.sqlite import SqliteHistory
from tests.waiting import wait_until

PAGE = 4096


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
    assert wal.stat().st_size > 1000 * PAGE
    # Nothing reached the database file (its schema's pages only): SQLite's own
    # checkpoint in the committing connection would have copied it at 1000 pages.
    assert path.stat().st_size < 16 * PAGE, path.stat().st_size

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
    assert wal.stat().st_size < 4000 * PAGE, wal.stat().st_size
    store.close()
    reopened = SqliteHistory(path)
    assert len(reopened.latest("#room", None, 10_000)) == n
    reopened.close()
