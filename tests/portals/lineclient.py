"""A blocking IRC client over one socket, for tests of whole networks."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator


class LineClient:
    """Registers on construction; answers PINGs while reading; every wait is bounded."""

    def __init__(self, sock: socket.socket, nick: str) -> None:
        self.nick = nick
        self.sock = sock
        self.buffer = b""
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        self.expect(" 376 ")

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def lines(self, timeout: float) -> Iterator[str]:
        """Lines as they arrive, until ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\r\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\r\n", 1)
                text = line.decode(errors="replace")
                if text.startswith("PING "):
                    self.send("PONG " + text[5:])
                yield text
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return
            if not data:
                raise ConnectionError(f"{self.nick}: connection closed")
            self.buffer += data

    def expect(self, needle: str, timeout: float = 15.0) -> str:
        """The first line containing ``needle``; fails with the last lines seen."""
        seen = []
        for line in self.lines(timeout):
            seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"{self.nick}: no {needle!r} in {timeout}s; got {seen[-15:]}")

    def drain(self, timeout: float = 0.5) -> list[str]:
        """Everything that arrives within ``timeout`` seconds."""
        return list(self.lines(timeout))

    def close(self) -> None:
        self.sock.close()
