"""History in SQLite: one file per server, the default store.

Nothing to run: the file sits on the server's volume (WAL mode, its
checkpoints in a thread: ``checkpoints``), or in memory when there is no
path. A commit keeps a message on this server only (``durable_elsewhere``
is False): the core acknowledges a message once a second server holds it
(see ``replication``), and every channel message is copied to every server
over the links, so the loss of one server and its volume loses nothing
acknowledged.

Retention: messages older than ``retention_seconds`` are deleted as the
store writes (every thousand rows), and a target is trimmed to
``max_per_target`` messages now and then (``TrimMarks``) and on ``prune``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .checkpoints import PAGE_BYTES, RESTART_FRAMES, Checkpointer
from .contract import HistoryStats, Ref, StoredMessage, StoredRecord
from .sql import DESC, ORDER, RECORDS_SCHEMA, SAVE_RECORD, SqlHistory, TrimMarks, record_params

__all__ = ["SqliteHistory"]

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    msgid TEXT NOT NULL UNIQUE,
    ts REAL NOT NULL,
    source TEXT NOT NULL,
    command TEXT NOT NULL,
    display_target TEXT NOT NULL,
    text TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}'
);
-- Files from before the (ts, msgid) order had an index on (target, ts, id).
DROP INDEX IF EXISTS messages_target_ts;
CREATE INDEX IF NOT EXISTS messages_order ON messages (target, ts, length(msgid), msgid);
CREATE INDEX IF NOT EXISTS messages_ts ON messages (ts);
-- The order of arrival here (``arrived_after``): a caught-up message comes late.
CREATE INDEX IF NOT EXISTS messages_arrival ON messages (target, id);
"""


