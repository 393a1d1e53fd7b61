"""The history contract: what the chat core and CHATHISTORY know of a store.

Everything here is plain data and a ``Protocol``: no I/O, no database
driver. The core imports this module and nothing else of the package, so it
never depends on a backend; the runtime picks one (``history.factory``).

Keys. A store keeps one table of messages keyed by a *target*: a folded
channel name, or for a private conversation ``"dm:" + the two folded nicks
in order`` (``dm_target``).

Order. Messages are ordered by ``(ts, len(msgid), msgid)`` in every store,
never by a row id: a row id is local to one database, so two SQLite servers
would order messages of one millisecond differently, and a client that
moves from one to the other with ``CHATHISTORY AFTER msgid=...`` could skip
one. A msgid is a fixed per-server prefix, a hex counter and a fixed-width
horizon (``irc.ids``), so ordering by length then text is the counter's
order (one sender's messages stay in order within a millisecond); any other
msgid still gets one total order that every server computes alike. ``Ref``
is a position in that order.

Reads are synchronous on purpose: the command core is synchronous (a
command runs to completion within one event-loop turn, which is what keeps
it free of locks), and a CHATHISTORY query is one indexed range scan with a
small LIMIT. Writes are what can be slow, so they are batched per loop turn
(SQLite) or handed to a writer task (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..timings import WRITE_BUCKETS, Histogram

__all__ = [
    "AFTER_ALL",
    "HistoryBackend",
    "HistoryStats",
    "HistoryUnavailable",
    "Ref",
    "StoredMessage",
    "StoredRecord",
    "dm_target",
    "is_private_key",
    "position",
]

#: A ``Ref.width`` after every msgid at its time (no msgid is this long).
AFTER_ALL = 1 << 30


class HistoryUnavailable(Exception):  # noqa: N818 - reads as "history unavailable"
    """A read could not be answered (the database is unreachable)."""


class HistoryStats:
    """What a store counted since it opened, for ``/metrics`` (``chatnet_history_*``).

    ``writes``: how long each write took (a SQLite commit, a PostgreSQL
    batch). ``errors``: failed operations by kind; every kind the store can
    fail at is there from the start (at 0), so an alert on its increase sees
    the first one.
    """

    __slots__ = ("errors", "store", "writes")

    def __init__(self, store: str, ops: tuple[str, ...]) -> None:
        self.store = store
        self.writes = Histogram(WRITE_BUCKETS)
        self.errors = dict.fromkeys(ops, 0)

    def error(self, op: str) -> None:
        """One ``op`` failed."""
        self.errors[op] = self.errors.get(op, 0) + 1


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


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One version of a network-wide record, as a store keeps it (see ``irc.registry``)."""

    name: str  # folded
    created: float
    origin: str
    updated: float
    by: str
    data: str  # the record as JSON


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
    #: Write latency and errors, for /metrics.
    stats: HistoryStats
    retention_seconds: float
    max_per_target: int

    async def start(self) -> None:
        """Get ready (connect, create the schema); never raises for an unreachable store."""
        ...

    @property
    def overloaded(self) -> bool:
        """True while the store cannot take another message (its write queue is full).

        The command path then refuses new messages with a reason instead of
        accepting what it could not keep.
        """
        ...

    def append(self, target: str, message: StoredMessage) -> None:
        """Queue one message for the next ``commit``; duplicate msgids are ignored."""
        ...

    def commit(self) -> None:
        """Store (or hand to the writer) everything appended so far."""
        ...

    def forget(self, target: str, msgid: str) -> None:
        """Delete one message (it was redacted); never blocks, like ``append``."""
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

    def save_record(self, kind: str, record: StoredRecord) -> None:
        """Keep one version of a network-wide record (an account, a registered channel).

        Replaces the stored version of the same registration only if older,
        so servers sharing one store may all write it.
        """
        ...

    def load_records(self) -> list[tuple[str, str]]:
        """Every stored record as ``(kind, JSON)``, read when the server starts."""
        ...

    def resolve_msgid(self, target: str, msgid: str) -> Ref | None: ...
    def find(self, target: str, msgid: str) -> StoredMessage | None: ...
    def latest(self, target: str, after: Ref | None, limit: int) -> list[StoredMessage]: ...
    def before(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]: ...
    def after(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]: ...
    def around(self, target: str, ref: Ref, limit: int) -> list[StoredMessage]: ...
    def between(self, target: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]: ...
    def arrived_after(
        self, target: str, msgid: str, before: Ref, limit: int
    ) -> list[StoredMessage]:
        """Messages of ``target`` stamped before ``before`` but stored here after ``msgid``.

        A message a catch-up brings late (after a split, or a leaf's re-homing)
        keeps its old stamp, so an order by time puts it before what a
        client saw since; the order of arrival does not. Oldest stamp first.
        A shared store, written by each message's origin at once, has none.
        """
        ...

    def targets(
        self, targets: list[str], start: float, end: float, limit: int
    ) -> list[tuple[str, float]]: ...
    def conversations(self, folded_nick: str) -> list[tuple[str, str]]: ...
    def count(self, target: str) -> int: ...
    def recent(self, since: float, limit: int) -> list[tuple[str, StoredMessage]]: ...
