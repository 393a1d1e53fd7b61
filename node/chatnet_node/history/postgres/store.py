"""History in PostgreSQL: one store shared by every server of a network.

With ``history.store: postgres`` every server writes the messages it sees
into one table and answers CHATHISTORY from it, so every server gives the
same answer for any channel, even one nobody on it ever joined, and a
message outlives the server that took it. A commit here is what lets the
core acknowledge a message without a second chat server (``on_durable``).

``PostgresHistory`` is the ``HistoryBackend`` the node uses; it composes
the two halves, which share nothing but the writer's map of rows not yet
written:

* ``writer.PostgresWriter``: ``append`` and ``commit`` hand rows to an
  asynchronous writer task (batches, reconnection with backoff, a bounded
  queue, retention, ``on_durable``). Writes never block the event loop.
* ``reader.PostgresReader``: synchronous reads on a connection of their own,
  with bounded timeouts, merged with the rows not yet written.

Order is ``(ts, length(msgid), msgid)`` (see ``history.contract``): the
database holds no order of its own that all servers agree on, since each
server inserts whenever its writer gets to it (``database`` has the schema
and its byte-order collation).
"""

from __future__ import annotations

from collections.abc import Callable

from ..contract import HistoryStats, Ref, StoredMessage, StoredRecord
from .database import describe, with_defaults
from .reader import PostgresReader
from .writer import MAX_QUEUED, PostgresWriter

__all__ = ["PostgresHistory"]


class PostgresHistory:
    """History in a PostgreSQL database shared by the network's servers."""

    durable_elsewhere = True

    def __init__(
        self,
        dsn: str,
        retention_seconds: float = 86400.0,
        max_per_target: int = 10000,
        *,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        """Raises ``ConfigError`` for a malformed DSN; connects only in ``start``."""
        conninfo = with_defaults(dsn)
        #: The database, for logs and /status: ``host:port/dbname``, no password.
        self.where = describe(dsn)
        self._writer = PostgresWriter(
            conninfo, self.where, retention_seconds, max_per_target, max_queued
        )
        self._reader = PostgresReader(
            conninfo, self.where, self._writer.unwritten, self._writer.stats
        )
        #: Write latency and failures by kind (the writer's and the reader's), for /metrics.
        self.stats: HistoryStats = self._writer.stats

    # Settings and state, kept by the writer.

    @property
    def on_durable(self) -> Callable[[list[str]], None] | None:
        """Called with the msgids of each batch once committed (see ``HistoryBackend``)."""
        return self._writer.on_durable

    @on_durable.setter
    def on_durable(self, callback: Callable[[list[str]], None] | None) -> None:
        self._writer.on_durable = callback

    @property
    def retention_seconds(self) -> float:
        """Messages older than this are deleted."""
        return self._writer.retention_seconds

    @retention_seconds.setter
    def retention_seconds(self, seconds: float) -> None:
        self._writer.retention_seconds = seconds

    @property
    def max_per_target(self) -> int:
        """Each target is trimmed to about this many messages."""
        return self._writer.max_per_target

    @max_per_target.setter
    def max_per_target(self, count: int) -> None:
        self._writer.max_per_target = count

    @property
    def max_queued(self) -> int:
        """Rows that may wait for the database before new ones are left out of history."""
        return self._writer.max_queued

    @property
    def connected(self) -> bool:
        """True while the writer holds a working connection (for /status and tests)."""
        return self._writer.connected

    @property
    def dropped(self) -> int:
        """Messages left out of history because the queue was full."""
        return self._writer.dropped

    @property
    def overloaded(self) -> bool:
        """The writer's queue (with this turn's rows) is full: new messages are refused."""
        return self._writer.queued >= self._writer.max_queued

    @property
    def queued(self) -> int:
        """Messages handed over but not yet in the database (a metric: it grows in an outage)."""
        return self._writer.queued

    # Life cycle.

    async def start(self) -> None:
        """Start the writer; serve without the database if it is away (see ``PostgresWriter``)."""
        await self._writer.start()

    async def flushed(self) -> None:
        """Wait until everything committed so far is in the database."""
        await self._writer.flushed()

    def close(self) -> None:
        """Stop the writer at once; what it had not written is lost (logged)."""
        self._writer.close()
        self._reader.close()

    async def aclose(self) -> None:
        """Write what is queued (for up to ``writer.CLOSE_WAIT`` seconds), then close."""
        await self._writer.aclose()
        self._reader.close()

    # The write path: the writer's.

    def append(self, target: str, message: StoredMessage) -> None:
        """Queue one message for the next ``commit``."""
        self._writer.append(target, message)

    def commit(self) -> None:
        """Hand this turn's rows to the writer (never blocks)."""
        self._writer.commit()

    def forget(self, target: str, msgid: str) -> None:
        """Delete one message: queued for the writer, gone from reads at once."""
        self._writer.forget(target, msgid)

    async def prune(self, now: float | None = None) -> None:
        """Delete messages older than the retention and trim every target to its count."""
        await self._writer.prune(now)

    # The read path: the reader's (see ``SqlHistory`` for each query).

    def save_record(self, kind: str, record: StoredRecord) -> None:
        self._reader.save_record(kind, record)

    def load_records(self) -> list[tuple[str, str]]:
        return self._reader.load_records()

    def resolve_msgid(self, target: str, msgid: str) -> Ref | None:
        return self._reader.resolve_msgid(target, msgid)

    def find(self, target: str, msgid: str) -> StoredMessage | None:
        return self._reader.find(target, msgid)

    def latest(self, target: str, after: Ref | None, limit: int) -> list[StoredMessage]:
        return self._reader.latest(target, after, limit)

    def before(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]:
        return self._reader.before(target, ref, limit)

    def after(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]:
        return self._reader.after(target, ref, limit)

    def around(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]:
        return self._reader.around(target, ref, limit)

    def between(self, target: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]:
        return self._reader.between(target, start, end, limit)

    def arrived_after(
        self, target: str, msgid: str, before: Ref, limit: int
    ) -> list[StoredMessage]:
        return self._reader.arrived_after(target, msgid, before, limit)

    def targets(
        self, targets: list[str], start: float, end: float, limit: int
    ) -> list[tuple[str, float]]:
        return self._reader.targets(targets, start, end, limit)

    def conversations(self, folded_nick: str) -> list[tuple[str, str]]:
        return self._reader.conversations(folded_nick)

    def count(self, target: str) -> int:
        return self._reader.count(target)

    def recent(self, since: float, limit: int) -> list[tuple[str, StoredMessage]]:
        return self._reader.recent(since, limit)
