"""History in PostgreSQL: one store shared by every server of a network.

With ``history.store: postgres`` every server writes the messages it sees
into one table and answers CHATHISTORY from it, so every server gives the
same answer for any channel, even one nobody on it ever joined, and a
message outlives the server that took it. A commit here is what lets the
core acknowledge a message without a second chat server (``on_durable``).

Writes never block the event loop. ``append`` queues a row, ``commit`` (once
per loop turn, from the core) hands the turn's rows to a writer task, and
the writer inserts each batch with an ``AsyncConnection`` in one transaction
(``executemany``, pipelined by psycopg), ``ON CONFLICT (msgid) DO NOTHING``:
every server of the network may insert the same message, and a batch that
is retried after a lost connection inserts nothing twice. When the database
goes away, rows wait in order at the head of a bounded queue while the
writer reconnects with backoff; beyond the bound, new rows are left out of
history (never acknowledged by this store) and the log says how many.

Reads are synchronous, on their own ``psycopg.Connection``, on the event
loop's thread: the command core is synchronous, and a CHATHISTORY query is
one indexed range scan with a LIMIT of at most ``limits.historyLimit`` rows,
well under a millisecond on a healthy database. Their worst case is bounded:
short connect, statement and TCP timeouts, and after a failed attempt reads
fail at once (``HistoryUnavailable``, which CHATHISTORY answers with
``FAIL ... MESSAGE_ERROR``) for a couple of seconds rather than stalling the
loop again. Rows still on their way to the database are merged into every
answer, so a client reads its own messages at once, as with SQLite.

Order is ``(ts, length(msgid), msgid)`` (see ``history.contract``): the database
holds no order of its own that all servers agree on, since each server
inserts whenever its writer gets to it. ``msgid`` and ``target`` use the "C"
collation so that text compares byte by byte, as in Python and SQLite,
whatever the database's locale.

Retention: each server deletes by age (one ``DELETE ... WHERE ts < cutoff``
on the ``ts`` index, every minute or so with jitter, so a network's servers
do not all prune at once) and trims a target to its count now and then.
Concurrent prunes from several servers delete the same rows at worst; a
lock timeout keeps one from stalling the writer, and a failed prune is
simply tried again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

from ...config import ConfigError
from ..contract import (
    HistoryUnavailable,
    Ref,
    StoredMessage,
    is_private_key,
    position,
)
from ..sql import SqlHistory, TrimMarks

log = logging.getLogger("chatnet.history")

TABLE = "chatnet_messages"
_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        msgid TEXT COLLATE "C" PRIMARY KEY,
        target TEXT COLLATE "C" NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        source TEXT NOT NULL,
        command TEXT NOT NULL,
        display_target TEXT NOT NULL,
        text TEXT NOT NULL,
        tags JSONB NOT NULL DEFAULT '{{}}'
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_order ON {TABLE} (target, ts, length(msgid), msgid)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE} (ts)",
)
#: Servers starting together serialise their CREATE ... IF NOT EXISTS on
#: this advisory lock: concurrent ones can otherwise fail on the catalog.
_SCHEMA_LOCK = 0x63686174
_INSERT = (
    f"INSERT INTO {TABLE} (msgid, target, ts, source, command, display_target, text, tags) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (msgid) DO NOTHING"
)
_TRIM = (
    f"DELETE FROM {TABLE} WHERE target = %s AND (ts, length(msgid), msgid) <= "
    f"(SELECT ts, length(msgid), msgid FROM {TABLE} WHERE target = %s "
    "ORDER BY ts DESC, length(msgid) DESC, msgid DESC LIMIT 1 OFFSET %s)"
)

#: Connection settings used unless the DSN sets them: fail fast on a dead
#: network path instead of waiting for the kernel's TCP timeouts.
_CONNECTION_DEFAULTS = {
    "application_name": "chatnet-node",
    "connect_timeout": "3",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}
#: Reads are short: one that takes longer is cancelled by the server.
READ_STATEMENT_TIMEOUT_MS = 3000
#: After a failed read connection, reads fail at once for this long.
READ_RETRY_SECONDS = 2.0
#: Rows per insert transaction.
BATCH_ROWS = 2000
#: Rows waiting for the database before new ones are left out of history.
MAX_QUEUED = 100_000
#: Seconds between prunes by age (each server, with jitter).
PRUNE_SECONDS = 60.0
#: How long ``start`` waits for the database before serving without it.
START_WAIT = 3.0
#: How long ``aclose`` waits for queued rows to be written.
CLOSE_WAIT = 2.0
#: The writer's reconnection delays (seconds), the last one repeated.
BACKOFF = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
#: While the database stays unreachable, remind the log this often.
REMIND_SECONDS = 30.0


def describe(dsn: str) -> str:
    """Where a DSN points, without its password: ``host:port/dbname``."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "(unparsable DSN)"
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or '(default)'}"


