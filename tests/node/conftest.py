"""Fixtures for the node's tests: a pool of IRC clients on the running node."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.irc.client import Clients
from tests.nodeproc import NodeProcess


@pytest.fixture
async def irc(node: NodeProcess) -> AsyncIterator[Clients]:
    """Clients on the ``node`` fixture's server; fails the test if the node logged a traceback."""
    pool = Clients(node.irc_port, node.ws_url)
    try:
        yield pool
    finally:
        await pool.aclose()
    assert "Traceback" not in node.log(), node.log()
