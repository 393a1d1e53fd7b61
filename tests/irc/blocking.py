"""The IRC test client on a blocking socket, for synchronous tests.

Same parser and matchers as the asyncio client (``tests.irc.lines``), for
tests that cannot run an event loop beside what they drive: a browser
(Playwright's sync API), a terminal client in tmux, a socket made inside a
network namespace, or a connection-limit probe with a tiny receive buffer.

Every line received is kept in ``seen``; ``expect`` finds the first
matching line after the last one it returned, reading as needed, and fails
with the last lines seen when ``timeout`` passes. PINGs are answered while
reading (unless ``answer_pings`` is off, to play a client that went silent).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Self

from tests.irc.lines import Matcher, Msg, matcher, parse

DEFAULT_TIMEOUT = 10.0
HOST = "127.0.0.1"


class LineClient:
    """One blocking connection to a server."""

    def __init__(self, sock: socket.socket, label: str = "", answer_pings: bool = True) -> None:
        self.sock = sock
        self.label = label
        self.answer_pings = answer_pings  # False: play a client that never answers
        self.nick = "*"
        self.seen: list[Msg] = []  # every line received
        self.cursor = 0  # ``expect`` and ``drain`` look from here on
        self.eof = False
        self._buffer = b""

    @classmethod
    def tcp(
        cls,
        port: int,
        host: str = HOST,
        *,
        rcvbuf: int | None = None,
        answer_pings: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> LineClient:
        """Connect over TCP (``rcvbuf``: a small receive buffer, to play a slow reader)."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect((host, port))
        return cls(sock, f"tcp:{port}", answer_pings)

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
        self.sock.close()

    # Sending.

    def send(self, *lines: str) -> None:
        """Send lines, CR LF added to each."""
        self.sock.sendall(b"".join(line.encode() + b"\r\n" for line in lines))

    # Receiving.

    def read(self, timeout: float) -> Msg | None:
        """The next line from the network within ``timeout``, or None (time up or closed)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                return None
            self._buffer += data
        raw, self._buffer = self._buffer.split(b"\n", 1)
        msg = parse(raw.rstrip(b"\r").decode("utf-8", "replace"))
        self.seen.append(msg)
        if msg.command == "PING" and self.answer_pings:
            self.send(f"PONG :{msg.last}")
        return msg

    def _fail(self, what: str) -> AssertionError:
        tail = "\n".join(f"  {m.raw}" for m in self.seen[-25:])
        return AssertionError(f"{self.label} {self.nick}: {what}; last lines:\n{tail}")

    def expect(self, match: Matcher, *params: str, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """The first line after the last returned that matches (a command or a predicate)."""
        check = matcher(match, *params)
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self.cursor, len(self.seen)):
                if check(self.seen[index]):
                    self.cursor = index + 1
                    return self.seen[index]
            if self.eof:
                raise self._fail(f"connection closed while waiting for {match!r} {params}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"timed out waiting for {match!r} {params}")
            self.read(left)

    def incoming(self, timeout: float) -> Iterator[Msg]:
        """The lines not looked at yet, then each as it arrives, until ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            while self.cursor < len(self.seen):
                self.cursor += 1
                yield self.seen[self.cursor - 1]
            left = deadline - time.monotonic()
            if left <= 0 or self.eof or self.read(left) is None:
                return

    def saw(self, check: Callable[[Msg], bool], timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """The first line ever received that matches, reading as needed (the cursor stays).

        For what may have arrived before the line an ``expect`` already
        returned (two servers' lines race each other).
        """
        deadline = time.monotonic() + timeout
        while True:
            found = next((msg for msg in self.seen if check(msg)), None)
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                raise self._fail("no such line")
            self.read(left)

    def has(self, check: Callable[[Msg], bool]) -> bool:
        """Did any line received so far match?"""
        return any(check(msg) for msg in self.seen)

    def drain(self, timeout: float = 0.5) -> list[Msg]:
        """The lines not yet looked at, and what else arrives within ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and self.read(left) is not None:
            pass
        lines, self.cursor = self.seen[self.cursor :], len(self.seen)
        return lines

    def closed_with(self, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """Read until the server closes the connection; every line not yet looked at."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"still open after {timeout:g}s")
            self.read(left)
        lines, self.cursor = self.seen[self.cursor :], len(self.seen)
        return lines

    # Conversations.

    def register(
        self,
        nick: str,
        caps: Iterable[str] = (),
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Self:
        """Register (negotiating ``caps``) and wait for the end of the MOTD."""
        wanted = list(caps)
        if wanted:
            self.send("CAP LS 302", "CAP REQ :" + " ".join(wanted))
        if password is not None:
            self.send(f"PASS {password}")
        self.send(f"NICK {nick}", f"USER {nick} 0 * :Test {nick}")
        if wanted:
            self.expect(lambda m: m.command == "CAP" and m.params[1:2] in (["ACK"], ["NAK"]))
            self.send("CAP END")
        welcome = self.expect("001", timeout=timeout)
        self.nick = welcome.params[0]
        self.expect(lambda m: m.command in ("376", "422"), timeout=timeout)
        return self

    def join(self, channel: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Join and wait for the end of NAMES."""
        self.send(f"JOIN {channel}")
        self.expect(
            lambda m: m.command == "366" and m.params[1].lower() == channel.lower(),
            timeout=timeout,
        )

    def privmsg(self, target: str, text: str, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """Send a message and return the server's echo of it (needs echo-message)."""
        self.send(f"PRIVMSG {target} :{text}")
        return self.expect(
            lambda m: m.command == "PRIVMSG" and m.nick == self.nick and m.last == text,
            timeout=timeout,
        )

    def ping(self, token: str = "alive", timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Does the server still answer?"""
        self.send(f"PING :{token}")
        return self.expect("PONG", timeout=timeout).last == token
