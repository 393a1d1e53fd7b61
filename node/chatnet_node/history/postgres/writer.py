"""The PostgreSQL writer: every message this server stores, on its way in.

Writes never block the event loop. The store's ``append`` queues a row here,
``commit`` (once per loop turn, from the core) hands the turn's rows to a
writer task, and the task inserts each batch with an ``AsyncConnection`` in
one transaction (``executemany``, pipelined by psycopg), ``ON CONFLICT
(msgid) DO NOTHING``: every server of the network may insert the same
message, and a batch that is retried after a lost connection inserts nothing
twice.

Acknowledgements. A batch leaves the queue only once its transaction has
committed; then ``on_durable`` is called (on the event loop's thread) with
its msgids, which is what lets the core acknowledge a message without a
second chat server. A row the database refuses (bad data) is left out and
logged, and never confirmed.

When the database goes away, rows wait in order at the head of a bounded
queue (``max_queued``) while the task reconnects with backoff (``BACKOFF``),
logging the outage once and then every ``REMIND_SECONDS``; beyond the bound,
new rows are left out of history (never acknowledged by this store) and the
log says how many. ``unwritten`` holds every row not yet known to be in the
database: the reader merges it into its answers.

Retention (housekeeping, between batches): each server deletes by age (one
``DELETE ... WHERE ts < cutoff`` on the ``ts`` index, every
``PRUNE_SECONDS`` or so with jitter, so a network's servers do not all prune
at once) and trims a target to its count when ``TrimMarks`` marks it.
Concurrent prunes from several servers delete the same rows at worst; a lock
timeout keeps one from stalling the writer, and a failed prune is simply
tried again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import psycopg

from ..contract import HistoryStats, StoredMessage
from ..sql import TrimMarks
from .database import (
    INSERT,
    SCHEMA,
    SCHEMA_LOCK,
    TABLE,
    delete_messages,
    prune_rows,
    row_params,
)

__all__ = [
    "BACKOFF",
    "BATCH_ROWS",
    "CLOSE_WAIT",
    "MAX_QUEUED",
    "PRUNE_SECONDS",
    "REMIND_SECONDS",
    "START_WAIT",
    "PostgresWriter",
]

log = logging.getLogger("chatnet.history")

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

Row = tuple[str, StoredMessage]
"""A message and its history key (target)."""


class PostgresWriter:
    """The write path of ``PostgresHistory``: a queue and the task that drains it.

    Call ``start`` from the event loop, then ``append`` and ``commit`` from
    the command path (they never block), and ``aclose`` (or ``close``) last.
    """

    def __init__(
        self,
        conninfo: str,
        where: str,
        retention_seconds: float,
        max_per_target: int,
        max_queued: int,
    ) -> None:
        self._conninfo = conninfo
        #: The database, for logs (``database.describe``).
        self.where = where
        self.retention_seconds = retention_seconds
        self.max_per_target = max_per_target
        self.max_queued = max_queued
        #: Called with the msgids of each batch once committed (the store's ``on_durable``).
        self.on_durable: Callable[[list[str]], None] | None = None
        self._marks = TrimMarks()
        #: Batch write latency and failures by kind, for /metrics (the reader counts its own).
        self.stats = HistoryStats(
            "postgres", ("connect", "write", "row", "prune", "read", "record")
        )
        #: Rows appended this turn, not yet handed to the writer task.
        self._pending: list[Row] = []
        #: Rows handed to the writer, oldest first; a batch leaves only once committed.
        self._queue: deque[Row] = deque()
        #: Every row not yet known to be in the database, by msgid (merged into reads).
        self.unwritten: dict[str, Row] = {}
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_prune = 0.0
        #: True while the writer holds a working connection (for /status and tests).
        self.connected = False
        #: Messages left out of history because the queue was full.
        self.dropped = 0
        self._overflowing = False
        #: Redacted msgids to delete from the database on the writer's next pass.
        self._deletes: set[tuple[str, str]] = set()
        #: Redacted msgids whose rows are still queued: they are never inserted.
        self._skip: set[str] = set()

    @property
    def queued(self) -> int:
        """Messages handed over but not yet in the database (a metric: it grows in an outage)."""
        return len(self._queue) + len(self._pending)

    # Life cycle.

    async def start(self) -> None:
        """Start the writer task and give it ``START_WAIT`` seconds to reach the database.

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
        """Wait until everything committed (and forgotten) so far is in the database."""
        self.commit()
        while self._queue or self._deletes:
            await self._drained.wait()

    def close(self) -> None:
        """Stop the writer at once; what it had not written is lost (logged)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._lost_on_close()

    async def aclose(self) -> None:
        """Write what is queued (for up to ``CLOSE_WAIT`` seconds), then stop the writer."""
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

    def _lost_on_close(self) -> None:
        if self._queue or self._pending:
            log.error(
                "history: %d messages were not written to PostgreSQL at %s before closing",
                len(self._queue) + len(self._pending),
                self.where,
            )

    # The command path: never blocks.

    def append(self, target: str, message: StoredMessage) -> None:
        """Queue one message for the next ``commit``."""
        self._pending.append((target, message))
        self.unwritten[message.msgid] = (target, message)
        self._marks.count(target, self.max_per_target)

    def forget(self, target: str, msgid: str) -> None:
        """Delete one message (a redaction), wherever it is on its way.

        Gone from reads at once (``unwritten`` no longer has it); a queued
        row is skipped when its batch is written, and the database row, if
        any (or if its batch is being written right now), is deleted after
        the batch: deletes always follow inserts, so nothing comes back.
        """
        self._pending = [row for row in self._pending if row[1].msgid != msgid]
        if self.unwritten.pop(msgid, None) is not None:
            self._skip.add(msgid)
        self._deletes.add((target, msgid))
        self._drained.clear()
        self._wake.set()

    def commit(self) -> None:
        """Hand this turn's rows to the writer task (never blocks)."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        room = self.max_queued - len(self._queue)
        if len(rows) > room:
            kept, left_out = rows[: max(room, 0)], rows[max(room, 0) :]
            for _, message in left_out:
                self.unwritten.pop(message.msgid, None)
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

    # The writer task.

    async def _write_loop(self) -> None:
        attempt = 0
        failing_since: float | None = None
        last_remind = 0.0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            except psycopg.Error as exc:
                self.stats.error("connect")
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
                self.stats.error("write")
                log.error(
                    "history: lost PostgreSQL at %s (%s); %d messages queued, reconnecting",
                    self.where,
                    exc,
                    len(self._queue),
                )
                failing_since = last_remind = time.monotonic()
            except Exception:  # a bug here must not end history for good
                self.stats.error("write")
                log.exception("history: the PostgreSQL writer failed; restarting it")
                failing_since = last_remind = time.monotonic()
            finally:
                self.connected = False
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1

    async def _ensure_schema(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in SCHEMA:
                await conn.execute(statement)

    async def _serve(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        """Write batches as they come and prune now and then, until the connection fails."""
        while True:
            if not self._queue:
                self._wake.clear()
                wait = max(0.0, self._next_prune - time.time())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.0 if self._marks.due or self._deletes else wait):
                        await self._wake.wait()
            if self._queue:
                batch = [self._queue[i] for i in range(min(BATCH_ROWS, len(self._queue)))]
                wanted = [row for row in batch if row[1].msgid not in self._skip]
                began = time.perf_counter()
                stored = await self._insert(conn, wanted) if wanted else set()
                self.stats.writes.observe(time.perf_counter() - began)
                # A redacted row is as good as written: whoever waits for it may go on.
                stored |= {m.msgid for _, m in batch if m.msgid in self._skip}
                for _ in batch:
                    self._queue.popleft()
                self._confirmed(batch, stored)
            if not self._queue and not self._deletes:
                self._drained.set()
            if not self._queue and self._overflowing:
                self._overflowing = False
                log.warning(
                    "history: the PostgreSQL writer caught up; %d messages in all were "
                    "left out of history",
                    self.dropped,
                )
            await self._housekeeping(conn)
            if not self._queue and not self._deletes:
                self._drained.set()

    async def _insert(
        self,
        conn: psycopg.AsyncConnection[tuple[Any, ...]],
        batch: list[Row],
    ) -> set[str]:
        """Insert a batch in one transaction; the msgids now in the database.

        A row the database refuses (bad data) must not stop every later one:
        then the batch goes row by row and refused rows are left out.
        """
        try:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(INSERT, [row_params(t, m) for t, m in batch])
            return {m.msgid for _, m in batch}
        except (psycopg.DataError, ValueError):  # ValueError: text psycopg cannot encode
            if conn.broken:
                raise
        stored: set[str] = set()
        for target, message in batch:
            try:
                async with conn.transaction():
                    await conn.execute(INSERT, row_params(target, message))
                stored.add(message.msgid)
            except (psycopg.DataError, ValueError) as exc:
                if conn.broken:
                    raise
                self.stats.error("row")
                log.error("history: message %s cannot be stored: %s", message.msgid, exc)
        return stored

    def _confirmed(self, batch: list[Row], stored: set[str]) -> None:
        for _, message in batch:
            self.unwritten.pop(message.msgid, None)
            self._skip.discard(message.msgid)
        callback = self.on_durable
        if callback is not None and stored:
            try:
                callback([m.msgid for _, m in batch if m.msgid in stored])
            except Exception:  # the writer must outlive a bug in its listener
                log.exception("history: on_durable failed")

    # Retention.

    async def _housekeeping(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        if self._deletes:
            deletes, self._deletes = self._deletes, set()
            try:
                await delete_messages(conn, deletes)
            except BaseException:
                self._deletes |= deletes  # tried again on the next pass (or connection)
                raise
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
            self.stats.error("prune")
            # Another server pruning the same rows (lock timeout, deadlock):
            # what it did not delete is deleted next time.
            log.debug("history: prune skipped: %s", exc)

    async def _prune_on(
        self, conn: psycopg.AsyncConnection[tuple[Any, ...]], now: float | None, targets: set[str]
    ) -> None:
        cutoff = now - self.retention_seconds if now is not None else None
        await prune_rows(conn, cutoff, targets, self.max_per_target)

    async def prune(self, now: float | None = None) -> None:
        """Delete messages older than the retention and trim every target to its count.

        Writes what is queued first, then prunes on a connection of its own.
        """
        await self.flushed()
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            cur = await conn.execute(f"SELECT DISTINCT target FROM {TABLE}")
            targets = {str(row[0]) for row in await cur.fetchall()}
            await self._prune_on(conn, now if now is not None else time.time(), targets)
