"""Real IRC client libraries from PyPI talk to a real node over TCP.

* ``pydle`` (1.x, asyncio): negotiates IRCv3 capabilities (CAP LS 302, SASL
  skipped, multi-prefix, ...), keeps channel state from NAMES and JOIN.
* ``irc`` (jaraco) with ``irc.client_aio.AioReactor`` on the test's loop.

Both join one channel and exchange channel and private messages with each
other and with the test's own client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import irc.client_aio
import pydle
import pytest

import irc.client
from tests.irc.client import Clients
from tests.nodeproc import NodeProcess
from tests.waiting import eventually

HOST = "127.0.0.1"


@pytest.fixture
async def tcp(node: NodeProcess) -> AsyncIterator[Clients]:
    pool = Clients(node.irc_port)
    try:
        yield pool
    finally:
        await pool.aclose()


class PydleBot(pydle.Client):  # type: ignore[misc]
    """A pydle client that records what it hears."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heard: list[tuple[str, str, str]] = []
        self.private: list[tuple[str, str]] = []
        self.joined: list[tuple[str, str]] = []
        self.ready = asyncio.Event()

    async def on_connect(self) -> None:
        await super().on_connect()
        self.ready.set()

    async def on_join(self, channel: str, user: str) -> None:
        await super().on_join(channel, user)
        self.joined.append((channel, user))

    async def on_channel_message(self, target: str, by: str, message: str) -> None:
        await super().on_channel_message(target, by, message)
        self.heard.append((target, by, message))

    async def on_private_message(self, target: str, by: str, message: str) -> None:
        await super().on_private_message(target, by, message)
        self.private.append((by, message))


class JaracoBot:
    """jaraco's ``irc`` on an asyncio reactor bound to the running loop."""

    def __init__(self) -> None:
        self.reactor = irc.client_aio.AioReactor(loop=asyncio.get_running_loop())
        self.heard: list[tuple[str, str, str]] = []
        self.private: list[tuple[str, str]] = []
        self.names: dict[str, list[str]] = {}
        self.welcomed = asyncio.Event()
        self.reactor.add_global_handler("welcome", self._on_welcome)
        self.reactor.add_global_handler("pubmsg", self._on_pubmsg)
        self.reactor.add_global_handler("privmsg", self._on_privmsg)
        self.reactor.add_global_handler("namreply", self._on_names)
        self.connection: Any = None

    async def connect(self, port: int, nick: str) -> None:
        self.connection = await self.reactor.server().connect(HOST, port, nick)

    def _on_welcome(self, connection: Any, event: irc.client.Event) -> None:
        self.welcomed.set()

    def _on_pubmsg(self, connection: Any, event: irc.client.Event) -> None:
        self.heard.append((event.target, event.source.nick, event.arguments[0]))

    def _on_privmsg(self, connection: Any, event: irc.client.Event) -> None:
        self.private.append((event.source.nick, event.arguments[0]))

    def _on_names(self, connection: Any, event: irc.client.Event) -> None:
        self.names.setdefault(event.arguments[1], []).extend(event.arguments[2].split())

    def close(self) -> None:
        if self.connection is not None and self.connection.is_connected():
            self.connection.disconnect("done")


async def test_pydle_and_irc_chat_with_each_other(node: NodeProcess, tcp: Clients) -> None:
    watcher = await tcp.tcp("watcher")
    await watcher.join("#interop")

    pyd = PydleBot("pydlebot", realname="pydle bot")
    jar = JaracoBot()
    try:
        await pyd.connect(HOST, node.irc_port, tls=False)
        async with asyncio.timeout(10):
            await pyd.ready.wait()
        await jar.connect(node.irc_port, "jaracobot")
        async with asyncio.timeout(10):
            await jar.welcomed.wait()

        await pyd.join("#interop")
        await eventually(lambda: pyd.in_channel("#interop"))
        jar.connection.join("#interop")
        await eventually(lambda: "jaracobot" in pyd.channels["#interop"]["users"])
        await eventually(lambda: "#interop" in jar.names)
        assert {n.lstrip("@+") for n in jar.names["#interop"]} == {
            "watcher",
            "pydlebot",
            "jaracobot",
        }

        # Channel messages both ways, and the plain client hears both.
        await pyd.message("#interop", "hello from pydle")
        await eventually(lambda: ("#interop", "pydlebot", "hello from pydle") in jar.heard)
        jar.connection.privmsg("#interop", "hello from irc")
        await eventually(lambda: ("#interop", "jaracobot", "hello from irc") in pyd.heard)
        got = await watcher.expect(lambda m: m.command == "PRIVMSG" and m.nick == "pydlebot")
        assert got.last == "hello from pydle"
        got = await watcher.expect(lambda m: m.command == "PRIVMSG" and m.nick == "jaracobot")
        assert got.last == "hello from irc"

        # Private messages both ways, and with the plain client.
        await pyd.message("jaracobot", "psst, irc")
        await eventually(lambda: ("pydlebot", "psst, irc") in jar.private)
        jar.connection.privmsg("pydlebot", "psst, pydle")
        await eventually(lambda: ("jaracobot", "psst, pydle") in pyd.private)
        await watcher.send("PRIVMSG pydlebot :from the test client")
        await watcher.send("PRIVMSG jaracobot :from the test client")
        await eventually(lambda: ("watcher", "from the test client") in pyd.private)
        await eventually(lambda: ("watcher", "from the test client") in jar.private)

        # A topic and a nick change are tracked by pydle's channel state.
        await watcher.send("TOPIC #interop :set by the test")
        await eventually(lambda: pyd.channels["#interop"].get("topic") == "set by the test")
        jar.connection.nick("jaraco2")
        await eventually(lambda: "jaraco2" in pyd.channels["#interop"]["users"])

        # Leaving is seen by the others.
        await pyd.part("#interop", "bye")
        parted = await watcher.expect("PART")
        assert parted.nick == "pydlebot" and parted.params == ["#interop", "bye"]
    finally:
        jar.close()
        await pyd.disconnect(expected=True)
        await asyncio.sleep(0.1)  # let the libraries' own tasks see the close


async def test_pydle_registers_with_ircv3_caps(node: NodeProcess, tcp: Clients) -> None:
    """pydle negotiates capabilities; the ones we offer must be enabled."""
    pyd = PydleBot("capbot")
    try:
        await pyd.connect(HOST, node.irc_port, tls=False)
        async with asyncio.timeout(10):
            await pyd.ready.wait()
        enabled = {cap for cap, on in pyd._capabilities.items() if on}
        assert {"multi-prefix", "server-time", "message-tags"} & enabled
        assert pyd.network == "TestNet"
        # (pydle's whois() registers its future only after sending WHOIS, so a
        # fast server's reply can beat it: a pydle race, not used here.)
        await pyd.join("#caps")
        await eventually(lambda: pyd.in_channel("#caps"), what="pydle joined #caps")
        await eventually(lambda: "capbot" in pyd.channels["#caps"]["users"])
    finally:
        await pyd.disconnect(expected=True)
        await asyncio.sleep(0.1)
