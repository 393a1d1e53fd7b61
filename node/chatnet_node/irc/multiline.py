"""Multiline messages (IRCv3 ``draft/multiline``): one message of several lines.

A client opens ``BATCH +ref draft/multiline <target>``, sends PRIVMSG (or
NOTICE) lines tagged ``batch=ref`` (``draft/multiline-concat`` joins a line
to the one before without a line break) and closes with ``BATCH -ref``.
``OpenBatch`` collects and checks the lines; the whole is then one message:
one msgid, stored once, relayed once.

Inside the server a multiline message is an ordinary message whose text
holds its lines joined by ``\\n``, a concatenated line starting with
``\\r`` (neither can occur in an IRC line, so no single-line text is
mistaken for one, and every history store keeps both). ``render`` turns it
back into lines for each client: a ``draft/multiline`` batch for clients
with the capability, the non-blank lines for the others (the first one
carrying the msgid). Plain objects, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .message import Message
from .names import casefold

if TYPE_CHECKING:
    from .model import Client

CAP = "draft/multiline"
BATCH_TYPE = "draft/multiline"
CONCAT = "draft/multiline-concat"
#: The limits a batch must keep (advertised as the capability's value).
MAX_BYTES = 4096
MAX_LINES = 32
CAP_VALUE = f"max-bytes={MAX_BYTES},max-lines={MAX_LINES}"
_CONCAT_MARK = "\r"

Line = tuple[str, bool]
"""One line of a multiline message: its text, and whether it continues the previous one."""


class BatchError(Exception):
    """A multiline batch broke a rule: ``FAIL BATCH <code> <context...>``."""

    def __init__(self, code: str, *context: str) -> None:
        super().__init__(code)
        self.code = code
        self.context = context

    @property
    def description(self) -> str:
        return {
            "MULTILINE_MAX_BYTES": "Multiline batch max-bytes exceeded",
            "MULTILINE_MAX_LINES": "Multiline batch max-lines exceeded",
            "MULTILINE_INVALID_TARGET": "Invalid multiline target",
        }.get(self.code, "Invalid multiline batch")


@dataclass
class OpenBatch:
    """A client's multiline batch between ``BATCH +ref`` and ``BATCH -ref``."""

    ref: str
    target: str
    tags: dict[str, str]  # the client-only tags of the opening BATCH: the message's
    label: str | None  # the opening BATCH's label: it goes on the echo's opening BATCH
    command: str = ""
    lines: list[Line] = field(default_factory=list)
    size: int = 0

    def add(self, msg: Message) -> None:
        """Take one line; raises ``BatchError`` when it breaks a rule."""
        if msg.tags.get("batch") != self.ref or msg.command not in ("PRIVMSG", "NOTICE"):
            raise BatchError("MULTILINE_INVALID")
        if self.command and msg.command != self.command:
            raise BatchError("MULTILINE_INVALID")
        target = msg.params[0] if msg.params else ""
        if casefold(target) != casefold(self.target):
            raise BatchError("MULTILINE_INVALID_TARGET", self.target, target)
        text = msg.params[1] if len(msg.params) > 1 else ""
        concat = CONCAT in msg.tags
        if concat and not text:
            raise BatchError("MULTILINE_INVALID")
        if len(self.lines) >= MAX_LINES:
            raise BatchError("MULTILINE_MAX_LINES", str(MAX_LINES))
        # Each line break that joins two lines counts as a byte.
        self.size += len(text.encode()) + (1 if self.lines and not concat else 0)
        if self.size > MAX_BYTES:
            raise BatchError("MULTILINE_MAX_BYTES", str(MAX_BYTES))
        self.command = msg.command
        self.lines.append((text, concat and bool(self.lines)))

    def text(self) -> str:
        """The whole message as the server carries it; raises when there is nothing to send."""
        if not self.lines or not any(text for text, _ in self.lines):
            raise BatchError("MULTILINE_INVALID")
        return join_lines(self.lines)


def join_lines(lines: list[Line]) -> str:
    """Lines to the text the server carries (see the module docstring)."""
    return "\n".join(_CONCAT_MARK + text if concat else text for text, concat in lines)


def split_lines(text: str) -> list[Line]:
    """The text the server carries back to its lines."""
    return [
        (part[1:], True) if part.startswith(_CONCAT_MARK) else (part, False)
        for part in text.split("\n")
    ]


def is_multiline(text: str) -> bool:
    """Does a message's text hold several lines?"""
    return "\n" in text


def capable(client_caps: set[str]) -> bool:
    """May a client be sent a multiline batch (it negotiated the capability and batch)?"""
    return CAP in client_caps and "batch" in client_caps


def render(out: Message, batch_id: str | None, label: str | None = None) -> list[Message]:
    """The lines a client sees of a multiline message ``out``.

    With ``batch_id``: a ``draft/multiline`` batch whose opening line carries
    the message's tags (and ``label``). Without: the non-blank lines, each
    with the message's tags but only the first with its msgid.
    """
    command, target, text = out.command, out.params[0], out.params[1]
    lines = split_lines(text)
    if batch_id is not None:
        opening_tags = {**out.tags, "label": label} if label else dict(out.tags)
        rendered = [
            Message("BATCH", [f"+{batch_id}", BATCH_TYPE, target], out.source, opening_tags)
        ]
        for line, concat in lines:
            tags = {"batch": batch_id, CONCAT: ""} if concat else {"batch": batch_id}
            rendered.append(Message(command, [target, line], out.source, tags))
        rendered.append(Message("BATCH", [f"-{batch_id}"]))
        return rendered
    rest = {k: v for k, v in out.tags.items() if k != "msgid"}
    shown = [line for line, _ in lines if line]
    return [
        Message(command, [target, line], out.source, out.tags if index == 0 else dict(rest))
        for index, line in enumerate(shown)
    ]


def in_a_batch(line: str) -> bool:
    """Does a raw line carry a ``batch`` tag (before it is parsed)?"""
    if not line.startswith("@"):
        return False
    tags = line.split(" ", 1)[0]
    return tags.startswith("@batch=") or ";batch=" in tags


def paid_at_the_close(client: Client, line: str) -> bool:
    """Is ``line`` one of an open multiline batch's, paid for when it closes
    (``FloodControl.charge``)? Not while slow work holds the line: the batch
    may be closed by the time it runs, and the line would run as a command
    nobody paid for."""
    return client.multiline is not None and client.slow is None and in_a_batch(line)
