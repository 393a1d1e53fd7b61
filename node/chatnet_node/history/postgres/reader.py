"""The PostgreSQL reader: CHATHISTORY's queries on a connection of their own.

Reads are synchronous, on their own ``psycopg.Connection``, on the event
loop's thread: the command core is synchronous (see ``history.contract``),
and a CHATHISTORY query is one indexed range scan with a LIMIT of at most
``limits.historyLimit`` rows, well under a millisecond on a healthy
database. Their worst case is bounded: short connect, statement
(``READ_STATEMENT_TIMEOUT_MS``) and TCP timeouts, one retry on a fresh
connection, and after a failed attempt reads fail at once
(``HistoryUnavailable``, which CHATHISTORY answers with ``FAIL ...
MESSAGE_ERROR``) for ``READ_RETRY_SECONDS`` rather than stalling the loop
again.

Rows still on their way to the database (the writer's ``unwritten``) are
merged into every answer, so a client reads its own messages at once, as
with SQLite, and each msgid appears once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from ..contract import (
    HistoryStats,
    HistoryUnavailable,
    Ref,
    StoredMessage,
    StoredRecord,
    is_private_key,
    position,
)
from ..sql import SAVE_RECORD, SqlHistory, record_params
from .database import TABLE

__all__ = ["READ_RETRY_SECONDS", "READ_STATEMENT_TIMEOUT_MS", "PostgresReader"]

log = logging.getLogger("chatnet.history")

#: Reads are short: one that takes longer is cancelled by the server.
READ_STATEMENT_TIMEOUT_MS = 3000
#: After a failed read connection, reads fail at once for this long.
READ_RETRY_SECONDS = 2.0


class PostgresReader(SqlHistory):
    """The read path of ``PostgresHistory``: the shared queries, plus rows not yet written.

    ``unwritten`` is the writer's map of rows not yet in the database, by
    msgid; the reader only reads it. Call ``close`` when the store closes.
    """

    table = TABLE

    def __init__(
        self,
        conninfo: str,
        where: str,
        unwritten: Mapping[str, tuple[str, StoredMessage]],
        stats: HistoryStats,
    ):
        self._conninfo = conninfo
        #: The store's counters: failed reads and record writes are counted here.
        self.stats = stats
        #: The database, for logs (``database.describe``).
        self.where = where
        self._unwritten = unwritten
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._retry_at = 0.0
        #: Each query with its placeholders rewritten for psycopg, by the shared text.
        self._sql: dict[str, str] = {}

    def close(self) -> None:
        """Close the read connection (the next read opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    # The connection.

    def _rows(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        query = self._sql.get(sql)
        if query is None:
            query = self._sql[sql] = sql.replace("?", "%s")
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return conn.execute(query, tuple(args)).fetchall()
            except psycopg.errors.UndefinedTable:
                return []  # read before any server created the table: nothing stored yet
            except psycopg.Error as exc:
                self.close()
                # One retry on a fresh connection: the database may have
                # restarted since this connection was last used.
                if attempt == 2 or not isinstance(exc, psycopg.OperationalError):
                    self._retry_at = time.monotonic() + READ_RETRY_SECONDS
                    self.stats.error("read")
                    log.warning("history: read from PostgreSQL at %s failed: %s", self.where, exc)
                    raise HistoryUnavailable(str(exc)) from exc
        raise AssertionError("unreachable")

    def save_record(self, kind: str, record: StoredRecord) -> None:
        """Keep one version now, on the read connection (records are rare).

        A failure is logged, not raised: the record lives on in every
        server's memory, and the next version or burst writes it again.
        """
        try:
            self._connection().execute(SAVE_RECORD.replace("?", "%s"), record_params(kind, record))
        except (psycopg.Error, HistoryUnavailable) as exc:
            self.close()
            self.stats.error("record")
            log.warning(
                "history: cannot store a %s record in PostgreSQL at %s: %s", kind, self.where, exc
            )

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if time.monotonic() < self._retry_at:
            raise HistoryUnavailable(f"PostgreSQL at {self.where} is unreachable")
        try:
            self._conn = psycopg.Connection.connect(self._conninfo, autocommit=True)
            self._conn.execute(f"SET statement_timeout = {READ_STATEMENT_TIMEOUT_MS}")
        except psycopg.Error as exc:
            self.close()
            self._retry_at = time.monotonic() + READ_RETRY_SECONDS
            self.stats.error("read")
            log.warning("history: cannot reach PostgreSQL at %s to read: %s", self.where, exc)
            raise HistoryUnavailable(str(exc)) from exc
        return self._conn

    # Reads see the rows still on their way to the database too.

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
        rows = super()._range(
            target, low, high, descending=descending, limit=limit, high_inclusive=high_inclusive
        )
        extra = [
            m
            for t, m in self._unwritten.values()
            if t == target
            and (low is None or position(m) > low)
            and (high is None or position(m) < high or (high_inclusive and position(m) == high))
        ]
        return _merge(rows, extra, descending, limit)

    def resolve_msgid(self, target: str, msgid: str) -> Ref | None:
        """The position of ``msgid``, also while it is on its way to the database."""
        waiting = self._unwritten.get(msgid)
        if waiting is not None and waiting[0] == target:
            return position(waiting[1])
        return super().resolve_msgid(target, msgid)

    def find(self, target: str, msgid: str) -> StoredMessage | None:
        """The message, also while it is on its way to the database."""
        waiting = self._unwritten.get(msgid)
        if waiting is not None and waiting[0] == target:
            return waiting[1]
        return super().find(target, msgid)

    def targets(
        self, targets: list[str], start: float, end: float, limit: int
    ) -> list[tuple[str, float]]:
        """As in SQLite, with the latest times of rows not yet written counted in."""
        latest = dict(super().targets(targets, start, end, len(targets)))
        low, high = min(start, end), max(start, end)
        wanted = set(targets)
        for target, message in self._unwritten.values():
            if target in wanted and low < message.ts < high:
                latest[target] = max(latest.get(target, message.ts), message.ts)
        return sorted(latest.items(), key=lambda item: item[1])[:limit]

    def conversations(self, folded_nick: str) -> list[tuple[str, str]]:
        """As in SQLite, including conversations whose first message is not yet written."""
        found = dict(super().conversations(folded_nick))
        for target, _ in self._unwritten.values():
            if is_private_key(target) and target not in found:
                first, _, second = target[3:].partition(" ")
                if folded_nick in (first, second):
                    found[target] = second if first == folded_nick else first
        return list(found.items())

    def recent(self, since: float, limit: int) -> list[tuple[str, StoredMessage]]:
        """As in SQLite, with rows not yet written merged in.

        Called as a server starts: with the database unreachable then, the
        answer is what this process holds (nothing, usually) and a warning,
        not an error, so the server still starts and serves chat.
        """
        try:
            rows = super().recent(since, limit)
        except HistoryUnavailable as exc:
            log.warning("history: recent messages not read from PostgreSQL: %s", exc)
            rows = []
        extra = [(t, m) for t, m in self._unwritten.values() if m.ts >= since]
        if not extra:
            return rows
        merged = {m.msgid: (t, m) for t, m in rows}
        for t, m in extra:
            merged.setdefault(m.msgid, (t, m))
        return sorted(merged.values(), key=lambda item: position(item[1]))[:limit]


def _merge(
    rows: list[StoredMessage], extra: list[StoredMessage], descending: bool, limit: int
) -> list[StoredMessage]:
    """The first ``limit`` of two result sets in scan order, each msgid once."""
    if not extra:
        return rows
    merged = {m.msgid: m for m in rows}
    for m in extra:
        merged.setdefault(m.msgid, m)
    return sorted(merged.values(), key=position, reverse=descending)[:limit]
