"""What both IRC test clients share, with no I/O: the inbox and the conversations.

* ``Inbox``: every line a connection received (``seen``) and how far the
  test has read them (``cursor``). A client feeds it what it reads and asks
  it for the lines up to a match; lines before a match are read past, never
  lost (``first`` still finds them). ``InboxView`` is what both clients show
  of it (``nick``, ``seen``...).
* Conversations (``register``, ``join``, ``sync``, ``lusers``, ``privmsg``,
  ``quit``) are scripts: generators that yield steps (``Send`` a line,
  ``Expect`` lines up to a match, wait until ``Closed``, ``Fail``) and get
  back, for each step, the lines it consumed. Each client runs them with its
  own ``run``, so a conversation is written once for the asyncio client
  and the blocking one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import TypeVar

from tests.irc.lines import Msg

__all__ = [
    "Closed",
    "Expect",
    "Fail",
    "Inbox",
    "InboxView",
    "Script",
    "Send",
    "Step",
    "end_of_names",
    "join",
    "lusers",
    "privmsg",
    "quit_",
    "register",
    "sync",
    "welcomed",
]

T = TypeVar("T")


class Inbox:
    """The lines one connection received, and how far they have been read."""

    def __init__(self, label: str, keep: int | None = None) -> None:
        self.label = label
        """Where the connection goes (``tcp:PORT``, a URL), for failure messages."""
        self.nick = "*"
        """The nick the server welcomed us with, once registered."""
        self.seen: list[Msg] = []
        """Every line received, in order."""
        self.cursor = 0
        """Lines before this index have been read (returned or read past)."""
        self.closed = False
        """The server closed the connection (nothing more will arrive)."""
        self.keep = keep
        """If set, read lines beyond about this many are forgotten (a long-lived client)."""

    def add(self, msg: Msg) -> None:
        """Record a line just received."""
        self.seen.append(msg)

    def find(self, check: Callable[[Msg], bool], start: int | None = None) -> int | None:
        """The index of the first unread line from ``start`` on that matches, or None."""
        for index in range(max(self.cursor, start or 0), len(self.seen)):
            if check(self.seen[index]):
                return index
        return None

    def take(self, upto: int) -> list[Msg]:
        """The unread lines up to and including index ``upto``, now read."""
        lines = self.seen[self.cursor : upto + 1]
        self.cursor = upto + 1
        self._forget()
        return lines

    def next(self) -> Msg | None:
        """The next unread line, now read; None when every line has been."""
        if self.cursor >= len(self.seen):
            return None
        self.cursor += 1
        msg = self.seen[self.cursor - 1]
        self._forget()
        return msg

    def _forget(self) -> None:
        if self.keep is not None and self.cursor > 2 * self.keep:
            del self.seen[: self.cursor - self.keep]
            self.cursor = self.keep

    def rest(self) -> list[Msg]:
        """Every unread line, now read."""
        return self.take(len(self.seen) - 1)

    def first(self, check: Callable[[Msg], bool]) -> Msg | None:
        """The first line ever received that matches (read or not)."""
        return next((msg for msg in self.seen if check(msg)), None)

    def failure(self, what: str, tail: int = 30) -> AssertionError:
        """An assertion naming the connection, ``what`` went wrong and the last lines."""
        lines = "\n".join(f"  {m.raw}" for m in self.seen[-tail:])
        return AssertionError(f"{self.label} {self.nick}: {what}; last lines:\n{lines}")


class InboxView:
    """What both clients show of their ``inbox``."""

    inbox: Inbox

    @property
    def label(self) -> str:
        return self.inbox.label

    @property
    def nick(self) -> str:
        """The nick the server welcomed us with ('*' before registering)."""
        return self.inbox.nick

    @property
    def seen(self) -> list[Msg]:
        """Every line received, for assertions and failure messages."""
        return self.inbox.seen

    @property
    def eof(self) -> bool:
        """The server closed the connection."""
        return self.inbox.closed


# Steps a conversation yields; each client carries them out.


@dataclass(frozen=True)
class Send:
    """Send one line (the client adds the framing)."""

    line: str


@dataclass(frozen=True)
class Expect:
    """Read up to the first line that matches; the step's result is every line up to it."""

    check: Callable[[Msg], bool]
    what: str
    timeout: float


