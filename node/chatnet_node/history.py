"""Message history in SQLite: what CHATHISTORY reads and failover builds on.

One table of messages keyed by a *target*: a folded channel name, or for a
private conversation ``"dm:" + the two folded nicks in order``. Messages are
ordered by (time, row id). WAL mode keeps writers from blocking readers; with
no path the store lives in memory (tests, throwaway servers).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
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
CREATE INDEX IF NOT EXISTS messages_target_ts ON messages (target, ts, id);
CREATE INDEX IF NOT EXISTS messages_ts ON messages (ts);
"""


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


@dataclass(frozen=True, slots=True)
class Ref:
    """A position in a target's history: a time, refined by row id for msgid refs."""

    ts: float
    row: int  # 0 means "at ts, before any row"; huge means "after every row at ts"


def dm_target(folded_a: str, folded_b: str) -> str:
    """The history key of a private conversation between two folded nicks."""
    first, second = sorted((folded_a, folded_b))
    return f"dm:{first} {second}"


_COLUMNS = "msgid, ts, source, command, display_target, text, tags"
_AFTER = "(ts > ? OR (ts = ? AND id > ?))"
_BEFORE = "(ts < ? OR (ts = ? AND id < ?))"


class HistoryStore:
    """SQLite-backed history with retention by age and by count per target."""

    def __init__(
        self,
        path: Path | None,
        retention_seconds: float = 86400.0,
        max_per_target: int = 10000,
    ) -> None:
        self.retention_seconds = retention_seconds
        self.max_per_target = max_per_target
        target = str(path) if path is not None else ":memory:"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._inserts = 0
        self._since_trim: dict[str, int] = {}
        self._to_trim: set[str] = set()
        self._pending: list[tuple[object, ...]] = []
        self._latest_ts = 0.0

    def close(self) -> None:
        """Commit what is queued and close the database."""
        self.commit()
        self._db.close()

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
        # Trim a target to its count limit now and then, by index, not by a
        # scan of the whole table.
        pending = self._since_trim.get(target, 0) + 1
        if pending >= max(self.max_per_target // 10, 1):
            self._to_trim.add(target)
            pending = 0
        self._since_trim[target] = pending

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

    def _trim(self, target: str) -> None:
        self._db.execute(
            "DELETE FROM messages WHERE target = ? AND id <= (SELECT id FROM messages "
            "WHERE target = ? ORDER BY ts DESC, id DESC LIMIT 1 OFFSET ?)",
            (target, target, self.max_per_target),
        )

    def resolve_msgid(self, target: str, msgid: str) -> Ref | None:
        """The position of ``msgid`` in ``target``'s history, if it is there."""
        self.commit()
        row = self._db.execute(
            "SELECT ts, id FROM messages WHERE target = ? AND msgid = ?", (target, msgid)
        ).fetchone()
        return Ref(float(row[0]), int(row[1])) if row else None

    def latest(self, target: str, after: Ref | None, limit: int) -> list[StoredMessage]:
        """The newest ``limit`` messages, after ``after`` when given, oldest first."""
        if after is None:
            rows = self._query("target = ? ORDER BY ts DESC, id DESC LIMIT ?", (target, limit))
        else:
            rows = self._query(
                f"target = ? AND {_AFTER} ORDER BY ts DESC, id DESC LIMIT ?",
                (target, after.ts, after.ts, after.row, limit),
            )
        return rows[::-1]

    def before(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages just before ``ref``, oldest first."""
        rows = self._query(
            f"target = ? AND {_BEFORE} ORDER BY ts DESC, id DESC LIMIT ?",
            (target, ref.ts, ref.ts, ref.row, limit),
        )
        return rows[::-1]

    def after(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages just after ``ref``, oldest first."""
        return self._query(
            f"target = ? AND {_AFTER} ORDER BY ts ASC, id ASC LIMIT ?",
            (target, ref.ts, ref.ts, ref.row, limit),
        )

    def around(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """About ``limit`` messages centred on ``ref`` (the reference included)."""
        half = max(limit // 2, 1)
        older = self.before(target, Ref(ref.ts, ref.row + 1), half)
        newer = self.after(target, ref, limit - len(older))
        return older + newer

    def between(self, target: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]:
        """Messages strictly between two refs, oldest first; ``limit`` counted from ``start``."""
        if (start.ts, start.row) <= (end.ts, end.row):
            return self._query(
                f"target = ? AND {_AFTER} AND {_BEFORE} ORDER BY ts ASC, id ASC LIMIT ?",
                (target, start.ts, start.ts, start.row, end.ts, end.ts, end.row, limit),
            )
        rows = self._query(
            f"target = ? AND {_BEFORE} AND {_AFTER} ORDER BY ts DESC, id DESC LIMIT ?",
            (target, start.ts, start.ts, start.row, end.ts, end.ts, end.row, limit),
        )
        return rows[::-1]

    def targets(
        self, targets: list[str], start: float, end: float, limit: int
    ) -> list[tuple[str, float]]:
        """Of ``targets``, those with messages between two times, with their latest time."""
        self.commit()
        if not targets:
            return []
        low, high = min(start, end), max(start, end)
        marks = ",".join("?" for _ in targets)
        rows = self._db.execute(
            f"SELECT target, MAX(ts) FROM messages WHERE target IN ({marks}) "
            "AND ts > ? AND ts < ? GROUP BY target ORDER BY MAX(ts) ASC LIMIT ?",
            (*targets, low, high, limit),
        ).fetchall()
        return [(str(t), float(ts)) for t, ts in rows]

    def conversations(self, folded_nick: str) -> list[tuple[str, str]]:
        """Private conversations of a nick: (history key, the other nick, folded)."""
        self.commit()
        rows = self._db.execute(
            "SELECT DISTINCT target FROM messages WHERE target >= 'dm:' AND target < 'dm;'"
        ).fetchall()
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
        self.commit()
        row = self._db.execute("SELECT COUNT(*) FROM messages WHERE target = ?", (target,))
        return int(row.fetchone()[0])

    def _query(self, where: str, args: tuple[object, ...]) -> list[StoredMessage]:
        self.commit()
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM messages WHERE {where}", args)
        return [
            StoredMessage(
                msgid=str(r[0]),
                ts=float(r[1]),
                source=str(r[2]),
                command=str(r[3]),
                target=str(r[4]),
                text=str(r[5]),
                tags=json.loads(r[6]) if r[6] and r[6] != "{}" else {},
            )
            for r in rows.fetchall()
        ]
