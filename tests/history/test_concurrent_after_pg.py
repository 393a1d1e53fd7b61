"""``CHATHISTORY AFTER`` returns a concurrent message on the shared PostgreSQL store too.

The scene of ``tests/node/test_concurrent_after.py`` (three servers, ``a``
5 s behind and frozen while Alice's line waits, Bob's server killed after
delivering Carol's later-stamped line), with the three servers sharing one
PostgreSQL database: Bob, back on ``c``, finds Alice's line ``AFTER`` Carol's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.test_concurrent_after import FAKETIME, concurrent_line_is_caught_up, three_servers

pytestmark = pytest.mark.skipif(
    not FAKETIME.exists(), reason="needs libfaketime (apt-get install libfaketime)"
)


async def test_after_returns_a_concurrent_message_on_postgres(tmp_path: Path, pg_dsn: str) -> None:
    store = {"store": "postgres", "path": None, "dsn": pg_dsn}
    with three_servers(tmp_path, history=store) as network:
        await concurrent_line_is_caught_up(network)
