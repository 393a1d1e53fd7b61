"""Fixtures for the history stores: a real PostgreSQL server for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pgserver import PgServer, PostgresUnavailable


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server in a temporary directory (skips where there is none)."""
    try:
        server = PgServer.create()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL tests need a PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> str:
    """The DSN of a fresh, empty database on the session's server."""
    return pg_server.create_database()
