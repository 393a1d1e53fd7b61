"""Message history: what CHATHISTORY reads and failover builds on.

Two stores behind one interface (``HistoryBackend``), chosen by the node's
``history.store``:

* ``SqliteHistory`` (the default, also known as ``HistoryStore``): one SQLite
  file per server, WAL mode, nothing to run. A commit keeps a message on this
  server only.
* ``PostgresHistory`` (``history_pg``): one PostgreSQL database shared by
  every server of the network. Writes go through an asynchronous writer
  task; a commit there puts the message where every server reads it.

Both keep one table of messages keyed by a *target*: a folded channel name,
or for a private conversation ``"dm:" + the two folded nicks in order``.

Order. Messages are ordered by ``(ts, len(msgid), msgid)`` in both stores,
never by a row id: a row id is local to one database, so two SQLite servers
would order messages of one millisecond differently, and a client that
moves from one to the other with ``CHATHISTORY AFTER msgid=...`` could skip
one. A msgid is a fixed per-server prefix and a hex counter, so ordering by
length then text is the counter's order (one sender's messages stay in
order within a millisecond); any other msgid still gets one total order that
every server computes alike. ``Ref`` is a position in that order.

Reads are synchronous on purpose: the command core is synchronous (a
command runs to completion within one event-loop turn, which is what keeps
it free of locks), and a CHATHISTORY query is one indexed range scan with a
small LIMIT. Writes are what can be slow, so they are batched per loop turn
(SQLite) or handed to a writer task (PostgreSQL).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config import History as HistoryConfig

log = logging.getLogger("chatnet.history")

#: A ``Ref.width`` after every msgid at its time (no msgid is this long).
AFTER_ALL = 1 << 30


class HistoryUnavailable(Exception):  # noqa: N818 - reads as "history unavailable"
    """A read could not be answered (the database is unreachable)."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message as stored: enough to replay it exactly."""

    msgid: str
    ts: float
    source: str
    command: str
    target: str
    text: str
    tags: dict[str, str]


@dataclass(frozen=True, slots=True, order=True)
class Ref:
    """A position in a target's history: ``(ts, len(msgid), msgid)``.

    Positions compare like the messages they point at. ``Ref.start(ts)`` is
    before every message at ``ts``, ``Ref.end(ts)`` after all of them.
    """

    ts: float
    width: int
    msgid: str = ""

    @classmethod
    def of(cls, ts: float, msgid: str) -> Ref:
        """The position of one message."""
        return cls(ts, len(msgid), msgid)

    @classmethod
    def start(cls, ts: float) -> Ref:
        """Before every message at ``ts``."""
        return cls(ts, 0, "")

    @classmethod
    def end(cls, ts: float) -> Ref:
        """After every message at ``ts``."""
        return cls(ts, AFTER_ALL, "")

    def params(self) -> tuple[float, int, str]:
        """The three values an SQL row comparison takes."""
        return (self.ts, self.width, self.msgid)


def position(message: StoredMessage) -> Ref:
    """Where a message sits in its target's order."""
    return Ref(message.ts, len(message.msgid), message.msgid)


def dm_target(folded_a: str, folded_b: str) -> str:
    """The history key of a private conversation between two folded nicks."""
    first, second = sorted((folded_a, folded_b))
    return f"dm:{first} {second}"


def is_private_key(key: str) -> bool:
    """True for the history key of a private conversation."""
    return key.startswith("dm:")


class HistoryBackend(Protocol):
    """What the core, CHATHISTORY and the node runtime use of a history store.

    ``append`` and ``commit`` run in the command path: they never block on
    the network. Reads are synchronous (see the module docstring) and raise
    ``HistoryUnavailable`` when the store cannot answer.

    The acknowledgement contract: ``durable_elsewhere`` says whether a commit
    puts a message beyond this server (True only for a shared store);
    ``on_durable``, when set, is called on the event-loop thread with the
    msgids of each batch once it is durable in the shared store.
    """

    durable_elsewhere: bool
    on_durable: Callable[[list[str]], None] | None
    retention_seconds: float
    max_per_target: int

    async def start(self) -> None:
        """Get ready (connect, create the schema); never raises for an unreachable store."""
        ...

    def append(self, target: str, message: StoredMessage) -> None:
        """Queue one message for the next ``commit``; duplicate msgids are ignored."""
        ...

    def commit(self) -> None:
        """Store (or hand to the writer) everything appended so far."""
        ...

    async def flushed(self) -> None:
        """Wait until what was committed is durable (bound it with ``asyncio.timeout``)."""
        ...

    async def prune(self, now: float | None = None) -> None:
        """Delete what retention no longer keeps (by age, then by count per target)."""
        ...

    def close(self) -> None:
        """Close without waiting (what is not yet written may be lost)."""
        ...

    async def aclose(self) -> None:
        """Write what is queued (within a bounded time), then close."""
        ...

    def resolve_msgid(self, target: str, msgid: str) -> Ref | None: ...
    def latest(self, target: str, after: Ref | None, limit: int) -> list[StoredMessage]: ...
    def before(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]: ...
    def after(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]: ...
    def around(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]: ...
    def between(self, target: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]: ...
    def targets(
        self, targets: list[str], start: float, end: float, limit: int
    ) -> list[tuple[str, float]]: ...
    def conversations(self, folded_nick: str) -> list[tuple[str, str]]: ...
    def count(self, target: str) -> int: ...
    def recent(self, since: float, limit: int) -> list[tuple[str, StoredMessage]]: ...