def _with_defaults(dsn: str) -> str:
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise ConfigError(f"history: the PostgreSQL DSN is not valid: {exc}") from exc
    for key, value in _CONNECTION_DEFAULTS.items():
        params.setdefault(key, value)
    return make_conninfo("", **params)


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; IRC lines should not carry one either.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class PostgresHistory(SqlHistory):
    """History in a PostgreSQL database shared by the network's servers."""

    table = TABLE
    durable_elsewhere = True

    def __init__(
        self,
        dsn: str,
        retention_seconds: float = 86400.0,
        max_per_target: int = 10000,
        *,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.retention_seconds = retention_seconds
        self.max_per_target = max_per_target
        self.on_durable: Callable[[list[str]], None] | None = None
        self._marks = TrimMarks()
        self._conninfo = _with_defaults(dsn)  # raises ConfigError for a malformed DSN
        self.where = describe(dsn)
        self.max_queued = max_queued
        #: Rows appended this turn, not yet handed to the writer.
        self._pending: list[tuple[str, StoredMessage]] = []
        #: Rows handed to the writer, oldest first; a batch leaves only once committed.
        self._queue: deque[tuple[str, StoredMessage]] = deque()
        #: Every row not yet known to be in the database, by msgid (merged into reads).
        self._unconfirmed: dict[str, tuple[str, StoredMessage]] = {}
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reader: psycopg.Connection[tuple[Any, ...]] | None = None
        self._reader_retry_at = 0.0
        self._next_prune = 0.0
        self._sql: dict[str, str] = {}
        #: True while the writer holds a working connection (for /status and tests).
        self.connected = False
        #: Messages left out of history because the queue was full.
        self.dropped = 0
        self._overflowing = False

    @property
    def queued(self) -> int:
        """Messages handed over but not yet in the database (a metric: it grows in an outage)."""
        return len(self._queue) + len(self._pending)

    # Life cycle.

    async def start(self) -> None:
        """Start the writer and give it a few seconds to reach the database.

        An unreachable database does not stop the node: chat goes on, the
        error is logged, and the writer keeps trying (messages queue up to
        ``max_queued``). A shared store is one dependency of many servers;
        failing them all while it restarts would turn a history outage into
        a chat outage.
        """
        if self._task is None:
            self._task = asyncio.create_task(self._write_loop(), name="history-writer")
        try:
            async with asyncio.timeout(START_WAIT):
                await self._ready.wait()
        except TimeoutError:
            log.error(
                "history: PostgreSQL at %s is not reachable; serving chat without history "
                "until it is (retrying in the background)",
                self.where,
            )

    async def flushed(self) -> None:
        """Wait until everything committed so far is in the database."""
        self.commit()
        while self._queue:
            await self._drained.wait()

    def close(self) -> None:
        """Stop the writer at once; what it had not written is lost (logged)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._lost_on_close()
        self._close_reader()

    async def aclose(self) -> None:
        """Write what is queued (for up to ``CLOSE_WAIT`` seconds), then close."""
        self.commit()
        task, self._task = self._task, None
        if task is not None:
            if self._queue and not task.done():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CLOSE_WAIT):
                        await self.flushed()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._lost_on_close()
        self._close_reader()

    def _lost_on_close(self) -> None:
        if self._queue or self._pending:
            log.error(
                "history: %d messages were not written to PostgreSQL at %s before closing",
                len(self._queue) + len(self._pending),
                self.where,
            )

    # The write path.

    def append(self, target: str, message: StoredMessage) -> None:
        """Queue one message for the next ``commit``."""
        self._pending.append((target, message))
        self._unconfirmed[message.msgid] = (target, message)
        self._marks.count(target, self.max_per_target)

    def commit(self) -> None:
        """Hand this turn's rows to the writer (never blocks)."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        room = self.max_queued - len(self._queue)
        if len(rows) > room:
            kept, left_out = rows[: max(room, 0)], rows[max(room, 0) :]
            for _, message in left_out:
                self._unconfirmed.pop(message.msgid, None)
            self.dropped += len(left_out)
            if not self._overflowing:
                self._overflowing = True
                log.error(
                    "history: %d messages wait for PostgreSQL at %s (connected: %s); "
                    "new messages are left out of history until the writer catches up",
                    len(self._queue),
                    self.where,
                    self.connected,
                )
            rows = kept
        if rows:
            self._queue.extend(rows)
            self._drained.clear()
            self._wake.set()

    async def _write_loop(self) -> None:
        attempt = 0
        failing_since: float | None = None
        last_remind = 0.0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            except psycopg.Error as exc:
                now = time.monotonic()
                if failing_since is None:
                    failing_since = last_remind = now
                    log.error("history: cannot reach PostgreSQL at %s: %s", self.where, exc)
                elif now - last_remind >= REMIND_SECONDS:
                    last_remind = now
                    log.warning(
                        "history: PostgreSQL at %s unreachable for %.0fs, %d messages queued: %s",
                        self.where,
                        now - failing_since,
                        len(self._queue),
                        exc,
                    )
                await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                attempt += 1
                continue
            try:
                async with conn:
                    await self._ensure_schema(conn)
                    if failing_since is not None:
                        log.info(
                            "history: PostgreSQL at %s is back after %.1fs; %d messages queued",
                            self.where,
                            time.monotonic() - failing_since,
                            len(self._queue),
                        )
                    else:
                        log.info("history: connected to PostgreSQL at %s", self.where)
                    attempt, failing_since = 0, None
                    self.connected = True
                    self._ready.set()
                    await self._serve(conn)
            except psycopg.Error as exc:
                log.error(
                    "history: lost PostgreSQL at %s (%s); %d messages queued, reconnecting",
                    self.where,
                    exc,
                    len(self._queue),
                )
                failing_since = last_remind = time.monotonic()
            except Exception:  # a bug here must not end history for good
                log.exception("history: the PostgreSQL writer failed; restarting it")
                failing_since = last_remind = time.monotonic()
            finally:
                self.connected = False
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1

    async def _ensure_schema(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                await conn.execute(statement)

    async def _serve(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        """Write batches as they come and prune now and then, until the connection fails."""
        while True:
            if not self._queue:
                self._wake.clear()
                wait = max(0.0, self._next_prune - time.time())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait if not self._marks.due else 0.0):
                        await self._wake.wait()
            if self._queue:
                batch = [self._queue[i] for i in range(min(BATCH_ROWS, len(self._queue)))]
                stored = await self._insert(conn, batch)
                for _ in batch:
                    self._queue.popleft()
                self._confirmed(batch, stored)
            if not self._queue:
                self._drained.set()
                if self._overflowing:
                    self._overflowing = False
                    log.warning(
                        "history: the PostgreSQL writer caught up; %d messages in all were "
                        "left out of history",
                        self.dropped,
                    )
            await self._housekeeping(conn)

    async def _insert(
        self,
        conn: psycopg.AsyncConnection[tuple[Any, ...]],
        batch: list[tuple[str, StoredMessage]],
    ) -> set[str]:
        """Insert a batch in one transaction; the msgids now in the database.

        A row the database refuses (bad data) must not stop every later one:
        then the batch goes row by row and refused rows are left out.
        """
        try:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(_INSERT, [_params(t, m) for t, m in batch])
            return {m.msgid for _, m in batch}
        except (psycopg.DataError, ValueError):  # ValueError: text psycopg cannot encode
            if conn.broken:
                raise
        stored: set[str] = set()
        for target, message in batch:
            try:
                async with conn.transaction():
                    await conn.execute(_INSERT, _params(target, message))
                stored.add(message.msgid)
            except (psycopg.DataError, ValueError) as exc:
                if conn.broken:
                    raise
                log.error("history: message %s cannot be stored: %s", message.msgid, exc)
        return stored

    def _confirmed(self, batch: list[tuple[str, StoredMessage]], stored: set[str]) -> None:
        for _, message in batch:
            self._unconfirmed.pop(message.msgid, None)
        callback = self.on_durable
        if callback is not None and stored:
            try:
                callback([m.msgid for _, m in batch if m.msgid in stored])
            except Exception:  # the writer must outlive a bug in its listener
                log.exception("history: on_durable failed")

    async def _housekeeping(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        now = time.time()
        by_age = now >= self._next_prune
        if not by_age and not self._marks.due:
            return
        targets = self._marks.take()
        if by_age:
            # Jitter: a network's servers spread their prunes instead of
            # running the same DELETE at the same moment.
            self._next_prune = now + PRUNE_SECONDS * random.uniform(0.5, 1.5)
        try:
            await self._prune_on(conn, now if by_age else None, targets)
        except psycopg.Error as exc:
            if conn.broken:
                raise
            # Another server pruning the same rows (lock timeout, deadlock):
            # what it did not delete is deleted next time.
            log.debug("history: prune skipped: %s", exc)

    async def _prune_on(
        self,
        conn: psycopg.AsyncConnection[tuple[Any, ...]],
        now: float | None,
        targets: set[str],
    ) -> None:
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '2s'")
            if now is not None:
                await conn.execute(
                    f"DELETE FROM {TABLE} WHERE ts < %s", (now - self.retention_seconds,)
                )
            for target in sorted(targets):
                await conn.execute(_TRIM, (target, target, self.max_per_target))

    async def prune(self, now: float | None = None) -> None:
        """Delete messages older than the retention and trim every target to its count."""
        await self.flushed()
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            cur = await conn.execute(f"SELECT DISTINCT target FROM {TABLE}")
            targets = {str(row[0]) for row in await cur.fetchall()}
            await self._prune_on(conn, now if now is not None else time.time(), targets)

    # The read path.

    def _rows(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        query = self._sql.get(sql)
        if query is None:
            query = self._sql[sql] = sql.replace("?", "%s")
        for attempt in (1, 2):
            conn = self._read_connection()
            try:
                return conn.execute(query, tuple(args)).fetchall()
            except psycopg.errors.UndefinedTable:
                return []  # read before any server created the table: nothing stored yet
            except psycopg.Error as exc:
                self._close_reader()
                # One retry on a fresh connection: the database may have
                # restarted since this connection was last used.
                if attempt == 2 or not isinstance(exc, psycopg.OperationalError):
                    self._reader_retry_at = time.monotonic() + READ_RETRY_SECONDS
                    log.warning("history: read from PostgreSQL at %s failed: %s", self.where, exc)
                    raise HistoryUnavailable(str(exc)) from exc
        raise AssertionError("unreachable")

    def _read_connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._reader is not None and not self._reader.closed:
            return self._reader
        if time.monotonic() < self._reader_retry_at:
            raise HistoryUnavailable(f"PostgreSQL at {self.where} is unreachable")
        try:
            self._reader = psycopg.Connection.connect(self._conninfo, autocommit=True)
            self._reader.execute(f"SET statement_timeout = {READ_STATEMENT_TIMEOUT_MS}")
        except psycopg.Error as exc:
            self._close_reader()
            self._reader_retry_at = time.monotonic() + READ_RETRY_SECONDS
            log.warning("history: cannot reach PostgreSQL at %s to read: %s", self.where, exc)
            raise HistoryUnavailable(str(exc)) from exc
        return self._reader

    def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            with contextlib.suppress(psycopg.Error):
                reader.close()

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
            for t, m in self._unconfirmed.values()
            if t == target
            and (low is None or position(m) > low)
            and (high is None or position(m) < high or (high_inclusive and position(m) == high))
        ]
        return _merge(rows, extra, descending, limit)

    def resolve_msgid(self, target: str, msgid: str) -> Ref | None:
        """The position of ``msgid``, also while it is on its way to the database."""
        waiting = self._unconfirmed.get(msgid)
        if waiting is not None and waiting[0] == target:
            return position(waiting[1])
        return super().resolve_msgid(target, msgid)

    def targets(
        self, targets: list[str], start: float, end: float, limit: int
    ) -> list[tuple[str, float]]:
        """As in SQLite, with the latest times of rows not yet written counted in."""
        latest = dict(super().targets(targets, start, end, len(targets)))
        low, high = min(start, end), max(start, end)
        wanted = set(targets)
        for target, message in self._unconfirmed.values():
            if target in wanted and low < message.ts < high:
                latest[target] = max(latest.get(target, message.ts), message.ts)
        return sorted(latest.items(), key=lambda item: item[1])[:limit]

    def conversations(self, folded_nick: str) -> list[tuple[str, str]]:
        """As in SQLite, including conversations whose first message is not yet written."""
        found = dict(super().conversations(folded_nick))
        for target, _ in self._unconfirmed.values():
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
        extra = [
            (t, m) for t, m in self._unconfirmed.values() if m.ts >= since and not is_private_key(t)
        ]
        if not extra:
            return rows
        merged = {m.msgid: (t, m) for t, m in rows}
        for t, m in extra:
            merged.setdefault(m.msgid, (t, m))
        return sorted(merged.values(), key=lambda item: position(item[1]))[:limit]


def _params(target: str, m: StoredMessage) -> tuple[object, ...]:
    return (
        m.msgid,
        target,
        m.ts,
        _clean(m.source),
        m.command,
        _clean(m.target),
        _clean(m.text),
        Jsonb({_clean(k): _clean(v) for k, v in m.tags.items()}),
    )


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
