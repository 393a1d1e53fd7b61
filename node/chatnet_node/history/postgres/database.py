"""The PostgreSQL table, its statements and how to reach it (writer and reader share it).

One table, ``chatnet_messages``, holds the whole network's history. The
writer creates it and its indexes when it connects (``SCHEMA``, under an
advisory lock, so several servers starting at once are safe); a database
user without the right to create a table can have it created once by hand
from ``SCHEMA``. ``msgid`` and ``target`` use the "C" collation so that text
compares byte by byte, as in Python and SQLite, whatever the database's
locale: the order ``(ts, length(msgid), msgid)`` (see ``history.contract``)
must be the same everywhere.

``INSERT``, ``TRIM`` and ``row_params`` are the writer's statements; the
reader's queries are the shared ones (``history.sql``) on ``TABLE``.

Every connection gets short timeouts unless its DSN sets them
(``with_defaults``), and logs name a database by ``describe``, never by a
DSN that may hold a password.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

from ...config import ConfigError
from ..contract import StoredMessage
from ..sql import RECORDS_SCHEMA

__all__ = [
    "INSERT",
    "SCHEMA",
    "SCHEMA_LOCK",
    "TABLE",
    "TRIM",
    "describe",
    "row_params",
    "with_defaults",
]

TABLE = "chatnet_messages"
SCHEMA = (
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
    RECORDS_SCHEMA,
)
#: Servers starting together serialise their CREATE ... IF NOT EXISTS on
#: this advisory lock: concurrent ones can otherwise fail on the catalog.
SCHEMA_LOCK = 0x63686174

#: Insert one row (``row_params``); every server may insert the same message,
#: and a batch retried after a lost connection inserts nothing twice.
INSERT = (
    f"INSERT INTO {TABLE} (msgid, target, ts, source, command, display_target, text, tags) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (msgid) DO NOTHING"
)
#: Trim a target to its newest N messages: (target, target, N).
TRIM = (
    f"DELETE FROM {TABLE} WHERE target = %s AND (ts, length(msgid), msgid) <= "
    f"(SELECT ts, length(msgid), msgid FROM {TABLE} WHERE target = %s "
    "ORDER BY ts DESC, length(msgid) DESC, msgid DESC LIMIT 1 OFFSET %s)"
)

#: Delete one message (a redaction): (target, msgid).
DELETE_ONE = f"DELETE FROM {TABLE} WHERE target = %s AND msgid = %s"


async def delete_messages(
    conn: psycopg.AsyncConnection[tuple[Any, ...]], rows: Iterable[tuple[str, str]]
) -> None:
    """Delete messages by (target, msgid), in one transaction."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(DELETE_ONE, sorted(rows))


async def prune_rows(
    conn: psycopg.AsyncConnection[tuple[Any, ...]],
    cutoff: float | None,
    targets: Iterable[str],
    max_per_target: int,
) -> None:
    """Delete what is older than ``cutoff`` and trim ``targets`` to their count.

    A lock timeout keeps a prune that meets another server's from stalling
    the caller; what it did not delete is deleted the next time.
    """
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '2s'")
        if cutoff is not None:
            await conn.execute(f"DELETE FROM {TABLE} WHERE ts < %s", (cutoff,))
        for target in sorted(targets):
            await conn.execute(TRIM, (target, target, max_per_target))


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


def describe(dsn: str) -> str:
    """Where a DSN points, without its password: ``host:port/dbname``."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "(unparsable DSN)"
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or '(default)'}"


def with_defaults(dsn: str) -> str:
    """The connection string to connect with: ``dsn`` plus the default timeouts.

    Raises:
        ConfigError: for a malformed DSN (the node exits with it at start).
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise ConfigError(f"history: the PostgreSQL DSN is not valid: {exc}") from exc
    for key, value in _CONNECTION_DEFAULTS.items():
        params.setdefault(key, value)
    return make_conninfo("", **params)


def row_params(target: str, m: StoredMessage) -> tuple[object, ...]:
    """The parameters of ``INSERT`` for one message under its history key."""
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


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; IRC lines should not carry one either.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text
