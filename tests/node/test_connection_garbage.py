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


async def _register(port: int, nick: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #room\r\n".encode())
    while b" JOIN " not in await asyncio.wait_for(reader.readline(), 5):
        pass
    return reader, writer


async def _until_gone(before: int) -> None:
    for _ in range(200):
        if len(_clients_alive()) <= before:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("leaving", ["QUIT", "socket closed", "SendQ exceeded"])
async def test_a_client_that_leaves_is_freed_without_the_cycle_collector(
    port: int, leaving: str
) -> None:
    stays = await _register(port, "stays")
    before = len(_clients_alive())
    _, writer = await _register(port, "leaves")
    assert len(_clients_alive()) == before + 1
    if leaving == "QUIT":
        writer.write(b"QUIT :bye\r\n")
    elif leaving == "socket closed":
        writer.close()
    else:
        (connection,) = [
            obj
            for obj in gc.get_objects()
            if isinstance(obj, IrcStreamProtocol) and obj.client and obj.client.nick == "leaves"
        ]
        connection.sendq_exceeded()
        del connection
    # The one who stays sees the QUIT: the server is done with the client.
    while b" QUIT " not in await asyncio.wait_for(stays[0].readline(), 5):
        pass
    await _until_gone(before)
    assert len(_clients_alive()) == before, f"{leaving}: the client waits for a collection"
    writer.close()
    stays[1].close()
