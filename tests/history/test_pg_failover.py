"""The shared PostgreSQL store fails over: no acknowledged message is lost.

What CloudNativePG does on a cluster, done here by hand with two real
PostgreSQL servers: a primary with a synchronous streaming standby, the
primary killed, the standby promoted. The node reaches the database through a
multi-host DSN with ``target_session_attrs=read-write`` (as it would through
CNPG's ``-rw`` Service), so it finds the new primary by itself.

The guarantee: a message is acknowledged (echoed) only once its row is
committed, and with a synchronous standby a commit is on two servers; so
every echo the sender saw before the crash, and every echo after it, is in
the history the promoted server answers with.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.history.test_shared_history import CAPS, history_texts, pg_node, say
from tests.irc.client import Clients
from tests.nodeproc import NodeProcess
from tests.pgserver import PgServer, PostgresUnavailable

STANDBY = "standby1"
PRIMARY_SETTINGS = ["wal_level=replica", "max_wal_senders=5", "synchronous_commit=on"]


@pytest.fixture
def replicated() -> Iterator[tuple[PgServer, PgServer]]:
    """A primary and its synchronous standby (skips where PostgreSQL is missing)."""
    try:
        primary = PgServer.create(PRIMARY_SETTINGS)
    except PostgresUnavailable as exc:
        pytest.skip(f"the failover test needs PostgreSQL: {exc}")
    standby: PgServer | None = None
    try:
        primary.create_database()  # before the base backup, so the standby has it
        standby = primary.standby(STANDBY)
        # Synchronous only now that the standby exists (before, every commit would wait).
        with psycopg.connect(primary.dsn(), autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY}'")
            conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while _sync_state(primary) != "sync":
            assert time.monotonic() < deadline, "the standby never became synchronous"
            time.sleep(0.1)
        yield primary, standby
    finally:
        primary.destroy()
        if standby is not None:
            standby.destroy()


def _sync_state(primary: PgServer) -> str | None:
    with psycopg.connect(primary.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s", (STANDBY,)
        ).fetchone()
    return None if row is None else str(row[0])


async def test_no_acknowledged_message_is_lost_when_the_primary_fails_over(
    tmp_path: Path, replicated: tuple[PgServer, PgServer]
) -> None:
    primary, standby = replicated
    database = primary.databases[0]
    dsn = (
        f"postgresql://chatnet@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/{database}"
        "?target_session_attrs=read-write"
    )
    node: NodeProcess = pg_node(tmp_path, "ha", 20, dsn)
    node.start()
    pool = Clients(node.irc_port)
    try:
        alice = await pool.tcp("alice", caps=CAPS)
        bob = await pool.tcp("bob", caps=CAPS)
        await alice.join("#ha")
        await bob.join("#ha")
        before = [f"before {i}" for i in range(30)]
        await say(alice, "#ha", before)  # every one echoed: acknowledged

        primary.stop("immediate")  # the primary crashes
        during = [f"during {i}" for i in range(5)]
        for text in during:
            await alice.send(f"PRIVMSG #ha :{text}")
            await bob.expect("PRIVMSG", "#ha", text)  # chat goes on meanwhile
        standby.promote()
        # Each is acknowledged once the new primary has it.
        for text in during:
            await alice.expect("PRIVMSG", "#ha", text, timeout=30)
        await say(alice, "#ha", ["after"])

        line = "CHATHISTORY LATEST #ha * 100"
        found = await history_texts(bob, line, len(before) + len(during) + 1, within=20)
        assert found == [*before, *during, "after"]  # every one, once, in order
    finally:
        await pool.aclose()
        node.stop()
    with psycopg.connect(standby.dsn(database), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    assert "Traceback" not in node.log(), node.log()
    assert "lost PostgreSQL" in node.log() or "cannot reach PostgreSQL" in node.log()
