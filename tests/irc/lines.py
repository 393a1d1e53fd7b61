"""IRC lines as the tests read them: one strict parser, the framing checks, and the matchers.

The parser is the tests' own (independent of ``chatnet_node.irc.message``),
so the server's serialiser is checked, not trusted: ``from_tcp`` and
``from_websocket`` also check the framing (CR LF, UTF-8, one line per
WebSocket message) for every client that reads from a server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def unescape(value: str) -> str:
    """Undo IRCv3 tag value escaping (a lone trailing backslash is dropped)."""
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append(_UNESCAPES.get(nxt, nxt))
        else:
            out.append(char)
    return "".join(out)


@dataclass
class Msg:
    """One parsed line from the server."""

    raw: str
    command: str
    params: list[str] = field(default_factory=list)
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def nick(self) -> str:
        """The nick part of the source (``nick!user@host``)."""
        return (self.source or "").split("!", 1)[0]

    @property
    def last(self) -> str:
        """The last parameter, or '' when there is none."""
        return self.params[-1] if self.params else ""

    def __str__(self) -> str:
        return self.raw


def parse(raw: str) -> Msg:
    """Parse one line (no CR LF) the simple, strict way servers send them."""
    rest = raw
    tags: dict[str, str] = {}
    source: str | None = None
    if rest.startswith("@"):
        head, _, rest = rest.partition(" ")
        for item in head[1:].split(";"):
            key, sep, value = item.partition("=")
            if key:
                tags[key] = unescape(value) if sep else ""
    rest = rest.lstrip(" ")
    if rest.startswith(":"):
        head, _, rest = rest.partition(" ")
        source = head[1:]
    rest = rest.lstrip(" ")
    trailing: str | None = None
    if " :" in rest:
        rest, _, trailing = rest.partition(" :")
    words = rest.split()
    if not words:
        raise ValueError(f"no command in {raw!r}")
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    return Msg(raw, words[0].upper(), params, source, tags)


def from_tcp(raw: bytes) -> Msg:
    """One line as read off a TCP stream, CR LF included: it must end in CR LF and be UTF-8."""
    assert raw.endswith(b"\r\n"), f"line without CR LF: {raw!r}"
    return parse(raw[:-2].decode("utf-8"))


def from_websocket(data: str | bytes) -> Msg:
    """One WebSocket message (text, or bytes on ``binary.ircv3.net``): exactly one line."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    assert "\n" not in text.rstrip("\r\n"), f"several lines in one message: {text!r}"
    return parse(text.rstrip("\r\n"))


Matcher = str | Callable[[Msg], bool]


def matcher(match: Matcher, *params: str) -> Callable[[Msg], bool]:
    """A predicate from a command or numeric whose first parameters must equal
    ``params`` (for numerics the first is the client's nick), or any callable."""
    if callable(match):
        return match
    command = match.upper()

    def check(msg: Msg) -> bool:
        return msg.command == command and msg.params[: len(params)] == list(params)

    return check


def contains(text: str) -> Callable[[Msg], bool]:
    """A predicate: the raw line contains ``text`` (for lines no command pins down)."""
    return lambda msg: text in msg.raw


def from_user(nick: str, command: str, *params: str) -> Callable[[Msg], bool]:
    """A predicate: ``command`` from the user ``nick`` (whatever its host: it may be cloaked)."""

    def check(msg: Msg) -> bool:
        source = msg.source or ""
        return (
            source.split("!", 1)[0] == nick
            and msg.command == command
            and msg.params[: len(params)] == list(params)
        )

    return check