# SQL shared by both stores. Placeholders are written '?' (SQLite's style);
# the PostgreSQL store rewrites them to '%s'. Both speak row values, so one
# comparison covers the three-part order.
_COLUMNS = "msgid, ts, source, command, display_target, text, tags"
_ORDER = "(ts, length(msgid), msgid)"
_ASC = "ts ASC, length(msgid) ASC, msgid ASC"
_DESC = "ts DESC, length(msgid) DESC, msgid DESC"
_NOT_PRIVATE = "NOT (target >= 'dm:' AND target < 'dm;')"


class SqlHistory:
    """The queries of CHATHISTORY, written once over a ``_rows`` primitive.

    Subclasses provide ``_rows`` (run one SELECT) and the write path.
    """

    table = "messages"
    durable_elsewhere = False

    def __init__(self, retention_seconds: float, max_per_target: int) -> None:
        self.retention_seconds = retention_seconds
        self.max_per_target = max_per_target
        self.on_durable: Callable[[list[str]], None] | None = None
        self._since_trim: dict[str, int] = {}
        self._to_trim: set[str] = set()

    def _rows(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _count_for_trim(self, target: str) -> None:
        """Count one message appended to ``target``; every tenth of its limit, mark it.

        Marked targets (``_to_trim``) are trimmed to their count limit later
        (SQLite at commit, PostgreSQL in its writer), by index, not by a scan
        of the whole table.
        """
        pending = self._since_trim.get(target, 0) + 1
        if pending >= max(self.max_per_target // 10, 1):
            self._to_trim.add(target)
            pending = 0
        self._since_trim[target] = pending

    def _messages(self, where: str, args: Sequence[object]) -> list[StoredMessage]:
        rows = self._rows(f"SELECT {_COLUMNS} FROM {self.table} WHERE {where}", args)
        return [_message(r) for r in rows]

    def _range(
        self,
        target: str,
        low: Ref | None,
        high: Ref | None,
        *,
        descending: bool,
        limit: int,
        high_inclusive: bool = False,
    ) -> list[StoredMessage]:
        """Messages of ``target`` strictly after ``low`` and before ``high``, in scan order."""
        where = ["target = ?"]
        args: list[object] = [target]
        if low is not None:
            where.append(f"{_ORDER} > (?, ?, ?)")
            args += low.params()
        if high is not None:
            where.append(f"{_ORDER} {'<=' if high_inclusive else '<'} (?, ?, ?)")
            args += high.params()
        order = _DESC if descending else _ASC
        return self._messages(f"{' AND '.join(where)} ORDER BY {order} LIMIT ?", [*args, limit])

    def resolve_msgid(self, target: str, msgid: str) -> Ref | None:
        """The position of ``msgid`` in ``target``'s history, if it is there."""
        rows = self._rows(
            f"SELECT ts FROM {self.table} WHERE target = ? AND msgid = ?", (target, msgid)
        )
        return Ref.of(float(rows[0][0]), msgid) if rows else None

    def latest(self, target: str, after: Ref | None, limit: int) -> list[StoredMessage]:
        """The newest ``limit`` messages, after ``after`` when given, oldest first."""
        return self._range(target, after, None, descending=True, limit=limit)[::-1]

    def before(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages just before ``ref``, oldest first."""
        return self._range(target, None, ref, descending=True, limit=limit)[::-1]

    def after(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages just after ``ref``, oldest first."""
        return self._range(target, ref, None, descending=False, limit=limit)

    def around(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """About ``limit`` messages centred on ``ref`` (the reference included)."""
        half = max((limit + 1) // 2, 1)  # the reference and the older half
        older = self._range(target, None, ref, descending=True, limit=half, high_inclusive=True)[
            ::-1
        ]
        newer = self.after(target, ref, limit - len(older))
        return older + newer

    def between(self, target: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]:
        """Messages strictly between two refs, oldest first; ``limit`` counted from ``start``."""
        if start <= end:
            return self._range(target, start, end, descending=False, limit=limit)
        return self._range(target, end, start, descending=True, limit=limit)[::-1]

    def targets(
        self, targets: list[str], start: float, end: float, limit: int
    ) -> list[tuple[str, float]]:
        """Of ``targets``, those with messages between two times, with their latest time."""
        if not targets:
            return []
        low, high = min(start, end), max(start, end)
        marks = ",".join("?" for _ in targets)
        rows = self._rows(
            f"SELECT target, MAX(ts) FROM {self.table} WHERE target IN ({marks}) "
            "AND ts > ? AND ts < ? GROUP BY target ORDER BY MAX(ts) ASC LIMIT ?",
            (*targets, low, high, limit),
        )
        return [(str(t), float(ts)) for t, ts in rows]

    def conversations(self, folded_nick: str) -> list[tuple[str, str]]:
        """Private conversations of a nick: (history key, the other nick, folded)."""
        rows = self._rows(
            f"SELECT DISTINCT target FROM {self.table} WHERE target >= 'dm:' AND target < 'dm;'",
            (),
        )
        found = []
        for (key,) in rows:
            first, _, second = str(key)[3:].partition(" ")
            if first == folded_nick:
                found.append((str(key), second))
            elif second == folded_nick:
                found.append((str(key), first))
        return found

    def count(self, target: str) -> int:
        """How many messages ``target`` has (for /status and tests)."""
        rows = self._rows(f"SELECT COUNT(*) FROM {self.table} WHERE target = ?", (target,))
        return int(rows[0][0])

    def recent(self, since: float, limit: int) -> list[tuple[str, StoredMessage]]:
        """Channel messages with ``ts >= since``, oldest first, the first ``limit`` of them.

        What a restarted server rebuilds its replication window from; to read
        more, call again with ``since`` at the last time returned (the
        messages at that time come again: deduplicate by msgid).
        """
        rows = self._rows(
            f"SELECT target, {_COLUMNS} FROM {self.table} "
            f"WHERE ts >= ? AND {_NOT_PRIVATE} ORDER BY {_ASC} LIMIT ?",
            (since, limit),
        )
        return [(str(r[0]), _message(r[1:])) for r in rows]


def _message(r: Sequence[Any]) -> StoredMessage:
    tags = r[6]
    if not isinstance(tags, dict):  # SQLite keeps JSON text, PostgreSQL jsonb
        tags = json.loads(tags) if tags and tags != "{}" else {}
    return StoredMessage(
        msgid=str(r[0]),
        ts=float(r[1]),
        source=str(r[2]),
        command=str(r[3]),
        target=str(r[4]),
        text=str(r[5]),
        tags=tags,
    )


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
        super().__init__(retention_seconds, max_per_target)
        target = str(path) if path is not None else ":memory:"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SQLITE_SCHEMA)
        self._inserts = 0
        self._pending: list[tuple[object, ...]] = []
        self._latest_ts = 0.0

    async def start(self) -> None:
        """Nothing to wait for: the file was opened by the constructor."""

    async def flushed(self) -> None:
        """A commit is durable when it returns."""
        self.commit()

    def close(self) -> None:
        """Commit what is queued and close the database."""
        self.commit()
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
        self._count_for_trim(target)

    def commit(self) -> None:
        """Write every queued message in one transaction, then housekeeping."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
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
            for target in self._to_trim:
                self._trim(target)
            self._to_trim.clear()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    async def prune(self, now: float | None = None) -> None:
        """Delete messages older than the retention, and trim every target to its count."""
        self.commit()
        cutoff = (now if now is not None else time.time()) - self.retention_seconds
        self._db.execute("BEGIN")
        try:
            self._db.execute("DELETE FROM messages WHERE ts < ?", (cutoff,))
            for (target,) in self._db.execute("SELECT DISTINCT target FROM messages").fetchall():
                self._trim(str(target))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _trim(self, target: str) -> None:
        self._db.execute(
            f"DELETE FROM messages WHERE target = ? AND {_ORDER} <= (SELECT ts, length(msgid), "
            f"msgid FROM messages WHERE target = ? ORDER BY {_DESC} LIMIT 1 OFFSET ?)",
            (target, target, self.max_per_target),
        )

    def _rows(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        # What this turn appended is readable at once (the core reads in the
        # same turn it writes, e.g. a CHATHISTORY right after a PRIVMSG).
        self.commit()
        return self._db.execute(sql, tuple(args)).fetchall()


#: The name every caller used before there were two stores.
HistoryStore = SqliteHistory


def open_history(config: HistoryConfig) -> HistoryBackend:
    """The store a node's ``history`` configuration asks for.

    Raises:
        ConfigError: for PostgreSQL without a DSN (in the file, a file, or
            ``CHATNET_HISTORY_DSN``).
    """
    if config.store == "postgres":
        from .history_pg import PostgresHistory

        return PostgresHistory(
            config.read_dsn(os.environ),
            retention_seconds=config.retention_seconds,
            max_per_target=config.max_messages_per_target,
        )
    return SqliteHistory(config.path, config.retention_seconds, config.max_messages_per_target)
