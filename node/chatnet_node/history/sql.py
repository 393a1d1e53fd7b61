"""What both SQL stores share: the CHATHISTORY queries and retention by count.

``SqlHistory`` writes every read of the contract (``history.contract``)
once, over a ``_rows`` primitive that runs one SELECT; ``SqliteHistory``
runs it on its file, the PostgreSQL reader on its own connection.
``TrimMarks`` tells both write paths which targets are due a trim to their
count limit.

Placeholders are written ``?`` (SQLite's style); the PostgreSQL reader
rewrites them to ``%s``. Both databases speak row values, so one comparison
covers the three-part order ``(ts, length(msgid), msgid)`` (see
``history.contract``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .contract import Ref, StoredMessage, StoredRecord

__all__ = [
    "ASC",
    "COLUMNS",
    "DESC",
    "LOAD_RECORDS",
    "ORDER",
    "RECORDS",
    "RECORDS_SCHEMA",
    "SAVE_RECORD",
    "SqlHistory",
    "TrimMarks",
    "record_params",
]

#: The columns a ``StoredMessage`` is read from, in order.
COLUMNS = "msgid, ts, source, command, display_target, text, tags"
#: The order of a target's messages, as a row value.
ORDER = "(ts, length(msgid), msgid)"
ASC = "ts ASC, length(msgid) ASC, msgid ASC"
DESC = "ts DESC, length(msgid) DESC, msgid DESC"


#: Network-wide records (accounts, registered channels): one row per registration.
RECORDS = "chatnet_records"
RECORDS_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {RECORDS} (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    origin TEXT NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    by_server TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, name, created, origin)
)"""
#: Store one version, replacing only an older one: (kind, name, created,
#: origin, updated, by, data). Both databases speak this upsert.
SAVE_RECORD = (
    f"INSERT INTO {RECORDS} (kind, name, created, origin, updated, by_server, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, name, created, origin) DO UPDATE SET "
    "updated = excluded.updated, by_server = excluded.by_server, data = excluded.data "
    f"WHERE ({RECORDS}.updated, {RECORDS}.by_server) < (excluded.updated, excluded.by_server)"
)
LOAD_RECORDS = f"SELECT kind, data FROM {RECORDS}"


def record_params(kind: str, record: StoredRecord) -> tuple[object, ...]:
    """The parameters of ``SAVE_RECORD`` for one version."""
    return (
        kind,
        record.name,
        record.created,
        record.origin,
        record.updated,
        record.by,
        record.data,
    )


class TrimMarks:
    """Which targets are due a trim to their count limit.

    Each appended message counts for its target; every tenth of the limit,
    the target is marked (``due``). Marked targets are trimmed to their count
    limit later (SQLite at commit, PostgreSQL in its writer), by index, not
    by a scan of the whole table; the store unmarks them once trimmed.
    """

    def __init__(self) -> None:
        self._since: dict[str, int] = {}
        #: Targets to trim at the next occasion.
        self.due: set[str] = set()

    def count(self, target: str, max_per_target: int) -> None:
        """Count one message appended to ``target``; every tenth of the limit, mark it."""
        since = self._since
        pending = since.get(target, 0) + 1
        if pending >= (max_per_target // 10 or 1):
            self.due.add(target)
            pending = 0
        since[target] = pending

    def take(self) -> set[str]:
        """The marked targets, now unmarked (the caller trims them next)."""
        due, self.due = self.due, set()
        return due


class SqlHistory:
    """The queries of CHATHISTORY, written once over a ``_rows`` primitive.

    Subclasses provide ``_rows`` (run one SELECT) and, for a store, the
    write path.
    """

    table = "messages"

    def _rows(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def load_records(self) -> list[tuple[str, str]]:
        """Every stored record as ``(kind, JSON)``."""
        return [(str(kind), str(data)) for kind, data in self._rows(LOAD_RECORDS, ())]

    def _messages(self, where: str, args: Sequence[object]) -> list[StoredMessage]:
        rows = self._rows(f"SELECT {COLUMNS} FROM {self.table} WHERE {where}", args)
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
            where.append(f"{ORDER} > (?, ?, ?)")
            args += low.params()
        if high is not None:
            where.append(f"{ORDER} {'<=' if high_inclusive else '<'} (?, ?, ?)")
            args += high.params()
        order = DESC if descending else ASC
        return self._messages(f"{' AND '.join(where)} ORDER BY {order} LIMIT ?", [*args, limit])

    def resolve_msgid(self, target: str, msgid: str) -> Ref | None:
        """The position of ``msgid`` in ``target``'s history, if it is there."""
        rows = self._rows(
            f"SELECT ts FROM {self.table} WHERE target = ? AND msgid = ?", (target, msgid)
        )
        return Ref.of(float(rows[0][0]), msgid) if rows else None

    def find(self, target: str, msgid: str) -> StoredMessage | None:
        """The message ``msgid`` of ``target``, if history holds it."""
        found = self._messages("target = ? AND msgid = ?", (target, msgid))
        return found[0] if found else None

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

    def arrived_after(
        self, target: str, msgid: str, before: Ref, limit: int
    ) -> list[StoredMessage]:
        """None here: a shared store is written by each message's origin at once (the
        per-server SQLite store keeps an arrival order, ``SqliteHistory``)."""
        return []

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
        """Channel and private messages with ``ts >= since``, oldest first, the first ``limit``.

        What a restarted server rebuilds its replication window from; to read
        more, call again with ``since`` at the last time returned (the
        messages at that time come again: deduplicate by msgid).
        """
        rows = self._rows(
            f"SELECT target, {COLUMNS} FROM {self.table} WHERE ts >= ? ORDER BY {ASC} LIMIT ?",
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