class SqliteHistory(SqlHistory):
    """SQLite-backed history with retention by age and by count per target.

    One file per server (WAL: writers never block readers); with no path the
    store lives in memory (tests, throwaway servers). ``commit`` writes the
    turn's messages in one transaction before any byte of the turn leaves, so
    an acknowledgement never precedes the stored message on this server.
    """

    durable_elsewhere = False

    def __init__(
        self,
        path: Path | None,
        retention_seconds: float = 86400.0,
        max_per_target: int = 10000,
    ) -> None:
        self.retention_seconds = retention_seconds
        self.max_per_target = max_per_target
        #: Never called: a commit here is not durable beyond this server.
        self.on_durable: Callable[[list[str]], None] | None = None
        self._marks = TrimMarks()
        self.stats = HistoryStats("sqlite", ("write", "prune", "record", "checkpoint"))
        target = str(path) if path is not None else ":memory:"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SQLITE_SCHEMA)
        self._db.execute(RECORDS_SCHEMA)
        #: Checkpoints in a thread, not in this connection's commits (``checkpoints``).
        self.checkpoints: Checkpointer | None = None
        if path is not None:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            # A restarted log is cut back to this size; else the file keeps its
            # largest (a catch-up's burst, a prune of a backlog).
            self._db.execute(f"PRAGMA journal_size_limit={RESTART_FRAMES * PAGE_BYTES}")
            stats = self.stats  # not ``self``: a store nobody closed can still go
            self.checkpoints = Checkpointer(path, lambda: stats.error("checkpoint"))
            # ... and its thread with it.
            weakref.finalize(self, self.checkpoints.stop, wait=False)
        self._inserts = 0
        self._pending: list[tuple[object, ...]] = []
        self._latest_ts = 0.0

    @property
    def overloaded(self) -> bool:
        """Never: a commit writes synchronously, so nothing queues up."""
        return False

    async def start(self) -> None:
        """Nothing to wait for: the file was opened by the constructor."""

    async def flushed(self) -> None:
        """A commit is durable when it returns."""
        self.commit()

    def close(self) -> None:
        """Commit what is queued and close the database (and the checkpoints'
        thread, even when that last commit fails)."""
        try:
            self.commit()
        finally:
            if self.checkpoints is not None:
                self.checkpoints.stop()
            self._db.close()

    async def aclose(self) -> None:
        """The same as ``close``: SQLite writes synchronously."""
        self.close()

    def append(self, target: str, message: StoredMessage) -> None:
        """Queue one message for the next ``commit`` (the server commits every loop turn).

        Duplicate msgids are ignored when committed (idempotent replay).
        """
        self._pending.append(
            (
                target,
                message.msgid,
                message.ts,
                message.source,
                message.command,
                message.target,
                message.text,
                json.dumps(message.tags) if message.tags else "{}",
            )
        )
        self._latest_ts = message.ts
        self._marks.count(target, self.max_per_target)

    def commit(self) -> None:
        """Write every queued message in one transaction, then housekeeping.

        A failure (a full disk, a read-only file) loses this turn's messages
        from history, is counted in ``stats`` and raised to the caller.
        """
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        began = time.perf_counter()
        try:
            self._write(rows)
        except BaseException:
            self.stats.error("write")
            raise
        self.stats.writes.observe(time.perf_counter() - began)

    def _write(self, rows: list[tuple[object, ...]]) -> None:
        self._db.execute("BEGIN")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO messages "
                "(target, msgid, ts, source, command, display_target, text, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._inserts += len(rows)
            if self._inserts >= 1000:
                self._inserts = 0
                self._db.execute(
                    "DELETE FROM messages WHERE ts < ?", (self._latest_ts - self.retention_seconds,)
                )
            for target in self._marks.due:
                self._trim(target)
            self._marks.due.clear()
            self._db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk) may leave the transaction open; the
            # next turn's BEGIN would then fail too, for good.
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    def forget(self, target: str, msgid: str) -> None:
        """Delete one message now (after what is queued: it may be among it)."""
        self.commit()
        self._db.execute("DELETE FROM messages WHERE target = ? AND msgid = ?", (target, msgid))

    def save_record(self, kind: str, record: StoredRecord) -> None:
        """Keep one version now (records are rare: registrations and their changes)."""
        try:
            self._db.execute(SAVE_RECORD, record_params(kind, record))
        except sqlite3.Error:
            self.stats.error("record")
            raise

    async def prune(self, now: float | None = None) -> None:
        """Delete messages older than the retention, and trim every target to its count."""
        self.commit()
        cutoff = (now if now is not None else time.time()) - self.retention_seconds
        try:
            self._db.execute("BEGIN")
            try:
                self._db.execute("DELETE FROM messages WHERE ts < ?", (cutoff,))
                for (target,) in self._db.execute(
                    "SELECT DISTINCT target FROM messages"
                ).fetchall():
                    self._trim(str(target))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self.stats.error("prune")
            raise

    def _trim(self, target: str) -> None:
        self._db.execute(
            f"DELETE FROM messages WHERE target = ? AND {ORDER} <= (SELECT ts, length(msgid), "
            f"msgid FROM messages WHERE target = ? ORDER BY {DESC} LIMIT 1 OFFSET ?)",
            (target, target, self.max_per_target),
        )

    def arrived_after(
        self, target: str, msgid: str, before: Ref, limit: int
    ) -> list[StoredMessage]:
        """Messages of ``target`` stored here after ``msgid`` but stamped before ``before``."""
        found = self._messages(
            f"target = ? AND id > (SELECT id FROM messages WHERE target = ? AND msgid = ?) "
            f"AND {ORDER} < (?, ?, ?) ORDER BY id LIMIT ?",
            [target, target, msgid, *before.params(), limit],
        )
        return sorted(found, key=lambda m: (m.ts, len(m.msgid), m.msgid))

    def _rows(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        # What this turn appended is readable at once (the core reads in the
        # same turn it writes, e.g. a CHATHISTORY right after a PRIVMSG).
        self.commit()
        return self._db.execute(sql, tuple(args)).fetchall()
