"""The asyncio IRC test client, over TCP (plain or TLS) and over WebSocket.

Every wait is bounded: ``expect`` and friends fail with the lines seen so far
instead of hanging.

Typical use::

    async with await IrcClient.tcp(node.irc_port) as alice:
        await alice.register("alice", caps=["echo-message"])
        await alice.send("JOIN #room")
        await alice.expect("366")
"""

# Every wait here takes an explicit ``timeout`` on purpose (bounded waits are the
# point of this helper), so the rule that prefers ``asyncio.timeout`` is off.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.irc.lines import Matcher, Msg, matcher, parse

DEFAULT_TIMEOUT = 5.0
HOST = "127.0.0.1"


class IrcClient:
    """One connection to the server. Create with ``tcp`` or ``websocket``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.nick = "*"
        self.seen: list[Msg] = []  # every line received, for failure messages
        self.buffer: list[Msg] = []  # received but not consumed by expect()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ws: ClientConnection | None = None
        self._ws_binary = False
        self._sync_counter = 0
        self.eof = False

    # Construction.

    @classmethod
    async def tcp(
        cls,
        port: int,
        host: str = HOST,
        ssl: ssl_module.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> IrcClient:
        """Connect over TCP (TLS when ``ssl`` is given)."""
        client = cls(f"tcp:{port}")
        client._reader, client._writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ssl, limit=1 << 20), timeout
        )
        return client

    @classmethod
    async def websocket(
        cls,
        url: str,
        subprotocol: str | None = "text.ircv3.net",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> IrcClient:
        """Connect over WebSocket, offering ``subprotocol`` (or none)."""
        client = cls(f"ws:{url}")
        offered = [Subprotocol(subprotocol)] if subprotocol else None
        client._ws = await asyncio.wait_for(
            ws_connect(url, subprotocols=offered, open_timeout=timeout, close_timeout=2),
            timeout,
        )
        client._ws_binary = client._ws.subprotocol == "binary.ircv3.net"
        return client

    @property
    def ws(self) -> ClientConnection:
        """The WebSocket connection (WebSocket clients only)."""
        assert self._ws is not None, "not a WebSocket client"
        return self._ws

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection without QUIT (bounded)."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl_module.SSLError):
                await asyncio.wait_for(self._writer.wait_closed(), 2)
        if self._ws is not None:
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._ws.close(), 3)

    # Sending.

    async def send(self, line: str) -> None:
        """Send one line (CR LF is added for TCP; one message per line for WebSocket)."""
        await self.send_raw(line.encode())

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (TCP: CR LF added; WebSocket: one message)."""
        if self._ws is not None:
            if self._ws_binary:
                await self._ws.send(data)
            else:
                await self._ws.send(data.decode("utf-8"))
            return
        assert self._writer is not None
        self._writer.write(data + b"\r\n")
        await self._writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        """TCP: write bytes with no line ending added."""
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    # Receiving.

    async def _read_line(self, timeout: float) -> Msg | None:
        """The next line from the network, or None at end of stream."""
        if self.eof:
            return None
        if self._ws is not None:
            try:
                data: Any = await asyncio.wait_for(self._ws.recv(), timeout)
            except ConnectionClosed:
                self.eof = True
                return None
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            assert "\n" not in text.rstrip("\r\n"), f"several lines in one message: {text!r}"
            text = text.rstrip("\r\n")
        else:
            assert self._reader is not None
            try:
                raw = await asyncio.wait_for(self._reader.readline(), timeout)
            except (ConnectionResetError, ssl_module.SSLError):
                raw = b""
            if not raw:
                self.eof = True
                return None
            assert raw.endswith(b"\r\n"), f"line without CR LF: {raw!r}"
            text = raw[:-2].decode("utf-8")
        msg = parse(text)
        self.seen.append(msg)
        return msg

    async def recv(self, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """The next line (buffered first)."""
        if self.buffer:
            return self.buffer.pop(0)
        msg = await self._read_line(timeout)
        if msg is None:
            raise ConnectionError(f"{self.label} {self.nick}: connection closed")
        return msg

    def _fail(self, what: str) -> AssertionError:
        tail = "\n".join(f"  {m.raw}" for m in self.seen[-30:])
        return AssertionError(f"{self.label} {self.nick}: {what}; last lines:\n{tail}")

    async def expect(self, match: Matcher, *params: str, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """Wait for a matching line; lines before it are consumed (and kept in ``seen``)."""
        lines = await self.collect_until(match, *params, timeout=timeout)
        return lines[-1]

    async def collect_until(
        self, match: Matcher, *params: str, timeout: float = DEFAULT_TIMEOUT
    ) -> list[Msg]:
        """Every line up to and including the first that matches."""
        check = matcher(match, *params)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        lines: list[Msg] = []
        while True:
            if self.buffer:
                msg: Msg | None = self.buffer.pop(0)
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise self._fail(f"timed out waiting for {match!r} {params}")
                try:
                    msg = await self._read_line(remaining)
                except TimeoutError:
                    raise self._fail(f"timed out waiting for {match!r} {params}") from None
            if msg is None:
                raise self._fail(f"connection closed while waiting for {match!r} {params}")
            lines.append(msg)
            if check(msg):
                return lines

    async def sync(self, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Round trip a PING; returns every line that arrived before its PONG.

        The server answers in order, so anything a command caused has arrived
        by then: use it to assert that something did *not* happen.
        """
        self._sync_counter += 1
        token = f"sync{self._sync_counter}"
        await self.send(f"PING {token}")
        lines = await self.collect_until(
            lambda m: m.command == "PONG" and m.last == token, timeout=timeout
        )
        return lines[:-1]

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Read until the server closes the connection; returns the lines read."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        lines = list(self.buffer)
        self.buffer.clear()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._fail("the server did not close the connection")
            try:
                msg = await self._read_line(remaining)
            except TimeoutError:
                raise self._fail("the server did not close the connection") from None
            if msg is None:
                return lines
            lines.append(msg)

    # Registration.

    async def register(
        self,
        nick: str,
        caps: Iterable[str] = (),
        user: str | None = None,
        realname: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[Msg]:
        """Register (negotiating ``caps``, which must all be ACKed); returns the
        lines up to the end of the MOTD."""
        wanted = list(caps)
        if wanted:
            await self.send("CAP LS 302")
        if password is not None:
            await self.send(f"PASS {password}")
        await self.send(f"NICK {nick}")
        await self.send(f"USER {user or nick} 0 * :{realname or 'Test ' + nick}")
        if wanted:
            await self._await_ls(timeout)
            await self.send("CAP REQ :" + " ".join(wanted))
            ack = await self.expect(
                lambda m: (
                    m.command == "CAP" and len(m.params) > 1 and m.params[1] in ("ACK", "NAK")
                ),
                timeout=timeout,
            )
            if ack.params[1] != "ACK":
                raise self._fail(f"capabilities refused: {ack.raw}")
            await self.send("CAP END")
        lines = await self.collect_until(lambda m: m.command in ("376", "422"), timeout=timeout)
        welcome = next((m for m in lines if m.command == "001"), None)
        if welcome is None:
            raise self._fail("no 001 before the end of the MOTD")
        self.nick = welcome.params[0]
        return lines

    async def _await_ls(self, timeout: float) -> Msg:
        """Wait for the last line of CAP LS (302 multiline aware)."""
        while True:
            msg = await self.expect(
                lambda m: m.command == "CAP" and len(m.params) > 2 and m.params[1] == "LS",
                timeout=timeout,
            )
            if msg.params[2] != "*":
                return msg

    async def join(self, *channels: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Join channels and wait for each one's end of NAMES."""
        for channel in channels:
            await self.send(f"JOIN {channel}")
            await self.expect("366", self.nick, channel, timeout=timeout)

    async def quit(self, reason: str = "bye") -> None:
        """QUIT and wait for the server to close the connection."""
        await self.send(f"QUIT :{reason}")
        await self.wait_closed()


async def connected(port: int, nick: str, caps: Iterable[str] = (), **kwargs: Any) -> IrcClient:
    """A registered TCP client."""
    client = await IrcClient.tcp(port)
    await client.register(nick, caps=caps, **kwargs)
    return client


class Clients:
    """Makes clients for one node and closes them all at the end of a test."""

    def __init__(self, irc_port: int, ws_url: str | None = None) -> None:
        self.irc_port = irc_port
        self.ws_url = ws_url
        self.made: list[IrcClient] = []

    async def tcp(
        self, nick: str | None = None, caps: Iterable[str] = (), **kwargs: Any
    ) -> IrcClient:
        """A TCP client, registered as ``nick`` unless ``nick`` is None."""
        client = await IrcClient.tcp(self.irc_port)
        self.made.append(client)
        if nick is not None:
            await client.register(nick, caps=caps, **kwargs)
        return client

    async def websocket(
        self,
        nick: str | None = None,
        caps: Iterable[str] = (),
        subprotocol: str | None = "text.ircv3.net",
        **kwargs: Any,
    ) -> IrcClient:
        """A WebSocket client, registered as ``nick`` unless ``nick`` is None."""
        assert self.ws_url is not None
        client = await IrcClient.websocket(self.ws_url, subprotocol)
        self.made.append(client)
        if nick is not None:
            await client.register(nick, caps=caps, **kwargs)
        return client

    async def aclose(self) -> None:
        """Close every client made here."""
        for client in self.made:
            await client.close()
        self.made.clear()
