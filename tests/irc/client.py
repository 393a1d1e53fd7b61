"""The asyncio IRC test client, over TCP (plain or TLS) and over WebSocket.

Every wait is bounded: ``expect`` and friends fail with the lines seen so far
instead of hanging. What it received lives in an ``Inbox`` and its
conversations (register, join, sync...) are the scripts of
``tests.irc.conversation``, shared with the blocking client.

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
import collections
import contextlib
import re
import socket
import ssl as ssl_module
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.irc import conversation
from tests.irc.conversation import Closed, Expect, Fail, Inbox, InboxView, Script, Send, Step
from tests.irc.lines import Matcher, Msg, from_tcp, from_websocket, matcher
from tests.waiting import Deadline, eventually

__all__ = ["Clients", "IrcClient", "connected"]

DEFAULT_TIMEOUT = 5.0
HOST = "127.0.0.1"
T = TypeVar("T")


class IrcClient(InboxView):
    """One connection to the server. Create with ``tcp``, ``websocket`` or ``on_socket``."""

    def __init__(self, label: str, keep: int | None = None) -> None:
        self.inbox = Inbox(label, keep)
        """What arrived and what has been read (``tests.irc.conversation``)."""
        self.answer_pings = True
        """PINGs are answered as they are read; False plays a client that went silent."""
        self.ignore: frozenset[bytes] = frozenset()
        """Commands whose lines (over TCP) are read past unparsed and never kept: a
        client in a big channel that needs none of its JOINs and QUITs (a netsplit
        brings thousands) spends its time on the lines it does need."""
        self._ignoring: tuple[frozenset[bytes], re.Pattern[bytes]] | None = None
        self._lines: collections.deque[bytes] = collections.deque()  # read, kept, not yet taken
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ws: ClientConnection | None = None
        self._ws_binary = False
        self._sync_counter = 0

    # Construction.

    @classmethod
    async def tcp(
        cls,
        port: int,
        host: str = HOST,
        ssl: ssl_module.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        source: str | None = None,
    ) -> IrcClient:
        """Connect over TCP (TLS when ``ssl`` is given), from address ``source`` if given."""
        client = cls(f"tcp:{port}")
        local = (source, 0) if source is not None else None
        client._reader, client._writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ssl, limit=1 << 20, local_addr=local),
            timeout,
        )
        return client

    @classmethod
    async def on_socket(
        cls, sock: socket.socket, label: str = "", keep: int | None = None
    ) -> IrcClient:
        """Talk over a connected TCP socket made elsewhere (inside a network namespace).

        ``keep``: remember only about that many lines already read (a long-lived
        client that would otherwise keep every line it ever received).
        """
        client = cls(label or "tcp:{}:{}".format(*sock.getpeername()[:2]), keep)
        sock.setblocking(False)
        client._reader, client._writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        return client

    @classmethod
    async def websocket(
        cls,
        url: str,
        subprotocol: str | None = "text.ircv3.net",
        timeout: float = DEFAULT_TIMEOUT,
        source: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> IrcClient:
        """Connect over WebSocket, offering ``subprotocol`` (or none).

        ``source``: the local address to connect from; ``headers``: added to
        the handshake request.
        """
        client = cls(f"ws:{url}")
        offered = [Subprotocol(subprotocol)] if subprotocol else None
        local = {"local_addr": (source, 0)} if source is not None else {}
        client._ws = await asyncio.wait_for(
            ws_connect(
                url,
                subprotocols=offered,
                open_timeout=timeout,
                close_timeout=2,
                additional_headers=headers,
                **local,
            ),
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

    def abort(self) -> None:
        """Close the connection at once, without QUIT and without waiting."""
        if self._writer is not None:
            self._writer.close()
        if self._ws is not None:
            self._ws.transport.abort()

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

    def send_nowait(self, line: str) -> bool:
        """TCP: queue a line without waiting for the socket; False once the
        connection is closing (for code that must not block, like a PONG)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        writer.write(line.encode() + b"\r\n")
        return True

    # Receiving.

    async def _read_line(self, timeout: float | None) -> Msg | None:
        """The next line from the network (kept in the inbox), or None at end of stream.

        Raises TimeoutError when nothing arrives within ``timeout``.
        """
        if self.inbox.closed:
            return None
        if self._ws is not None:
            try:
                data: Any = await asyncio.wait_for(self._ws.recv(), timeout)
            except ConnectionClosed:
                self.inbox.closed = True
                return None
            msg = from_websocket(data)
        else:
            raw = await self._read_tcp(timeout)
            if raw is None:
                self.inbox.closed = True
                return None
            msg = from_tcp(raw)
        self.inbox.add(msg)
        if msg.command == "PING" and self.answer_pings:
            # A PONG that cannot go out: the connection is going, the next read says so.
            with contextlib.suppress(OSError, ConnectionClosed):
                await self.send(f"PONG :{msg.last}")
        return msg

    async def _read_tcp(self, timeout: float | None) -> bytes | None:
        """The next line over TCP not in ``ignore`` (None: closed, perhaps mid-line, as a
        server that drops a client for SendQ resets it with a line half sent)."""
        reader = self._reader
        assert reader is not None
        deadline = Deadline(timeout) if timeout is not None else None
        while not self._lines:
            try:
                # Lines already read from the socket are taken all at once, with no
                # timer and no await per line, and the ignored ones dropped by one
                # regular expression: a netsplit in a channel of thousands brings
                # thousands of QUITs to every member, and a harness playing hundreds
                # of members spent seconds of its one CPU on them line by line. The
                # reader keeps what it read in ``_buffer`` (CPython's asyncio).
                buffered: bytearray = getattr(reader, "_buffer", bytearray())
                whole = buffered.rfind(b"\n") + 1
                if whole:
                    self._keep(await reader.readexactly(whole))
                    continue
                left = deadline.left() if deadline is not None else None
                raw = await asyncio.wait_for(reader.readline(), left)
            except (ConnectionResetError, ssl_module.SSLError):
                return None
            if not raw or (not raw.endswith(b"\n") and reader.at_eof()):
                return None
            self._keep(raw)
        return self._lines.popleft()

    def _keep(self, data: bytes) -> None:
        """Queue the whole lines of ``data`` (each ends in LF) but the ignored ones."""
        if not self.ignore:
            self._lines.extend(_LINE.findall(data))
            return
        if self._ignoring is None or self._ignoring[0] != self.ignore:
            self._ignoring = (self.ignore, _kept_lines(self.ignore))
        self._lines.extend(line for line in self._ignoring[1].findall(data) if line)

    async def _more(self, deadline: Deadline, what: str) -> None:
        """Read one more line before ``deadline``; fail, naming ``what``, if none comes."""
        if not self.inbox.closed and not deadline.passed:
            with contextlib.suppress(TimeoutError):
                if await self._read_line(deadline.left()) is not None:
                    return
        if self.inbox.closed:
            raise self.inbox.failure(f"connection closed while waiting for {what}")
        raise self.inbox.failure(f"timed out waiting for {what}")

    async def recv(self, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """The next unread line (TimeoutError if none comes within ``timeout``)."""
        msg = self.inbox.next()
        if msg is None and await self._read_line(timeout) is not None:
            msg = self.inbox.next()
        if msg is None:
            raise ConnectionError(f"{self.label} {self.nick}: connection closed")
        return msg

    async def expect(self, match: Matcher, *params: str, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """Wait for a matching line; lines before it are read past (and kept in ``seen``)."""
        lines = await self.collect_until(match, *params, timeout=timeout)
        return lines[-1]

    async def collect_until(
        self, match: Matcher, *params: str, timeout: float = DEFAULT_TIMEOUT
    ) -> list[Msg]:
        """Every unread line up to and including the first that matches."""
        return await self._until(matcher(match, *params), f"{match!r} {params}", timeout)

    async def batch(self, kind: str, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Every unread line up to the end of the next batch of ``kind``.

        Other batches may open and close meanwhile (a netsplit's, say): only
        the end of one that opened as ``kind`` ends the wait.
        """
        opened: set[str] = set()

        def ends(line: Msg) -> bool:
            if line.command != "BATCH" or not line.params:
                return False
            ref = line.params[0]
            if ref.startswith("+") and line.params[1:2] == [kind]:
                opened.add(ref[1:])
            return ref.startswith("-") and ref[1:] in opened

        return await self._until(ends, f"the end of a {kind} batch", timeout)

    async def _until(self, check: Callable[[Msg], bool], what: str, timeout: float) -> list[Msg]:
        deadline = Deadline(timeout)
        start = self.inbox.cursor
        while (found := self.inbox.find(check, start)) is None:
            start = len(self.inbox.seen)
            await self._more(deadline, what)
        return self.inbox.take(found)

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Read until the server closes the connection; returns the unread lines."""
        deadline = Deadline(timeout)
        while not self.inbox.closed:
            if deadline.passed:
                raise self.inbox.failure("the server did not close the connection")
            with contextlib.suppress(TimeoutError):
                await self._read_line(deadline.left())
        return self.inbox.rest()

    # Conversations (tests.irc.conversation), run on this connection.

    async def run(self, script: Script[T]) -> T:
        """Carry out a conversation's steps; its result."""
        try:
            step = next(script)
            while True:
                step = script.send(await self._step(step))
        except StopIteration as done:
            result: T = done.value
            return result

    async def _step(self, step: Step) -> list[Msg]:
        match step:
            case Send(line):
                await self.send(line)
                return []
            case Expect(check, what, timeout):
                return await self._until(check, what, timeout)
            case Closed(timeout):
                return await self.wait_closed(timeout)
            case Fail(what):
                raise self.inbox.failure(what)

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
        lines = await self.run(conversation.register(nick, caps, user, realname, password, timeout))
        self.inbox.nick = conversation.welcomed(lines)
        return lines

    async def join(self, *channels: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Join channels and wait for each one's end of NAMES."""
        await self.run(conversation.join(*channels, timeout=timeout))

    async def privmsg(self, target: str, text: str, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """Send a message and return the server's echo of it (needs echo-message)."""
        return await self.run(conversation.privmsg(self.nick, target, text, timeout))

    async def sync(self, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Round trip a PING; returns every line that arrived before its PONG.

        The server answers in order, so anything a command caused has arrived
        by then: use it to assert that something did *not* happen.
        """
        self._sync_counter += 1
        return await self.run(conversation.sync(f"sync{self._sync_counter}", timeout))

    async def wait_linked(self, servers: int, timeout: float = 20.0) -> None:
        """Ask LUSERS until this client's server sees ``servers`` servers."""

        async def linked() -> bool:
            return await self.run(conversation.lusers()) == servers

        await eventually(linked, timeout, f"{self.nick} sees {servers} servers", poll=0.1)

    async def quit(self, reason: str = "bye") -> None:
        """QUIT and wait for the server to close the connection."""
        await self.run(conversation.quit_(reason, DEFAULT_TIMEOUT))


async def connected(port: int, nick: str, caps: Iterable[str] = (), **kwargs: Any) -> IrcClient:
    """A registered TCP client."""
    client = await IrcClient.tcp(port)
    await client.register(nick, caps=caps, **kwargs)
    return client


async def in_one_room(
    first: IrcClient,
    second: IrcClient,
    nicks: tuple[str, str],
    caps: Iterable[str],
    channel: str = "#room",
) -> None:
    """Two users of two linked servers: registered, linked, both in ``channel``.

    Returns once ``first`` sees ``second`` join, so each gets the other's lines.
    """
    await first.register(nicks[0], caps=caps)
    await second.register(nicks[1], caps=caps)
    await first.wait_linked(2)
    await first.join(channel)
    await second.join(channel)
    await first.expect(lambda m: m.command == "JOIN" and m.nick == nicks[1])


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


#: One line, its LF included.
_LINE = re.compile(rb"[^\n]*\n")


def _kept_lines(ignore: frozenset[bytes]) -> re.Pattern[bytes]:
    """Every line, its command (past tags and source) in ``ignore`` or not: only
    those that are not are captured. Ignored lines are matched whole, so the
    scan never retries inside one (half the cost of a pattern for kept lines only)."""
    commands = b"|".join(re.escape(c) for c in sorted(ignore))
    return re.compile(
        rb"(?>(?:@[^ \n]* +)?(?::[^ \n]* +)?)(?i:" + commands + rb")(?:[ \r][^\n]*)?\n|([^\n]*\n)"
    )
