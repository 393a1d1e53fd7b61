"""Tests of the web chat page (headless Chromium) and of irssi against a real node.

``IrcLineClient`` is the plain-TCP IRC peer both test modules chat with: a
blocking socket with timeouts, so it fits in synchronous tests that drive a
browser or a terminal and never needs an event loop. Its lines are parsed
as the chaos harness parses them (``tests.chaos.harness.parse``).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.chaos.harness import Line
from tests.chaos.harness import parse as parse_line


@dataclass
class IrcLineClient:
    """A minimal IRC client over TCP that records every line it receives."""

    port: int
    nick: str
    caps: tuple[str, ...] = ("message-tags", "server-time", "echo-message")
    host: str = "127.0.0.1"
    lines: list[Line] = field(default_factory=list)
    _sock: socket.socket | None = None
    _buf: bytes = b""
    _seen: int = 0

    def connect(self, timeout: float = 10.0) -> IrcLineClient:
        """Connect, request ``caps``, register and wait for 001."""
        self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.caps:
            self.send("CAP LS 302")
            self.send("CAP REQ :" + " ".join(self.caps))
        self.send(f"NICK {self.nick}")
        self.send(f"USER {self.nick} 0 * :test client")
        if self.caps:
            self.wait_for(lambda ln: ln.command == "CAP" and ln.params[1:2] in (["ACK"], ["NAK"]))
            self.send("CAP END")
        self.wait_for(lambda ln: ln.command == "001", timeout)
        return self

    def send(self, line: str) -> None:
        assert self._sock is not None
        self._sock.sendall(line.encode() + b"\r\n")

    def join(self, channel: str) -> None:
        """Join and wait for the end of NAMES."""
        self.send(f"JOIN {channel}")
        self.wait_for(lambda ln: ln.command == "366" and ln.params[1].lower() == channel.lower())

    def privmsg(self, target: str, text: str) -> Line:
        """Send a message and return the server's echo of it (echo-message)."""
        self.send(f"PRIVMSG {target} :{text}")
        return self.wait_for(
            lambda ln: ln.command == "PRIVMSG" and ln.nick == self.nick and ln.params[-1] == text
        )

    def wait_for(self, pred: Callable[[Line], bool], timeout: float = 10.0) -> Line:
        """Return the first line not yet returned that matches ``pred``, reading as needed.

        Lines before the match stay available to later calls only if they come
        after it: the search cursor moves past the match.
        """
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._seen, len(self.lines)):
                if pred(self.lines[index]):
                    self._seen = index + 1
                    return self.lines[index]
            left = deadline - time.monotonic()
            if left <= 0:
                recent = "\n".join(ln.raw for ln in self.lines[-20:])
                raise TimeoutError(f"{self.nick}: no matching line in {timeout}s; last:\n{recent}")
            self._read(left)

    def has(self, pred: Callable[[Line], bool]) -> bool:
        """Whether any line received so far matches (without reading or moving the cursor)."""
        return any(pred(ln) for ln in self.lines)

    def _read(self, timeout: float) -> None:
        assert self._sock is not None
        self._sock.settimeout(min(timeout, 0.5))
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            raise ConnectionError(f"{self.nick}: server closed the connection")
        self._buf += data
        while b"\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n", 1)
            line = parse_line(raw.rstrip(b"\r").decode("utf-8", "replace"))
            if line.command == "PING":
                self.send("PONG :" + (line.params[-1] if line.params else ""))
            self.lines.append(line)

    def close(self) -> None:
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self.send("QUIT :bye")
        self._sock.close()
        self._sock = None
