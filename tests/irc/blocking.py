"""The IRC test client on a blocking connection, for synchronous tests.

The asyncio client's blocking face: the same parser and framing checks
(``tests.irc.lines``), the same inbox and conversations
(``tests.irc.conversation``), for tests that cannot run an event loop beside
what they drive: a browser (Playwright's sync API), a terminal client in
tmux, a socket made inside a network namespace, or a connection-limit probe
with a tiny receive buffer (an asyncio transport would read it empty).

Every line received is kept in ``seen``; ``expect`` finds the first
matching line after the last one it returned, reading as needed, and fails
with the last lines seen when ``timeout`` passes. PINGs are answered while
reading (unless ``answer_pings`` is off, to play a client that went silent).
"""

from __future__ import annotations

import contextlib
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Self, TypeVar

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.irc import conversation
from tests.irc.conversation import Closed, Expect, Fail, Inbox, InboxView, Script, Send, Step
from tests.irc.lines import Matcher, Msg, from_tcp, from_websocket, matcher
from tests.waiting import Deadline, wait_until

__all__ = ["LineClient"]

DEFAULT_TIMEOUT = 10.0
HOST = "127.0.0.1"
T = TypeVar("T")


class LineClient(InboxView):
    """One blocking connection to a server: a TCP socket, or a WebSocket."""

    def __init__(
        self,
        conn: socket.socket | ClientConnection,
        label: str = "",
        answer_pings: bool = True,
    ) -> None:
        self.conn = conn
        self.inbox = Inbox(label)
        """What arrived and what has been read (``tests.irc.conversation``)."""
        self.answer_pings = answer_pings  # False: play a client that never answers
        self._buffer = b""  # a line not complete yet
        self._lines: deque[bytes] = deque()  # complete lines read, not parsed yet
        self._sync_counter = 0
        self._close: Callable[[], None] = conn.close

    @classmethod
    def tcp(
        cls,
        port: int,
        host: str = HOST,
        *,
        rcvbuf: int | None = None,
        answer_pings: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        source: str | None = None,
    ) -> LineClient:
        """Connect over TCP (``rcvbuf``: a small receive buffer, to play a slow reader;
        ``source``: the local address to connect from, e.g. 127.0.0.2)."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if source is not None:
            sock.bind((source, 0))
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect((host, port))
        return cls(sock, f"tcp:{port}", answer_pings)

    @classmethod
    def websocket(
        cls, url: str, subprotocol: str = "text.ircv3.net", timeout: float = DEFAULT_TIMEOUT
    ) -> LineClient:
        """Connect over WebSocket (text frames), offering ``subprotocol``."""
        # Entered as a context manager, as websockets wants its sync connections.
        stack = contextlib.ExitStack()
        ws = stack.enter_context(
            ws_connect(url, subprotocols=[Subprotocol(subprotocol)], open_timeout=timeout)
        )
        client = cls(ws, f"ws:{url}")
        client._close = stack.close
        return client

    @property
    def sock(self) -> socket.socket:
        """The TCP socket (TCP clients only)."""
        assert isinstance(self.conn, socket.socket), "not a TCP client"
        return self.conn

    @property
    def close_code(self) -> int | None:
        """WebSocket: the code of the close frame received, once closed."""
        assert isinstance(self.conn, ClientConnection), "not a WebSocket client"
        return self.conn.close_code

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._close()

    # Sending.

    def send(self, *lines: str) -> None:
        """Send lines (TCP: CR LF added to each; WebSocket: one message each)."""
        if isinstance(self.conn, socket.socket):
            self.conn.sendall(b"".join(line.encode() + b"\r\n" for line in lines))
        else:
            for line in lines:
                self.conn.send(line)

    # Receiving.

    def read(self, timeout: float) -> Msg | None:
        """The next line from the network within ``timeout``, or None (time up or closed)."""
        if isinstance(self.conn, socket.socket):
            msg = self._read_tcp(self.conn, Deadline(timeout))
        else:
            msg = self._read_websocket(self.conn, timeout)
        if msg is None:
            return None
        self.inbox.add(msg)
        if msg.command == "PING" and self.answer_pings:
            # A PONG that cannot go out: the connection is going, the next read says so.
            with contextlib.suppress(OSError, ConnectionClosed):
                self.send(f"PONG :{msg.last}")
        return msg

    def _read_tcp(self, sock: socket.socket, deadline: Deadline) -> Msg | None:
        # Each read is split into lines once: taking one line at a time off a
        # 64 KiB buffer copied the rest each time, and a reader meant to keep up
        # with a flood fell behind (the server rightly dropped it: SendQ exceeded).
        while not self._lines:
            if self.inbox.closed or deadline.passed:
                return None
            sock.settimeout(deadline.left())
            try:
                data = sock.recv(65536)
            except TimeoutError:
                return None
            except ConnectionResetError:
                data = b""
            if not data:
                self.inbox.closed = True
                return None
            *complete, self._buffer = (self._buffer + data).split(b"\n")
            self._lines.extend(complete)
        return from_tcp(self._lines.popleft() + b"\n")

    def _read_websocket(self, ws: ClientConnection, timeout: float) -> Msg | None:
        if self.inbox.closed:
            return None
        try:
            return from_websocket(ws.recv(timeout=timeout))
        except TimeoutError:
            return None
        except ConnectionClosed:
            self.inbox.closed = True
            return None

    def _until(self, check: Callable[[Msg], bool], what: str, timeout: float) -> list[Msg]:
        deadline = Deadline(timeout)
        start = self.inbox.cursor
        while (found := self.inbox.find(check, start)) is None:
            start = len(self.inbox.seen)
            if self.inbox.closed:
                raise self.inbox.failure(f"connection closed while waiting for {what}", 25)
            if deadline.passed:
                raise self.inbox.failure(f"timed out waiting for {what}", 25)
            self.read(deadline.left())
        return self.inbox.take(found)

    def expect(self, match: Matcher, *params: str, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """The first line after the last returned that matches (a command or a predicate)."""
        return self._until(matcher(match, *params), f"{match!r} {params}", timeout)[-1]

    def incoming(self, timeout: float) -> Iterator[Msg]:
        """The lines not looked at yet, then each as it arrives, until ``timeout`` passes."""
        deadline = Deadline(timeout)
        while True:
            while (msg := self.inbox.next()) is not None:
                yield msg
            if deadline.passed or self.inbox.closed or self.read(deadline.left()) is None:
                return

    def saw(self, check: Callable[[Msg], bool], timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """The first line ever received that matches, reading as needed (the cursor stays).

        For what may have arrived before the line an ``expect`` already
        returned (two servers' lines race each other).
        """
        deadline = Deadline(timeout)
        while (found := self.inbox.first(check)) is None:
            if self.inbox.closed or deadline.passed:
                raise self.inbox.failure("no such line", 25)
            self.read(deadline.left())
        return found

    def has(self, check: Callable[[Msg], bool]) -> bool:
        """Did any line received so far match?"""
        return self.inbox.first(check) is not None

    def drain(self, timeout: float = 0.5) -> list[Msg]:
        """The lines not yet looked at, and what else arrives within ``timeout``."""
        deadline = Deadline(timeout)
        while not deadline.passed and self.read(deadline.left()) is not None:
            pass
        return self.inbox.rest()

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Read until the server closes the connection; every line not yet looked at."""
        deadline = Deadline(timeout)
        while not self.inbox.closed:
            if deadline.passed:
                raise self.inbox.failure(f"still open after {timeout:g}s", 25)
            self.read(deadline.left())
        return self.inbox.rest()

    # Conversations (tests.irc.conversation), run on this connection.

    def run(self, script: Script[T]) -> T:
        """Carry out a conversation's steps; its result."""
        try:
            step = next(script)
            while True:
                step = script.send(self._step(step))
        except StopIteration as done:
            result: T = done.value
            return result

    def _step(self, step: Step) -> list[Msg]:
        match step:
            case Send(line):
                self.send(line)
                return []
            case Expect(check, what, timeout):
                return self._until(check, what, timeout)
            case Closed(timeout):
                return self.wait_closed(timeout)
            case Fail(what):
                raise self.inbox.failure(what, 25)

    def register(
        self,
        nick: str,
        caps: Iterable[str] = (),
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Self:
        """Register (negotiating ``caps``, which must all be ACKed) and wait for
        the end of the MOTD."""
        lines = self.run(conversation.register(nick, caps, password=password, timeout=timeout))
        self.inbox.nick = conversation.welcomed(lines)
        return self

    def join(self, channel: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Join and wait for the end of NAMES."""
        self.run(conversation.join(channel, timeout=timeout))

    def privmsg(self, target: str, text: str, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """Send a message and return the server's echo of it (needs echo-message)."""
        return self.run(conversation.privmsg(self.nick, target, text, timeout))

    def sync(self, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Round trip a PING; the lines that arrived before its PONG."""
        self._sync_counter += 1
        return self.run(conversation.sync(f"sync{self._sync_counter}", timeout))

    def ping(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Does the server still answer (a PING round trip within ``timeout``)?"""
        self.sync(timeout)
        return True

    def wait_linked(self, servers: int, timeout: float = 20.0) -> None:
        """Ask LUSERS until this client's server sees ``servers`` servers."""
        wait_until(
            lambda: self.run(conversation.lusers()) == servers,
            timeout,
            f"{self.nick} sees {servers} servers",
            poll=0.2,
        )