@dataclass(frozen=True)
class Closed:
    """Read until the server closes the connection; the result is the lines read."""

    timeout: float


@dataclass(frozen=True)
class Fail:
    """Stop the conversation: the client raises its failure (with the lines seen)."""

    what: str


Step = Send | Expect | Closed | Fail
#: A conversation: yields steps, gets each step's lines back, returns a ``T``.
Script = Generator[Step, list[Msg], T]


# Conversations.


def register(
    nick: str,
    caps: Iterable[str] = (),
    user: str | None = None,
    realname: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
) -> Script[list[Msg]]:
    """Register, negotiating ``caps`` (each must be ACKed); the lines up to the end of
    the MOTD, a 001 among them (its first parameter is the nick we got)."""
    wanted = list(caps)
    if wanted:
        yield Send("CAP LS 302")
    if password is not None:
        yield Send(f"PASS {password}")
    yield Send(f"NICK {nick}")
    yield Send(f"USER {user or nick} 0 * :{realname or 'Test ' + nick}")
    if wanted:
        while True:  # CAP LS 302 may come in several lines; the last has no "*"
            ls = yield Expect(
                lambda m: m.command == "CAP" and len(m.params) > 2 and m.params[1] == "LS",
                "the capability list",
                timeout,
            )
            if ls[-1].params[2] != "*":
                break
        yield Send("CAP REQ :" + " ".join(wanted))
        reply = yield Expect(
            lambda m: m.command == "CAP" and len(m.params) > 1 and m.params[1] in ("ACK", "NAK"),
            "CAP ACK or NAK",
            timeout,
        )
        if reply[-1].params[1] != "ACK":
            yield Fail(f"capabilities refused: {reply[-1].raw}")
        yield Send("CAP END")
    lines = yield Expect(lambda m: m.command in ("376", "422"), "the end of the MOTD", timeout)
    if not any(m.command == "001" for m in lines):
        yield Fail("no 001 before the end of the MOTD")
    return lines


def welcomed(lines: list[Msg]) -> str:
    """The nick a registration's 001 names."""
    return next(m for m in lines if m.command == "001").params[0]


def join(*channels: str, timeout: float = 10.0) -> Script[None]:
    """Join channels, one after another, each up to its end of NAMES."""
    for channel in channels:
        yield Send(f"JOIN {channel}")
        yield Expect(end_of_names(channel), f"the end of NAMES of {channel}", timeout)


def end_of_names(channel: str) -> Callable[[Msg], bool]:
    """366 for ``channel`` (channel names compare case-insensitively)."""
    folded = channel.lower()
    return lambda m: m.command == "366" and len(m.params) > 1 and m.params[1].lower() == folded


def sync(token: str, timeout: float = 10.0) -> Script[list[Msg]]:
    """Round trip a PING; the lines that arrived before its PONG.

    The server answers in order, so anything an earlier command caused has
    arrived by then: a way to assert that something did *not* happen.
    """
    yield Send(f"PING {token}")
    lines = yield Expect(
        lambda m: m.command == "PONG" and m.last == token, f"PONG {token}", timeout
    )
    return lines[:-1]


def lusers(timeout: float = 10.0) -> Script[int]:
    """How many servers the client's server sees linked (LUSERS, 251)."""
    yield Send("LUSERS")
    lines = yield Expect(lambda m: m.command == "251", "LUSERS 251", timeout)
    yield Expect(lambda m: m.command == "266", "LUSERS 266", timeout)
    counted = re.search(r" on (\d+) servers?$", lines[-1].last)
    return int(counted.group(1)) if counted else 0


def privmsg(nick: str, target: str, text: str, timeout: float = 10.0) -> Script[Msg]:
    """Send a message; the server's echo of it (needs echo-message)."""
    yield Send(f"PRIVMSG {target} :{text}")
    lines = yield Expect(
        lambda m: m.command == "PRIVMSG" and m.nick == nick and m.last == text,
        f"the echo of {text!r}",
        timeout,
    )
    return lines[-1]


def quit_(reason: str = "bye", timeout: float = 10.0) -> Script[list[Msg]]:
    """QUIT; the lines up to the server closing the connection."""
    yield Send(f"QUIT :{reason}")
    return (yield Closed(timeout))
