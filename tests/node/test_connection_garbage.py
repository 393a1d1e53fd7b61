"""A client that leaves is freed at once, not left to the cycle collector.

A connection and its client point at each other while it is open. Once the
connection is lost that loop must be broken, or every client that leaves
(10,000 readers dropped for "SendQ exceeded") waits for a full collection,
which then frees them all in one pause while every other user waits. Real
TCP sockets on an in-process core, with the cycle collector off.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import pytest

from chatnet_node.irc.model import Client
from chatnet_node.transport.connection import IrcStreamProtocol, flush_soon
from tests.corekit import CoreServer
from tests.irc.client import connected
from tests.waiting import within


def _clients_alive() -> list[Client]:
    """Every ``Client`` the cycle collector tracks, garbage not yet collected included."""
    return [obj for obj in gc.get_objects() if isinstance(obj, Client)]


@pytest.fixture
async def port() -> AsyncIterator[int]:
    core = CoreServer().core
    loop = asyncio.get_running_loop()
    core.output.wake = flush_soon(core, loop)
    server = await loop.create_server(lambda: IrcStreamProtocol(core), "127.0.0.1", 0)
    gc.collect()
    gc.disable()
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        gc.enable()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("leaving", ["QUIT", "socket closed", "SendQ exceeded"])
async def test_a_client_that_leaves_is_freed_without_the_cycle_collector(
    port: int, leaving: str
) -> None:
    stays = await connected(port, "stays")
    await stays.join("#room")
    before = len(_clients_alive())
    leaves = await connected(port, "leaves")
    await leaves.join("#room")
    assert len(_clients_alive()) == before + 1
    if leaving == "QUIT":
        await leaves.send("QUIT :bye")
    elif leaving == "socket closed":
        await leaves.close()
    else:
        (connection,) = [
            obj
            for obj in gc.get_objects()
            if isinstance(obj, IrcStreamProtocol) and obj.client and obj.client.nick == "leaves"
        ]
        connection.sendq_exceeded()
        del connection
    await stays.expect("QUIT")  # the server is done with the client
    await within(lambda: len(_clients_alive()) <= before, 2.0)
    assert len(_clients_alive()) == before, f"{leaving}: the client waits for a collection"
    await leaves.close()
    await stays.close()
